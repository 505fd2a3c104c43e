// The annotators against controlnet-aux 0.0.10 (tools/controlnet_aux_reference.py, run once per
// build tree: random weights in the original files' key layouts, saved as the original .pth
// files, converted here with gen's convert): the networks' float outputs within 1e-4 relative,
// the 8-bit maps within 1 level except where a threshold flips a pixel (counted, bounded);
// util.py's steps; the bad inputs.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <ATen/ATen.h>
#include <opencv2/imgproc.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "annotators/annotator_util.hpp"
#include "annotator_test_util.hpp"
#include "annotators/annotators.hpp"
#include "annotators/mlsd.hpp"
#include "gen/error.hpp"
#include "io/convert.hpp"
#include "core/sha256.hpp"
#include "model_fixtures.hpp"
#include "tensor/from_safetensors.hpp"
#include "test_python.hpp"

using namespace gen;
namespace an = gen::annotators;

namespace {

const char* const kWeights[] = {"ControlNetHED", "table5_pidinet", "sk_model", "sk_model2", "netG", "mlsd_large_512_fp32"};

// The reference run's folder: the .pth files, their .safetensors conversions, maps, cases.json.
std::string reference() {
  static const std::string dir = [] {
    const std::string d = GEN_BINARY_DIR "/tests/tmp/annotators";
    std::filesystem::create_directories(d);
    const int lock = ::open((d + ".lock").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    if (lock >= 0) ::flock(lock, LOCK_EX);
    // Made again when the script changes: "done" holds the sha256 of the script that made it.
    const std::string script_hash = sha256_file(GEN_SOURCE_DIR "/tools/controlnet_aux_reference.py");
    std::string made_by;
    std::ifstream(d + "/done") >> made_by;
    if (made_by != script_hash) {
      const auto python = test::find_python();
      const std::string cmd = "'" + python + "' '" GEN_SOURCE_DIR "/tools/controlnet_aux_reference.py' --out '" + d + "'";
      if (python.empty() || std::system(cmd.c_str()) != 0) {
        ADD_FAILURE() << "could not run " << cmd;
      } else {
        for (const char* w : kWeights)  // as users do: gen convert X.pth X.safetensors
          io::convert_checkpoint(d + "/" + w + ".pth", d + "/" + w + ".safetensors", {});
        std::ofstream(d + "/done") << script_hash << "\n";
      }
    }
    if (lock >= 0) ::close(lock);
    return d;
  }();
  return dir;
}

Image photo() { return to_rgb8(read_image(GEN_TEST_DATA_DIR "/control/source.png")); }

ErrorCode code_of(const std::function<void()>& f, std::string* message = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (message) *message = e.what();
    return e.code();
  }
  return ErrorCode::Ok;
}

}  // namespace

namespace {

// Every case of cases.json on `device`.
void maps_match_controlnet_aux(c10::Device device) {
  const std::string dir = reference();
  const auto cases = test::read_json(dir + "/cases.json");
  ASSERT_GE(cases["cases"].size(), 30u);
  an::Annotators runner(dir);
  const Image src = photo();
  for (const auto& c : cases["cases"]) {
    const std::string name = c["name"], spec = c["preprocess"];
    an::RunSettings s;
    s.resolution = c["resolution"];
    s.device = device;
    const Image got = runner.run(src, spec, s, "photo");
    const Image want = to_rgb8(read_image(dir + "/" + name + ".png"));
    ASSERT_EQ(got.width, want.width) << name;
    ASSERT_EQ(got.height, want.height) << name;
    const auto d = test::map_diff(got, want, 1);
    // Thresholded maps (safe, scribble) may flip a pixel where the reference's value sits on
    // the threshold: counted and bounded (0.5% of the values); the others: within 1 level.
    // M-LSD's lines: a line whose score, length or end sits on a threshold or an integer may
    // come or go (the network within 1e-4); its decoding alone is exact (MlsdDecodingAndDrawing...).
    const bool thresholded = spec.find("safe") != std::string::npos || spec.find("scribble") != std::string::npos ||
                             spec.rfind("mlsd", 0) == 0;
    if (thresholded) EXPECT_LE(d.over, got.data8.size() / 200) << name << ": " << d.over << " values flipped";
    else EXPECT_LE(d.worst, 1) << name;
    if (d.worst > 0)
      std::printf("%s (%s): max %d, %zu values off by more than 1 of %zu\n", name.c_str(), device.str().c_str(),
                  d.worst, d.over, d.values);
  }
}

}  // namespace

