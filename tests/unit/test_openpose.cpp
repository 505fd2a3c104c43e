// OpenPose against controlnet-aux 0.0.10 (tools/openpose_reference.py):
//   OpenposePost  post-processing on synthetic maps that contain people (tests/data/openpose/post.json:
//                 the maps are rebuilt here from the same integers by float32-exact formulas), exact;
//   OpenposeDraw  draw_poses, pixel for pixel (draw_*.png);
//   OpenposeJson  OpenPose JSON out and in, and what it refuses;
//   OpenposeNets  the three networks on random weights saved as the original .pth files (made at test
//                 time, ~500 MB, cached under the build folder), ≤ 1e-4 relative; wrong files named.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/sha256.hpp"
#include "annotator_test_util.hpp"
#include "annotators/openpose.hpp"
#include "gen/error.hpp"
#include "gen/image.hpp"
#include "gen/pose.hpp"
#include "gen/safetensors.hpp"
#include "tensor/from_safetensors.hpp"
#include "test_python.hpp"

namespace {

using nlohmann::json;
namespace an = gen::annotators;
const std::string kData = GEN_TEST_DATA_DIR "/openpose/";

json load_json(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return json::parse(s.str());
}

// The reference script's cone_map: max over blobs of a * (1 - d2 / r2), clipped at 0, in float32.
std::vector<float> cone_map(int h, int w, const std::vector<json>& blobs) {
  std::vector<float> out(static_cast<std::size_t>(h) * w, 0.0f);
  for (const auto& b : blobs) {
    const long cx = b[1], cy = b[2], r = b[3], an = b[4], ad = b[5];
    const float a = static_cast<float>(an) / static_cast<float>(ad);
    for (long y = 0; y < h; ++y)
      for (long x = 0; x < w; ++x) {
        const float d2 = static_cast<float>((x - cx) * (x - cx) + (y - cy) * (y - cy));
        const float v = a * (1.0f - d2 / static_cast<float>(r * r));
        float& o = out[static_cast<std::size_t>(y * w + x)];
        o = std::max(o, std::max(v, 0.0f));
      }
  }
  return out;
}

std::vector<json> blobs_of(const json& all, int channel) {
  std::vector<json> v;
  for (const auto& b : all)
    if (b[0].get<int>() == channel) v.push_back(b);
  return v;
}

using gen::annotators::kLimbSeq;
using gen::annotators::kMapIdx;

void body_maps_of(const json& p, std::vector<double>& heat, std::vector<double>& paf) {
  const int h = p["height"], w = p["width"];
  const std::size_t plane = static_cast<std::size_t>(h) * w;
  heat.assign(19 * plane, 0.0);
  std::vector<float> pf(38 * plane, 0.0f);
  for (int part = 0; part < 18; ++part) {
    const auto m = cone_map(h, w, blobs_of(p["blobs"], part));
    std::copy(m.begin(), m.end(), heat.begin() + static_cast<long>(part * plane));
  }
  const long width = p["limb_width"];
  for (const auto& person : p["people"]) {
    const auto& j = person["joints"];
    for (int k = 0; k < 19; ++k) {
      const auto& A = j[kLimbSeq[k][0] - 1];
      const auto& B = j[kLimbSeq[k][1] - 1];
      if (A.is_null() || B.is_null()) continue;
      const long ax = A[0], ay = A[1], bx = B[0], by = B[1];
      const long dx = bx - ax, dy = by - ay, L2 = dx * dx + dy * dy;
      const double n = std::sqrt(static_cast<double>(dx) * dx + static_cast<double>(dy) * dy);
      const float ux = static_cast<float>(dx / n), uy = static_cast<float>(dy / n);
      for (long y = 0; y < h; ++y)
        for (long x = 0; x < w; ++x) {
          const long px = x - ax, py = y - ay, dot = px * dx + py * dy, cross = px * dy - py * dx;
          if (dot >= 0 && dot <= L2 && cross * cross <= width * width * L2) {
            pf[(kMapIdx[k][0] - 19) * plane + static_cast<std::size_t>(y * w + x)] = ux;
            pf[(kMapIdx[k][1] - 19) * plane + static_cast<std::size_t>(y * w + x)] = uy;
          }
        }
    }
  }
  paf.assign(pf.begin(), pf.end());
}

TEST(OpenposePost, GaussianFilterIsScipys) {
  const json g = load_json(kData + "post.json")["gaussian"];
  const int rows = g["rows"], cols = g["cols"];
  std::vector<double> x;
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) x.push_back(static_cast<double>((i * 37 + j * 11) % 101) / 101.0);
  for (auto [sigma, key] : {std::pair{3.0, "sigma3"}, std::pair{2.5, "sigma2_5"}}) {
    const auto y = an::gaussian_filter(x, rows, cols, sigma);
    const auto want = g[key].get<std::vector<double>>();
    ASSERT_EQ(y.size(), want.size());
    int differ = 0;
    for (std::size_t i = 0; i < y.size(); ++i) differ += y[i] != want[i];
    EXPECT_EQ(differ, 0) << key << ": values not bit-identical to scipy's";
  }
}

