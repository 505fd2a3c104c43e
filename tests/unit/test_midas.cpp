// MiDaS DPT-Hybrid (`midas`) and `normal_midas` against controlnet-aux 0.0.10's MidasDetector
// (tools/midas_reference.py, run once per build tree: its DPTDepthModel over timm's ViT-hybrid at
// smaller widths, random weights saved as the original .pt is, converted here with gen's
// convert). Tolerances: the network's depth ≤ 1e-4 relative (max |got − want| / max |want|); the
// depth map within 1 level; the normal map within 1 level except where the normalised depth sits
// on bg_th (a pixel's x, y kept or zeroed: counted, bounded to 0.5% of the values). Also the
// A1111 preprocessor names (registry aliases) and the bad inputs.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "annotator_test_util.hpp"
#include "annotators/annotator_files.hpp"
#include "annotators/annotator_util.hpp"
#include "annotators/annotators.hpp"
#include "annotators/midas.hpp"
#include "core/sha256.hpp"
#include "gen/error.hpp"
#include "io/convert.hpp"
#include "model_fixtures.hpp"
#include "tensor/from_safetensors.hpp"
#include "test_python.hpp"

using namespace gen;
namespace an = gen::annotators;

namespace {

const std::string kStem = "dpt_hybrid-midas-501f0c75";

std::string reference() {
  static const std::string dir = [] {
    const std::string d = GEN_BINARY_DIR "/tests/tmp/midas";
    std::filesystem::create_directories(d);
    const int lock = ::open((d + ".lock").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    if (lock >= 0) ::flock(lock, LOCK_EX);
    const std::string script_hash = sha256_file(GEN_SOURCE_DIR "/tools/midas_reference.py");
    std::string made_by;
    std::ifstream(d + "/done") >> made_by;
    if (made_by != script_hash) {
      const auto python = test::find_python();
      const std::string cmd = "'" + python + "' '" GEN_SOURCE_DIR "/tools/midas_reference.py' --out '" + d + "'";
      if (python.empty() || std::system(cmd.c_str()) != 0) {
        ADD_FAILURE() << "could not run " << cmd;
      } else {
        io::convert_checkpoint(d + "/" + kStem + ".pt", d + "/" + kStem + ".safetensors", {});  // as users do
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

double relative_error(const at::Tensor& got, const at::Tensor& want) {
  EXPECT_EQ(got.sizes(), want.sizes());
  if (got.sizes() != want.sizes()) return 1e30;
  return (got - want).abs().max().item<double>() / want.abs().max().item<double>();
}

}  // namespace

TEST(Midas, ConfigFromTheOriginalKeys) {
  const auto m = an::load_midas(reference() + "/" + kStem + ".pt");
  EXPECT_EQ(m.config.stem, 32);
  EXPECT_EQ(m.config.stage_blocks, (std::vector<std::int64_t>{2, 1, 2}));
  EXPECT_EQ(m.config.stage_width, (std::vector<std::int64_t>{128, 256, 512}));
  EXPECT_EQ(m.config.embed_dim, 128);
  EXPECT_EQ(m.config.heads, 2);
  EXPECT_EQ(m.config.depth, 12);
  EXPECT_EQ(m.config.mlp_hidden, 512);
  EXPECT_EQ(m.config.grid, 8);
  EXPECT_EQ((m.config.neck), (std::array<std::int64_t, 4>{128, 256, 96, 96}));
  EXPECT_EQ(m.config.features, 32);
  EXPECT_EQ(m.config.head_hidden, 32);
  // The file is recognised as what it is (gen inspect, the wrong-file messages).
  std::map<std::string, std::vector<std::int64_t>> shapes;
  auto ckpt = SafetensorsCheckpoint::open(reference() + "/" + kStem + ".safetensors");
  for (const auto& n : ckpt.names()) shapes[n] = ckpt.info(n).shape;
  const auto f = an::identify_annotator(shapes);
  EXPECT_EQ(f.kind, "midas");
  EXPECT_EQ(f.variant, "dpt_hybrid");
  EXPECT_EQ(an::original_file(f), "dpt_hybrid-midas-501f0c75.pt");
  EXPECT_EQ(an::preprocess_names_for("midas"), (std::vector<std::string>{"midas", "normal_midas"}));
}

namespace {

void network_matches(c10::Device device) {
  const std::string dir = reference();
  const auto raw = SafetensorsCheckpoint::open(dir + "/raw.safetensors");
  const cv::Mat src = an::to_mat(photo());
  for (const std::string file : {kStem + ".pt", kStem + ".safetensors"}) {
    const auto m = an::load_midas(dir + "/" + file, device);
    for (const std::string size : {"128x128", "192x256"}) {
      const int res = size == "128x128" ? 128 : 192;
      const auto want_in = load_tensor(raw, "input." + size, at::kFloat, at::kCPU);
      // MidasDetector's input: resize_image to the detect resolution, / 127.5 - 1.
      const auto x = an::midas_input(an::to_image(an::resize_image(src, res)), device).cpu();
      EXPECT_LE(relative_error(x, want_in), 1e-6) << size;
      c10::InferenceMode guard;
      const double err = relative_error(an::midas_forward(m, want_in.to(device)).cpu(),
                                        load_tensor(raw, "depth." + size, at::kFloat, at::kCPU));
      EXPECT_LE(err, 1e-4) << file << " " << size;
      std::printf("%s %s (%s): depth relative error %.3g\n", file.c_str(), size.c_str(), device.str().c_str(), err);
    }
  }
}

void maps_match(c10::Device device) {
  const std::string dir = reference();
  const auto cases = test::read_json(dir + "/cases.json");
  ASSERT_EQ(cases["cases"].size(), 6u);
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
    if (spec.rfind("normal_midas", 0) == 0) EXPECT_LE(d.over, d.values / 200) << name << ": " << d.over << " values flipped";
    else EXPECT_LE(d.worst, 1) << name;
    std::printf("%s (%s): max %d, %zu values off by more than 1 of %zu\n", name.c_str(), device.str().c_str(), d.worst,
                d.over, d.values);
  }
}

}  // namespace

GEN_TEST_CPU_AND_CUDA(Midas, NetworkMatchesControlnetAuxBothFormats, network_matches)

GEN_TEST_CPU_AND_CUDA(Midas, MapsMatchControlnetAux, maps_match)

TEST(Midas, NormalMapFormulaOnAKnownDepth) {
  // A ramp in x (Sobel x = 8 per pixel step of 1, y = 0), its left quarter under bg_th: there
  // x is zeroed and the normal is (0, 0, 1) → (255, 127, 127) after the channel reversal.
  auto d = at::arange(64, at::kFloat).repeat({32, 1}).contiguous();
  const Image n = an::midas_normal_map(d, 8.0, 0.25);
  EXPECT_EQ(n.at(2, 5, 0), 255);
  EXPECT_EQ(n.at(2, 5, 1), 127);
  EXPECT_EQ(n.at(2, 5, 2), 127);
  // inside the ramp: (8, 0, 8) / √128 → z = x = 0.7071 → 217 (127.5 + 90.16, truncated)
  EXPECT_EQ(n.at(40, 5, 0), 217);
  EXPECT_EQ(n.at(40, 5, 1), 127);
  EXPECT_EQ(n.at(40, 5, 2), 217);
  const Image m = an::midas_depth_map(d);
  EXPECT_EQ(m.at(0, 0, 0), 0);
  EXPECT_EQ(m.at(63, 0, 0), 255);
  EXPECT_EQ(m.at(21, 3, 1), static_cast<int>(21.0f / 63.0f * 255.0f));
  // a flat depth: black, and normals straight up
  EXPECT_EQ(an::midas_depth_map(at::ones({32, 32})).at(3, 3, 0), 0);
  EXPECT_EQ(an::midas_normal_map(at::ones({32, 32}), 6.28, 0.1).at(3, 3, 0), 255);
}

TEST(Midas, A1111PreprocessorNames) {
  const auto hedsafe = an::parse_annotator("softedge_hedsafe");
  EXPECT_STREQ(hedsafe.info->name, "hed");
  EXPECT_TRUE(hedsafe.has("safe"));
  EXPECT_STREQ(an::parse_annotator("depth_midas").info->name, "midas");
  EXPECT_STREQ(an::parse_annotator("depth").info->name, "midas");
  EXPECT_STREQ(an::parse_annotator("depth_anything_v2:input=280").info->name, "depth_anything");
  const auto scribble = an::parse_annotator("scribble_pidinet:safe");
  EXPECT_STREQ(scribble.info->name, "pidinet");
  EXPECT_TRUE(scribble.has("scribble") && scribble.has("safe"));
  EXPECT_EQ(an::parse_annotator("normal_map:bg_th=0.4").number("bg_th"), 0.4);
  EXPECT_EQ(an::parse_annotator("normal_midas").number("bg_th"), 0.1);  // controlnet-aux's default
  EXPECT_STREQ(an::parse_annotator("lineart_realistic").info->name, "lineart");
  EXPECT_STREQ(an::parse_annotator("t2ia_color_grid").info->name, "color");
  EXPECT_TRUE(an::is_annotator("softedge_pidisafe"));
  EXPECT_FALSE(an::is_annotator("depth_leres"));
  for (const auto& a : an::annotator_aliases()) {  // every alias names an annotator gen has
    EXPECT_TRUE(an::is_annotator(a.alias)) << a.alias;
    EXPECT_EQ(an::find_annotator(a.alias), nullptr) << a.alias << " shadows a gen name";
  }
  std::string msg;
  EXPECT_EQ(code_of([] { an::parse_annotator("softedge_hedsafe:safe"); }, &msg), ErrorCode::InvalidArgument);
  EXPECT_NE(msg.find("'softedge_hedsafe:safe': 'safe' is given twice"), std::string::npos) << msg;
}

TEST(Midas, BadInputs) {
  const std::string dir = reference();
  std::string msg;
  EXPECT_EQ(code_of([&] { an::load_midas(dir + "/no_such.pt"); }), ErrorCode::NotFound);
  // another kind of file, named by what it is
  const auto controlnet = std::string(GEN_TEST_DATA_DIR) + "/models/controlnet_sd1.safetensors";
  EXPECT_EQ(code_of([&] { an::load_midas(controlnet); }, &msg), ErrorCode::ModelMismatch);
  EXPECT_NE(msg.find("not a MiDaS DPT-Hybrid file: it looks like a controlnet file"), std::string::npos) << msg;
  const auto depth_anything = std::string(GEN_TEST_DATA_DIR) + "/depth_anything/depth_anything_v2_tiny.safetensors";
  EXPECT_EQ(code_of([&] { an::load_midas(depth_anything); }, &msg), ErrorCode::ModelMismatch);
  EXPECT_NE(msg.find("Depth Anything V2 file"), std::string::npos) << msg;
  an::Annotators runner(dir);
  EXPECT_EQ(code_of([&] { runner.run(photo(), "depth_anything:file=" + dir + "/" + kStem + ".safetensors", {}, "photo"); }, &msg),
            ErrorCode::ModelMismatch);
  EXPECT_NE(msg.find("MiDaS"), std::string::npos) << msg;
  // a tensor missing: listed
  const std::string cut = GEN_BINARY_DIR "/tests/tmp/midas-cut.safetensors";
  {
    auto src = SafetensorsCheckpoint::open(dir + "/" + kStem + ".safetensors");
    std::vector<TensorData> keep;
    for (const auto& n : src.names()) {
      if (n == "scratch.refinenet2.out_conv.bias") continue;
      const auto& info = src.info(n);
      keep.push_back({n, info.dtype, info.shape, src.data(n), static_cast<std::size_t>(info.nbytes())});
    }
    write_safetensors(cut, keep);
  }
  EXPECT_EQ(code_of([&] { an::load_midas(cut); }, &msg), ErrorCode::ModelMismatch);
  EXPECT_NE(msg.find("scratch.refinenet2.out_conv.bias"), std::string::npos) << msg;
  // only the original .pt in the folder: convert it first (the command names the .pt)
  const std::string only_pt = GEN_BINARY_DIR "/tests/tmp/midas-pt";
  std::filesystem::create_directories(only_pt);
  std::filesystem::copy_file(dir + "/" + kStem + ".pt", only_pt + "/" + kStem + ".pt",
                             std::filesystem::copy_options::overwrite_existing);
  an::Annotators pt(only_pt);
  EXPECT_EQ(code_of([&] { pt.run(photo(), "depth_midas", {}, "photo"); }, &msg), ErrorCode::Unsupported);
  EXPECT_NE(msg.find("gen convert " + only_pt + "/" + kStem + ".pt"), std::string::npos) << msg;
  an::Annotators empty(GEN_TEST_DATA_DIR "/control");
  EXPECT_EQ(code_of([&] { empty.run(photo(), "normal_midas", {}, "photo"); }, &msg), ErrorCode::NotFound);
  EXPECT_NE(msg.find(kStem + ".safetensors"), std::string::npos) << msg;
  // sizes the network cannot take, options out of range
  const auto m = an::load_midas(dir + "/" + kStem + ".safetensors");
  EXPECT_EQ(code_of([&] { an::midas_depth(m, Image::make(100, 64, 3)); }, &msg), ErrorCode::InvalidArgument);
  EXPECT_NE(msg.find("multiples of 32"), std::string::npos) << msg;
  for (const char* bad : {"normal_midas:bg_th=2", "normal_midas:a=0", "midas:bg_th=0.1", "midas:safe", "depth_midas:a=1"})
    EXPECT_EQ(code_of([&] { an::parse_annotator(bad); }), ErrorCode::InvalidArgument) << bad;
}