GEN_TEST_CPU_AND_CUDA(Annotators, MapsMatchControlnetAux, maps_match_controlnet_aux)

namespace {

void network_outputs_match(c10::Device device) {
  const std::string dir = reference();
  const auto raw = SafetensorsCheckpoint::open(dir + "/raw.safetensors");
  an::Annotators runner(dir);
  const cv::Mat src = an::to_mat(photo());
  int compared = 0;
  for (const std::string spec : {"hed", "pidinet", "lineart", "lineart_coarse"})
    for (int res : {128, 64}) {
      const std::string name = spec + "_" + std::to_string(res);
      const auto parsed = an::parse_annotator(spec);
      const auto net = runner.network(parsed, device);
      const std::string kind = parsed.info->kind;
      at::InferenceMode guard;
      const auto outputs = net->forward(an::network_input(kind, an::resize_image(src, res), device));
      for (std::size_t i = 0; i < outputs.size(); ++i) {
        const std::string key = kind == "hed" ? name + "." + std::to_string(i) : name;
        const auto want = load_tensor(raw, key, at::kFloat, at::kCPU);
        const double err = test::relative_error(outputs[i][0][0].cpu(), want);
        EXPECT_LE(err, 1e-4) << key;
        ++compared;
      }
    }
  EXPECT_EQ(compared, 2 * (5 + 1 + 1 + 1));
}

void lineart_anime_and_mlsd_match(c10::Device device) {
  const std::string dir = reference();
  const auto raw = SafetensorsCheckpoint::open(dir + "/raw.safetensors");
  an::Annotators runner(dir);
  const cv::Mat src = an::to_mat(photo());
  int compared = 0;
  for (const std::string spec : {"lineart_anime", "mlsd"})
    for (int res : {128, 64}) {
      const std::string name = spec + "_" + std::to_string(res);
      const auto parsed = an::parse_annotator(spec);
      const auto net = runner.network(parsed, device);
      at::InferenceMode guard;
      const auto input = an::network_input(parsed.info->kind, an::resize_image(src, res), device).cpu();
      const auto want_input = load_tensor(raw, name + ".input", at::kFloat, at::kCPU);
      ASSERT_EQ(input.sizes(), want_input.sizes()) << name;
      const double input_diff = (input - want_input).abs().max().item<double>();
      EXPECT_LE(input_diff, spec == "mlsd" ? 0.0 : 1.0 / 127.5 + 1e-6) << name;
      const auto out = net->forward(want_input.to(device)).at(0).cpu();
      const double err = test::relative_error(out[0], load_tensor(raw, name, at::kFloat, at::kCPU));
      EXPECT_LE(err, 1e-4) << name;
      std::printf("%s (%s): input max diff %g, output relative error %g\n", name.c_str(), device.str().c_str(),
                  input_diff, err);
      ++compared;
    }
  EXPECT_EQ(compared, 4);
}

}  // namespace

GEN_TEST_CPU_AND_CUDA(Annotators, NetworkOutputsMatchControlnetAux, network_outputs_match)

// lineart_anime and M-LSD: the network input as gen makes it against the one the reference fed
// (M-LSD: equal; lineart_anime: its uint8 INTER_CUBIC resize within 1 level, OpenCV 4.6 vs 4.10),
// and the network on the reference's input within 1e-4 relative (M-LSD: all 9 channels).
GEN_TEST_CPU_AND_CUDA(Annotators, LineartAnimeAndMlsdNetworksMatchControlnetAux, lineart_anime_and_mlsd_match)