TEST(OpenposePost, BodyKeypointsAreTheReferences) {
  const json post = load_json(kData + "post.json");
  std::vector<double> heat, paf;
  body_maps_of(post["body"], heat, paf);
  const auto found = an::body_from_maps(heat, paf, post["body"]["height"], post["body"]["width"]);
  const auto cand = post["candidate"];
  ASSERT_EQ(found.candidates.size(), cand.size());
  for (std::size_t i = 0; i < cand.size(); ++i) {
    EXPECT_EQ(found.candidates[i].x, cand[i][0].get<double>()) << i;
    EXPECT_EQ(found.candidates[i].y, cand[i][1].get<double>()) << i;
    EXPECT_EQ(found.candidates[i].score, cand[i][2].get<double>()) << i;
    EXPECT_EQ(found.candidates[i].id, cand[i][3].get<double>()) << i;
  }
  const auto subset = post["subset"];
  ASSERT_EQ(found.people.size(), subset.size());
  ASSERT_GE(subset.size(), 2u) << "the fixture must contain people";
  for (std::size_t p = 0; p < subset.size(); ++p)
    for (int c = 0; c < 20; ++c) EXPECT_EQ(found.people[p].row[c], subset[p][c].get<double>()) << p << "," << c;

  // Hand and face boxes of the people found, on the maps' image and on a smaller one (clipping).
  const auto bodies = an::body_keypoints(found);
  for (const auto& box : post["boxes"]) {
    const int h = box["height"], w = box["width"];
    for (std::size_t p = 0; p < bodies.size(); ++p) {
      const auto hands = an::hand_boxes(bodies[p], h, w);
      const auto& want = box["hands"][p];
      ASSERT_EQ(hands.size(), want.size());
      for (std::size_t i = 0; i < hands.size(); ++i) {
        EXPECT_EQ(hands[i].x, want[i][0].get<int>());
        EXPECT_EQ(hands[i].y, want[i][1].get<int>());
        EXPECT_EQ(hands[i].w, want[i][2].get<int>());
        EXPECT_EQ(hands[i].left, want[i][3].get<bool>());
      }
      const auto face = an::face_box(bodies[p], h, w);
      const auto& wf = box["faces"][p];
      ASSERT_EQ(face.has_value(), !wf.is_null());
      if (face) EXPECT_EQ(std::vector<int>(face->begin(), face->end()), wf.get<std::vector<int>>());
    }
  }
}

