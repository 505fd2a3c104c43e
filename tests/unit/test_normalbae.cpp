// NormalBAE (`normal_bae`) against controlnet-aux 0.0.10's NormalBaeDetector
// (tools/normalbae_reference.py, run once per build tree: its NNET with the bundled
// tf_efficientnet_b5_ap builder at fewer blocks and two narrower decoder layers, random weights
// saved as scannet.pt is ({"model": ...}, DataParallel's module. names), converted here with gen's
// convert). Tolerances: the network's last prediction (out_res1, all 4 channels) ≤ 1e-4 relative
// (max |got − want| / max |want|); the 8-bit map within 1 level. Also the recognition of the file,
// the config from its shapes and the bad inputs.
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
#include "annotators/normalbae.hpp"
#include "core/sha256.hpp"
#include "gen/error.hpp"
#include "io/convert.hpp"
#include "model_fixtures.hpp"
#include "tensor/from_safetensors.hpp"
#include "test_python.hpp"

using namespace gen;
namespace an = gen::annotators;

namespace {

const std::string kStem = "scannet";

std::string reference() {
  static const std::string dir = [] {
    const std::string d = GEN_BINARY_DIR "/tests/tmp/normalbae";
    std::filesystem::create_directories(d);
    const int lock = ::open((d + ".lock").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    if (lock >= 0) ::flock(lock, LOCK_EX);
    const std::string script_hash = sha256_file(GEN_SOURCE_DIR "/tools/normalbae_reference.py");
    std::string made_by;
    std::ifstream(d + "/done") >> made_by;
    if (made_by != script_hash) {
      const auto python = test::find_python();
      const std::string cmd = "'" + python + "' '" GEN_SOURCE_DIR "/tools/normalbae_reference.py' --out '" + d + "'";
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

TEST(NormalBae, ConfigFromTheOriginalKeys) {
  const auto m = an::load_normalbae(reference() + "/" + kStem + ".pt");
  const auto& c = m.config;
  EXPECT_EQ(c.stem, 48);
  ASSERT_EQ(c.stages.size(), 7u);
  std::vector<std::size_t> blocks;
  for (const auto& s : c.stages) blocks.push_back(s.size());
  EXPECT_EQ(blocks, (std::vector<std::size_t>{2, 3, 3, 4, 4, 5, 2}));  // depth_multiplier 1.1
  const std::vector<std::int64_t> outs = {24, 40, 64, 128, 176, 304, 512}, kernels = {3, 3, 5, 3, 5, 5, 3};
  for (std::size_t s = 0; s < 7; ++s) {
    EXPECT_EQ(c.stages[s].back().out, outs[s]) << s;
    EXPECT_EQ(c.stages[s][0].kernel, kernels[s]) << s;
    EXPECT_EQ(c.stages[s][0].inverted, s > 0) << s;
  }
  EXPECT_EQ(c.stages[0][0].se, 12);   // 48 / 4: the block's input width
  EXPECT_EQ(c.stages[1][0].mid, 144); // 24 · 6
  EXPECT_EQ(c.stages[1][0].se, 6);
  EXPECT_EQ(c.stages[5][0].stride, 2);
  EXPECT_EQ(c.stages[4][0].stride, 1);
  EXPECT_EQ(c.head, 2048);
  EXPECT_EQ(c.bottleneck, 256);
  EXPECT_EQ(c.up, (std::vector<std::int64_t>{256, 512, 256, 128}));
  // The file is recognised as what it is (gen inspect, the wrong-file messages), module. names and all.
  std::map<std::string, std::vector<std::int64_t>> shapes;
  auto ckpt = SafetensorsCheckpoint::open(reference() + "/" + kStem + ".safetensors");
  for (const auto& n : ckpt.names()) shapes[n] = ckpt.info(n).shape;
  const auto f = an::identify_annotator(shapes);
  EXPECT_EQ(f.kind, "normalbae");
  EXPECT_EQ(f.prefix, "module.");
  EXPECT_EQ(an::original_file(f), "scannet.pt");
  EXPECT_EQ(an::preprocess_names_for("normalbae"), (std::vector<std::string>{"normal_bae"}));
  // The names without DataParallel's module. (as controlnet-aux's load_checkpoint leaves them) load too.
  const std::string bare = GEN_BINARY_DIR "/tests/tmp/normalbae-bare.safetensors";
  {
    std::vector<TensorData> keep;
    for (const auto& n : ckpt.names()) {
      const auto& info = ckpt.info(n);
      keep.push_back({n.substr(7), info.dtype, info.shape, ckpt.data(n), static_cast<std::size_t>(info.nbytes())});
    }
    write_safetensors(bare, keep);
  }
  const auto b = an::load_normalbae(bare);
  EXPECT_EQ(b.config.up, c.up);
  const auto x = at::randn({1, 3, 64, 64}, at::TensorOptions().dtype(at::kFloat));
  c10::InferenceMode guard;
  EXPECT_TRUE(at::equal(an::normalbae_forward(b, x), an::normalbae_forward(m, x)));
}

namespace {

void network_matches(c10::Device device) {
  const std::string dir = reference();
  const auto raw = SafetensorsCheckpoint::open(dir + "/raw.safetensors");
  const cv::Mat src = an::to_mat(photo());
  for (const std::string file : {kStem + ".pt", kStem + ".safetensors"}) {
    const auto m = an::load_normalbae(dir + "/" + file, device);
    for (const std::string size : {"64x64", "192x256"}) {
      const int res = size == "64x64" ? 64 : 192;
      const auto want_in = load_tensor(raw, "input." + size, at::kFloat, at::kCPU);
      // NormalBaeDetector's input: resize_image to the detect resolution, / 255, ImageNet normalisation.
      const auto x = an::normalbae_input(an::to_image(an::resize_image(src, res)), device).cpu();
      EXPECT_LE(relative_error(x, want_in), 1e-6) << size;
      c10::InferenceMode guard;
      const double err = relative_error(an::normalbae_forward(m, want_in.to(device)).cpu(),
                                        load_tensor(raw, "normal." + size, at::kFloat, at::kCPU));
      EXPECT_LE(err, 1e-4) << file << " " << size;
      std::printf("%s %s (%s): out_res1 relative error %.3g\n", file.c_str(), size.c_str(), device.str().c_str(), err);
    }
  }
}

void maps_match(c10::Device device) {
  const std::string dir = reference();
  const auto cases = test::read_json(dir + "/cases.json");
  ASSERT_EQ(cases["cases"].size(), 2u);
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
    const auto d = test::map_diff(got, want, 0);
    EXPECT_LE(d.worst, 1) << name;
    std::printf("%s (%s): max %d, %zu values off of %zu\n", name.c_str(), device.str().c_str(), d.worst, d.over, d.values);
  }
}

}  // namespace

GEN_TEST_CPU_AND_CUDA(NormalBae, NetworkMatchesControlnetAuxBothFormats, network_matches)

GEN_TEST_CPU_AND_CUDA(NormalBae, MapsMatchControlnetAux, maps_match)

TEST(NormalBae, MapFormulaOnKnownNormals) {
  // ((n + 1) · 0.5).clip(0, 1) · 255, truncated; x, y, z → R, G, B; kappa ignored.
  auto n = at::zeros({1, 4, 2, 3});
  n[0][0][0][0] = 1.0f;   // x = 1 → 255
  n[0][1][0][0] = -1.0f;  // y = −1 → 0
  n[0][2][0][0] = 0.0f;   // z = 0 → 127 (127.5 truncated)
  n[0][3][0][0] = 5.0f;
  n[0][0][1][2] = 1.5f;   // beyond 1: clipped
  n[0][1][1][2] = 0.6f;   // 0.8 · 255 = 204.0 (float32: 204.00002)
  n[0][2][1][2] = -2.0f;
  const Image m = an::normalbae_map(n);
  ASSERT_EQ(m.width, 3);
  ASSERT_EQ(m.height, 2);
  EXPECT_EQ(m.at(0, 0, 0), 255);
  EXPECT_EQ(m.at(0, 0, 1), 0);
  EXPECT_EQ(m.at(0, 0, 2), 127);
  EXPECT_EQ(m.at(2, 1, 0), 255);
  EXPECT_EQ(m.at(2, 1, 1), static_cast<int>((0.6f + 1.0f) * 0.5f * 255.0f));
  EXPECT_EQ(m.at(2, 1, 2), 0);
}

TEST(NormalBae, BadInputs) {
  const std::string dir = reference();
  std::string msg;
  EXPECT_EQ(code_of([&] { an::load_normalbae(dir + "/no_such.pt"); }), ErrorCode::NotFound);
  // another kind of file, named by what it is
  const auto controlnet = std::string(GEN_TEST_DATA_DIR) + "/models/controlnet_sd1.safetensors";
  EXPECT_EQ(code_of([&] { an::load_normalbae(controlnet); }, &msg), ErrorCode::ModelMismatch);
  EXPECT_NE(msg.find("not a NormalBAE file (scannet.pt): it looks like a controlnet file"), std::string::npos) << msg;
  const auto depth_anything = std::string(GEN_TEST_DATA_DIR) + "/depth_anything/depth_anything_v2_tiny.safetensors";
  EXPECT_EQ(code_of([&] { an::load_normalbae(depth_anything); }, &msg), ErrorCode::ModelMismatch);
  EXPECT_NE(msg.find("Depth Anything V2 file"), std::string::npos) << msg;
  an::Annotators runner(dir);
  EXPECT_EQ(code_of([&] { runner.run(photo(), "hed:file=" + dir + "/" + kStem + ".safetensors", {}, "photo"); }, &msg),
            ErrorCode::ModelMismatch);
  EXPECT_NE(msg.find("NormalBAE surface-normal file (scannet, for normal_bae)"), std::string::npos) << msg;
  // a tensor missing: listed
  const std::string cut = GEN_BINARY_DIR "/tests/tmp/normalbae-cut.safetensors";
  {
    auto src = SafetensorsCheckpoint::open(dir + "/" + kStem + ".safetensors");
    std::vector<TensorData> keep;
    for (const auto& n : src.names()) {
      if (n == "module.decoder.out_conv_res2.4.bias") continue;
      const auto& info = src.info(n);
      keep.push_back({n, info.dtype, info.shape, src.data(n), static_cast<std::size_t>(info.nbytes())});
    }
    write_safetensors(cut, keep);
  }
  EXPECT_EQ(code_of([&] { an::load_normalbae(cut); }, &msg), ErrorCode::ModelMismatch);
  EXPECT_NE(msg.find("decoder.out_conv_res2.4.bias"), std::string::npos) << msg;
  // only the original .pt in the folder: convert it first (the command names the .pt)
  const std::string only_pt = GEN_BINARY_DIR "/tests/tmp/normalbae-pt";
  std::filesystem::create_directories(only_pt);
  std::filesystem::copy_file(dir + "/" + kStem + ".pt", only_pt + "/" + kStem + ".pt",
                             std::filesystem::copy_options::overwrite_existing);
  an::Annotators pt(only_pt);
  EXPECT_EQ(code_of([&] { pt.run(photo(), "normal_bae", {}, "photo"); }, &msg), ErrorCode::Unsupported);
  EXPECT_NE(msg.find("gen convert " + only_pt + "/" + kStem + ".pt"), std::string::npos) << msg;
  an::Annotators empty(GEN_TEST_DATA_DIR "/control");
  EXPECT_EQ(code_of([&] { empty.run(photo(), "normal_bae", {}, "photo"); }, &msg), ErrorCode::NotFound);
  EXPECT_NE(msg.find(kStem + ".safetensors"), std::string::npos) << msg;
  EXPECT_NE(msg.find("scannet.pt from lllyasviel/Annotators"), std::string::npos) << msg;
  // sizes the network cannot take, options it does not have
  const auto m = an::load_normalbae(dir + "/" + kStem + ".safetensors");
  EXPECT_EQ(code_of([&] { an::normalbae_detect(m, Image::make(100, 64, 3)); }, &msg), ErrorCode::InvalidArgument);
  EXPECT_NE(msg.find("multiples of 32"), std::string::npos) << msg;
  for (const char* bad : {"normal_bae:safe", "normal_bae:a=1", "normal_bae:file="})
    EXPECT_EQ(code_of([&] { an::parse_annotator(bad); }), ErrorCode::InvalidArgument) << bad;
  EXPECT_STREQ(an::parse_annotator("normal_bae").info->name, "normal_bae");
}