// M-LSD's decoding (pred_lines after the network) and MLSDdetector's drawing on a synthetic
// network output that holds lines (tools/controlnet_aux_reference.py, mlsd_synthetic): the same
// lines, bit for bit, and the same map, pixel for pixel, for four threshold pairs.
TEST(Annotators, MlsdDecodingAndDrawingMatchControlnetAux) {
  const std::string dir = reference();
  const auto t = SafetensorsCheckpoint::open(dir + "/mlsd_synthetic.safetensors");
  const auto info = test::read_json(dir + "/mlsd_synthetic.json");
  const auto output = load_tensor(t, "output", at::kFloat, at::kCPU);
  const cv::Size size(static_cast<int>(output.size(3)) * 2, static_cast<int>(output.size(2)) * 2);
  ASSERT_EQ(info["pairs"].size(), 4u);
  for (std::size_t i = 0; i < info["pairs"].size(); ++i) {
    const double score = info["pairs"][i]["score"], distance = info["pairs"][i]["distance"];
    const auto lines = an::mlsd_lines(output, score, distance);
    const auto want = load_tensor(t, "lines_" + std::to_string(i), at::kDouble, at::kCPU).contiguous();
    ASSERT_EQ(static_cast<std::int64_t>(lines.size()), want.size(0)) << "pair " << i;
    EXPECT_GT(lines.size(), 0u);
    const double* w = want.data_ptr<double>();
    std::size_t same = 0;
    for (std::size_t k = 0; k < lines.size(); ++k)
      same += lines[k].x0 == w[4 * k] && lines[k].y0 == w[4 * k + 1] && lines[k].x1 == w[4 * k + 2] && lines[k].y1 == w[4 * k + 3];
    EXPECT_EQ(same, lines.size()) << "pair " << i;
    const cv::Mat map = an::mlsd_draw(lines, size);
    const Image want_map = to_rgb8(read_image(dir + "/mlsd_synthetic_" + std::to_string(i) + ".png"));
    ASSERT_EQ(want_map.width, size.width);
    ASSERT_EQ(want_map.height, size.height);
    std::size_t differ = 0;
    for (int y = 0; y < size.height; ++y)
      for (int x = 0; x < size.width; ++x)
        for (int c = 0; c < 3; ++c)
          differ += map.at<std::uint8_t>(y, x) != want_map.data8[(static_cast<std::size_t>(y) * size.width + x) * 3 + c];
    EXPECT_EQ(differ, 0u) << "pair " << i;
    std::printf("mlsd synthetic pair %zu (score %g, distance %g): %zu lines, %zu map values differ\n", i, score,
                distance, lines.size(), differ);
  }
  // Under 200 values in the map: the reference's top-k raises and the detector draws nothing.
  EXPECT_TRUE(an::mlsd_lines(output.slice(2, 0, 10).slice(3, 0, 10), 0.0, 0.0).empty());
}