TEST(OpenposePost, HandAndFacePeaksAreTheReferences) {
  const json post = load_json(kData + "post.json");
  const json& hp = post["hand"];
  std::vector<double> heat;
  for (int c = 0; c < 22; ++c) {
    const auto m = cone_map(128, 128, blobs_of(hp["blobs"], c));
    heat.insert(heat.end(), m.begin(), m.end());
  }
  const auto peaks = an::hand_peaks(heat, hp["crop"], hp["crop"]);
  const auto want = post["hand_peaks"].get<std::vector<std::array<int, 2>>>();
  EXPECT_EQ(peaks, want);

  const json& fp = post["face"];
  const int h = fp["height"], w = fp["width"], c = fp["channels"];
  std::vector<float> maps;
  for (int i = 0; i < c; ++i) {
    const auto m = cone_map(h, w, blobs_of(fp["blobs"], i));
    maps.insert(maps.end(), m.begin(), m.end());
  }
  const auto face_want = post["face_peaks"].get<std::vector<std::array<int, 2>>>();
  EXPECT_EQ(an::face_peaks(maps, c, h, w), face_want);
}

gen::Poses draw_fixture_poses(const json& doc) {
  gen::Poses poses;
  auto pts = [](const json& a) {
    std::vector<gen::PosePoint> v;
    for (const auto& p : a) v.push_back(p.is_null() ? gen::PosePoint{} : gen::PosePoint{p[0], p[1], true});
    return v;
  };
  for (const auto& p : doc["poses"])
    poses.people.push_back({pts(p["body"]), pts(p["left_hand"]), pts(p["right_hand"]), pts(p["face"]), 0, 0});
  return poses;
}

TEST(OpenposeDraw, PixelIdenticalToDrawPoses) {
  const json doc = load_json(kData + "draw_poses.json");
  const gen::Poses poses = draw_fixture_poses(doc);
  ASSERT_FALSE(poses.people.empty());
  for (const auto& c : doc["cases"]) {
    const std::string name = c["name"];
    const auto img = gen::draw_poses(poses, c["width"], c["height"], c["body"] == 1, c["hand"] == 1, c["face"] == 1);
    const auto ref = gen::to_rgb8(gen::read_image(kData + "draw_" + name + ".png"));
    ASSERT_EQ(img.width, ref.width);
    ASSERT_EQ(img.height, ref.height);
    std::size_t differ = 0;
    for (std::size_t i = 0; i < img.data8.size(); ++i) differ += img.data8[i] != ref.data8[i];
    EXPECT_EQ(differ, 0u) << name << ": samples differing from the reference's drawing";
  }
}

TEST(OpenposeJson, RoundTripDrawsTheSame) {
  const json doc = load_json(kData + "draw_poses.json");
  gen::Poses poses = draw_fixture_poses(doc);
  poses.width = 96;
  poses.height = 128;
  const std::string text = gen::poses_to_json(poses);
  const json j = json::parse(text);
  ASSERT_EQ(j["people"].size(), poses.people.size());
  EXPECT_EQ(j["people"][0]["pose_keypoints_2d"].size(), 54u);
  EXPECT_EQ(j["canvas_width"], 96);
  const gen::Poses back = gen::poses_from_json(text, "poses.json");
  for (auto [w, h] : {std::pair{96, 128}, std::pair{300, 200}}) {
    const auto a = gen::draw_poses(poses, w, h), b = gen::draw_poses(back, w, h);
    EXPECT_EQ(a.data8, b.data8);
  }
  // The same pose in pixels (as OpenPose and pose editors write it) reads the same.
  json px = j;
  for (auto& p : px["people"])
    for (const char* key : {"pose_keypoints_2d"})
      for (std::size_t k = 0; k + 2 < p[key].size(); k += 3) {
        p[key][k] = p[key][k].get<double>() * 96;
        p[key][k + 1] = p[key][k + 1].get<double>() * 128;
      }
  for (auto& p : px["people"]) p.erase("hand_left_keypoints_2d"), p.erase("hand_right_keypoints_2d"), p.erase("face_keypoints_2d");
  const auto frompx = gen::poses_from_json(px.dump(), "px.json");
  for (std::size_t i = 0; i < 18; ++i)
    if (back.people[0].body[i].present) EXPECT_NEAR(frompx.people[0].body[i].x, back.people[0].body[i].x, 1e-12);
}