TEST(Annotators, UtilStepsMatchControlnetAux) {
  const std::string dir = reference();
  const auto u = SafetensorsCheckpoint::open(dir + "/util.safetensors");
  const cv::Mat src = an::to_mat(photo());
  const auto as_mat = [&](const std::string& key) {
    auto t = load_tensor(u, key, at::kByte, at::kCPU).contiguous();
    const int channels = t.dim() == 3 ? static_cast<int>(t.size(2)) : 1;
    return cv::Mat(static_cast<int>(t.size(0)), static_cast<int>(t.size(1)), CV_8UC(channels), t.data_ptr()).clone();
  };
  for (int res : {64, 128, 200, 512}) {
    const cv::Mat want = as_mat("resize_image_" + std::to_string(res));
    const cv::Mat got = an::resize_image(src, res);
    ASSERT_EQ(got.size(), want.size()) << res;
    EXPECT_EQ(cv::norm(got, want, cv::NORM_INF), 0) << "resize_image " << res;
  }
  const cv::Mat grey = as_mat("nms_input");
  EXPECT_EQ(cv::norm(an::nms(grey, 127, 3.0), as_mat("nms_127_3"), cv::NORM_INF), 0);
  EXPECT_EQ(cv::norm(an::nms(grey, 60, 1.5), as_mat("nms_60_1.5"), cv::NORM_INF), 0);
  const auto ramp = load_tensor(u, "safe_step_input", at::kDouble, at::kCPU).contiguous();
  const auto want = load_tensor(u, "safe_step_2", at::kDouble, at::kCPU);
  cv::Mat m(1, static_cast<int>(ramp.numel()), CV_64F, ramp.data_ptr<double>());
  cv::Mat x = m.clone();
  an::safe_step(x);
  EXPECT_EQ(at::from_blob(x.data, {x.cols}, at::kDouble).sub(want).abs().max().item<double>(), 0);
  EXPECT_EQ(an::detect_size(96, 80, 512), cv::Size(640, 512));
  EXPECT_EQ(an::detect_size(96, 80, 200), cv::Size(256, 192));
}

TEST(Annotators, NetworksAreLoadedOncePerRunner) {
  const std::string dir = reference();
  an::Annotators runner(dir);
  const auto spec = an::parse_annotator("hed:safe");
  EXPECT_EQ(runner.network(spec, c10::Device(c10::kCPU)).get(), runner.network(spec, c10::Device(c10::kCPU)).get());
  EXPECT_EQ(runner.network(spec, c10::Device(c10::kCPU)).get(),
            runner.network(an::parse_annotator("hed:scribble"), c10::Device(c10::kCPU)).get());
}

TEST(Annotators, BadInputs) {
  const std::string dir = reference();
  an::Annotators runner(dir);
  const Image src = photo();
  const an::RunSettings s;
  std::string msg;
  // the wrong annotator's file, named by what it is
  EXPECT_EQ(code_of([&] { runner.run(src, "hed:file=" + dir + "/sk_model.safetensors", {}, "photo"); }, &msg),
            ErrorCode::ModelMismatch);
  EXPECT_NE(msg.find("line-art annotator file"), std::string::npos) << msg;
  EXPECT_NE(msg.find("sk_model.safetensors"), std::string::npos) << msg;
  EXPECT_EQ(code_of([&] { runner.run(src, "lineart:file=" + dir + "/table5_pidinet.safetensors", {}, "photo"); }, &msg),
            ErrorCode::ModelMismatch);
  EXPECT_NE(msg.find("PiDiNet"), std::string::npos) << msg;
  EXPECT_EQ(code_of([&] { runner.run(src, "pidinet:file=" + dir + "/raw.safetensors", {}, "photo"); }, &msg),
            ErrorCode::ModelMismatch);
  EXPECT_NE(msg.find("not an annotator file"), std::string::npos) << msg;
  EXPECT_EQ(code_of([&] { runner.run(src, "mlsd:file=" + dir + "/netG.safetensors", {}, "photo"); }, &msg),
            ErrorCode::ModelMismatch);
  EXPECT_NE(msg.find("anime line-art annotator file (netG"), std::string::npos) << msg;
  EXPECT_EQ(code_of([&] { runner.run(src, "lineart_anime:file=" + dir + "/mlsd_large_512_fp32.safetensors", {}, "photo"); }, &msg),
            ErrorCode::ModelMismatch);
  EXPECT_NE(msg.find("M-LSD line-segment annotator file (mlsd_large_512_fp32"), std::string::npos) << msg;
  // a missing file: which file, where gen looked
  an::Annotators empty_dir(GEN_TEST_DATA_DIR "/control");
  EXPECT_EQ(code_of([&] { empty_dir.run(src, "hed", {}, "photo"); }, &msg), ErrorCode::NotFound);
  EXPECT_NE(msg.find("ControlNetHED.safetensors"), std::string::npos) << msg;
  EXPECT_NE(msg.find(GEN_TEST_DATA_DIR "/control"), std::string::npos) << msg;
  EXPECT_NE(msg.find("ControlNetHED.pth from lllyasviel/Annotators"), std::string::npos) << msg;
  // Depth Anything is not in lllyasviel/Annotators: the message names its own repositories.
  EXPECT_EQ(code_of([&] { empty_dir.run(src, "depth_anything", {}, "photo"); }, &msg), ErrorCode::NotFound);
  EXPECT_NE(msg.find("depth-anything/Depth-Anything-V2-Large"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("lllyasviel"), std::string::npos) << msg;
  an::Annotators no_dir;
  EXPECT_EQ(code_of([&] { no_dir.run(src, "lineart", {}, "photo"); }, &msg), ErrorCode::NotFound);
  EXPECT_NE(msg.find("--annotator-dir"), std::string::npos) << msg;
  EXPECT_EQ(code_of([&] { runner.run(src, "hed:file=/nonexistent/x.safetensors", {}, "photo"); }), ErrorCode::NotFound);
  // only the original .pth: convert it first
  const std::string only_pth = GEN_BINARY_DIR "/tests/tmp/annotators-pth";
  std::filesystem::create_directories(only_pth);
  std::filesystem::copy_file(dir + "/sk_model2.pth", only_pth + "/sk_model2.pth",
                             std::filesystem::copy_options::overwrite_existing);
  an::Annotators pth(only_pth);
  EXPECT_EQ(code_of([&] { pth.run(src, "lineart_coarse", {}, "photo"); }, &msg), ErrorCode::Unsupported);
  EXPECT_NE(msg.find("gen convert"), std::string::npos) << msg;
  EXPECT_EQ(code_of([&] { runner.run(src, "hed:file=" + dir + "/ControlNetHED.pth", {}, "photo"); }),
            ErrorCode::Unsupported);
  // images too small for the resolution, and 1×1
  EXPECT_EQ(code_of([&] { runner.run(Image::make(1, 1, 3), "hed", s, "one.png"); }, &msg), ErrorCode::InvalidArgument);
  EXPECT_NE(msg.find("one.png: is 1x1"), std::string::npos) << msg;
  EXPECT_EQ(code_of([&] { runner.run(Image::make(60, 40, 3), "lineart_standard", s, "small.png"); }, &msg),
            ErrorCode::InvalidArgument);
  EXPECT_NE(msg.find("too small for the preprocess resolution 512"), std::string::npos) << msg;
  // options
  for (const char* bad : {"hed:unsafe", "hed:safe:safe", "shuffle:seed=-1", "shuffle:seed=1.5", "lineart_standard:sigma=x",
                          "color:file=x.safetensors", "hed:file=", "lineart:safe", "mlsd:score=1.5",
                          "mlsd:distance=-1", "mlsd:score=0.2:score=0.3", "mlsd:safe", "lineart_anime:scribble"})
    EXPECT_EQ(code_of([&] { an::parse_annotator(bad); }), ErrorCode::InvalidArgument) << bad;
  an::RunSettings low;
  low.resolution = 32;
  EXPECT_EQ(code_of([&] { runner.run(src, "color", low, "photo"); }), ErrorCode::InvalidArgument);
}

TEST(Annotators, ShuffleSeedComesFromTheRunWithoutSeedOption) {
  const std::string dir = reference();
  an::Annotators runner(dir);
  an::RunSettings s;
  s.resolution = 64;
  s.seed = 1234;
  const Image a = runner.run(photo(), "shuffle", s, "photo");
  const Image b = to_rgb8(read_image(dir + "/shuffle_seed1234_64.png"));
  EXPECT_EQ(a.data8, b.data8);
}