void expect_refused(const std::string& text, const std::string& part) {
  try {
    gen::poses_from_json(text, "pose.json");
    ADD_FAILURE() << "accepted: " << text;
  } catch (const gen::Error& e) {
    EXPECT_EQ(e.code(), gen::ErrorCode::InvalidFormat) << e.what();
    EXPECT_NE(std::string(e.what()).find("pose.json"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

TEST(OpenposeJson, RefusesBadFiles) {
  const std::string body18 = [] {
    std::string s = "[";
    for (int i = 0; i < 18; ++i) s += std::string(i ? "," : "") + "0.5,0.5,1";
    return s + "]";
  }();
  const std::string ok = R"({"canvas_width":64,"canvas_height":64,"people":[{"pose_keypoints_2d":)" + body18 + "}]}";
  EXPECT_EQ(gen::poses_from_json(ok, "pose.json").people.size(), 1u);
  expect_refused("{", "not valid JSON");
  expect_refused("[]", "not a JSON object");
  expect_refused(R"({"canvas_width":64,"people":[]})", "canvas_height");
  expect_refused(R"({"canvas_width":0,"canvas_height":64,"people":[]})", "canvas_width");
  expect_refused(R"({"canvas_width":64,"canvas_height":64})", "people");
  expect_refused(R"({"canvas_width":64,"canvas_height":64,"people":[{"pose_keypoints_2d":[0.5,0.5,1]}]})",
                 "expected x, y, confidence for 18 points");
  std::string out = ok;
  out.replace(out.find("0.5,0.5,1"), 9, "\"a\",0.5,1");
  expect_refused(out, "people[0].pose_keypoints_2d[0]: not a finite number");
  out = ok;
  out.replace(out.find("0.5,0.5,1"), 9, "-0.5,0.5,1");
  expect_refused(out, "outside the canvas");
  out = ok;
  out.replace(out.find("0.5,0.5,1"), 9, "80,10,1");  // pixels: x beyond the 64-pixel canvas
  expect_refused(out, "outside the canvas");
}

// ------------------------------------------------------------------ networks
std::string nets_dir() {
  static std::string dir;
  if (!dir.empty()) return dir;
  dir = GEN_BINARY_DIR "/tests/openpose_nets";
  // Made again when the script changes: "done" holds the sha256 of the script that made it.
  const std::string script_hash = gen::sha256_file(GEN_SOURCE_DIR "/tools/openpose_reference.py");
  std::string made_by;
  std::ifstream(dir + "/done") >> made_by;
  if (made_by == script_hash) return dir;
  const std::string python = gen::test::find_python();
  if (python.empty()) return dir = "";
  const std::string cmd = "\"" + python + "\" " GEN_SOURCE_DIR "/tools/openpose_reference.py nets \"" + dir +
                          "\" > \"" + dir + ".log\" 2>&1";
  std::filesystem::create_directories(dir);
  std::filesystem::remove(dir + "/done");
  if (std::system(cmd.c_str()) != 0) return dir = "";
  std::ofstream(dir + "/done") << script_hash << "\n";
  return dir;
}

double rel_err(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>() / std::max(b.abs().max().item<double>(), 1e-12);
}

namespace {

void nets_match(c10::Device device) {
  const std::string dir = nets_dir();
  ASSERT_FALSE(dir.empty()) << "tools/openpose_reference.py nets failed (see the .log beside the build's tests/openpose_nets)";
  const auto ref = gen::SafetensorsCheckpoint::open(dir + "/nets.safetensors");
  auto t = [&](const char* n) { return gen::view_tensor(ref, n).to(at::kFloat); };
  auto on = [&](const char* n) { return t(n).to(device); };
  c10::InferenceMode inference;
  {
    const auto body = an::load_openpose_body(dir + "/body_pose_model.pth", device);
    const auto [l1, l2] = body->forward(on("x_body"));
    EXPECT_LE(rel_err(l1.cpu(), t("body_L1")), 1e-4);
    EXPECT_LE(rel_err(l2.cpu(), t("body_L2")), 1e-4);
    // The whole path around the network (resize, pad, upscale, resize back) on a 72 x 56 image.
    const at::Tensor img = gen::view_tensor(ref, "image").contiguous();
    std::vector<double> heat, paf;
    an::body_maps(*body, device, img.data_ptr<std::uint8_t>(), 72, 56, heat, paf);
    const at::Tensor ours = at::from_blob(heat.data(), {19, 72, 56}, at::kDouble).slice(0, 0, 18);
    EXPECT_LE(rel_err(ours, gen::view_tensor(ref, "body_heat")), 1e-4);
  }
  for (const char* file : {"/hand_pose_model.pth", "/hand_pose_model.safetensors"}) {
    const auto hand = an::load_openpose_hand(dir + file, device);
    EXPECT_LE(rel_err(hand->forward(on("x_hand")).cpu(), t("hand")), 1e-4) << file;
  }
  {
    // Hand.__call__ before its peaks: blur, four sizes, maps averaged at 128 x 128 (a 36 x 36 crop).
    const auto hand = an::load_openpose_hand(dir + "/hand_pose_model.pth", device);
    const at::Tensor himg = gen::view_tensor(ref, "hand_image").contiguous();
    auto maps = an::hand_maps(*hand, device, himg.data_ptr<std::uint8_t>(), 36, 36);
    const at::Tensor ours = at::from_blob(maps.data(), {22, 128, 128}, at::kDouble).slice(0, 0, 21);
    EXPECT_LE(rel_err(ours, gen::view_tensor(ref, "hand_heat")), 1e-4);
  }
  const auto face = an::load_openpose_face(dir + "/facenet.pth", device);
  EXPECT_LE(rel_err(face->forward(on("x_face")).cpu(), t("face")), 1e-4);
  // Face.__call__: resize to 384, network, bilinear back to the crop.
  const at::Tensor fimg = gen::view_tensor(ref, "face_image").contiguous();
  const auto maps = an::face_maps(*face, device, fimg.data_ptr<std::uint8_t>(), 30, 26);
  const at::Tensor ours = at::from_blob(const_cast<float*>(maps.data()), {71, 30, 26}, at::kFloat);
  EXPECT_LE(rel_err(ours, gen::view_tensor(ref, "face_maps")), 1e-4);
}

}  // namespace

GEN_TEST_CPU_AND_CUDA(OpenposeNets, MatchTheReference, nets_match)

TEST(OpenposeNets, WrongFilesAreNamed) {
  const std::string dir = nets_dir();
  ASSERT_FALSE(dir.empty());
  const c10::Device cpu(c10::kCPU);
  auto message = [](auto&& f) -> std::string {
    try {
      f();
    } catch (const gen::Error& e) {
      EXPECT_EQ(e.code(), gen::ErrorCode::ModelMismatch) << e.what();
      return e.what();
    }
    return "(accepted)";
  };
  EXPECT_NE(message([&] { an::load_openpose_body(dir + "/hand_pose_model.pth", cpu); })
                .find("a hand pose model (hand_pose_model.pth), not a body pose model"),
            std::string::npos);
  EXPECT_NE(message([&] { an::load_openpose_hand(dir + "/facenet.pth", cpu); })
                .find("a face model (facenet.pth), not a hand pose model"),
            std::string::npos);
  EXPECT_NE(message([&] { an::load_openpose_face(dir + "/body_pose_model.pth", cpu); })
                .find("a body pose model (body_pose_model.pth), not a face model"),
            std::string::npos);
  EXPECT_NE(message([&] { an::load_openpose_body(dir + "/nets.safetensors", cpu); }).find("not an OpenPose body"),
            std::string::npos);
  try {
    an::load_openpose_body(dir + "/missing.pth", cpu);
    ADD_FAILURE();
  } catch (const gen::Error& e) {
    EXPECT_EQ(e.code(), gen::ErrorCode::NotFound) << e.what();
  }
}

}  // namespace
