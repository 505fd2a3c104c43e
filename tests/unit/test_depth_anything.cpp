// Depth Anything V2 against transformers' DepthAnythingForDepthEstimation (fixtures made by
// tools/depth_anything_reference.py: a tiny random model saved under the original key names as
// the original .pth files are, plus a .safetensors copy). fp32 on the CPU.
// Tolerances: network outputs ≤ 1e-4 relative (max |got − want| / max |want|); the 8-bit map
// within 1 level, with the count of differing pixels reported.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>
#include <fstream>
#include <string>

#include "annotator_test_util.hpp"
#include "annotators/annotator_files.hpp"
#include "annotators/depth_anything.hpp"
#include "gen/error.hpp"
#include "gen/image.hpp"
#include "gen/safetensors.hpp"
#include "tensor/from_safetensors.hpp"

using namespace gen;
using namespace gen::annotators;

namespace {

constexpr double kTolerance = 1e-4;
constexpr int kInputSize = 42;  // tools/depth_anything_reference.py INPUT_SIZE (cases.json)

std::string data(const std::string& name) { return std::string(GEN_TEST_DATA_DIR) + "/depth_anything/" + name; }

struct Io {
  Io() : ckpt(SafetensorsCheckpoint::open(data("depth_io.safetensors"))) {}
  at::Tensor operator[](const std::string& key) const {
    return load_tensor(ckpt, key, ckpt.info(key).dtype == DType::U8 ? at::kByte : at::kFloat, at::kCPU);
  }
  SafetensorsCheckpoint ckpt;
};

double relative_error(const at::Tensor& got, const at::Tensor& want) {
  EXPECT_EQ(got.sizes(), want.sizes());
  if (got.sizes() != want.sizes()) return 1e30;
  return (got - want).abs().max().item<double>() / want.abs().max().item<double>();
}

Image image(const std::string& key) { return read_image(data("image_" + key + ".png")); }

template <class F>
ErrorCode code_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.code();
  }
  return ErrorCode::Ok;
}

template <class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(DepthAnything, ConfigFromTheOriginalKeys) {
  auto m = load_depth_anything(data("depth_anything_v2_tiny.pth"));
  EXPECT_EQ(m.config.variant, "custom");
  EXPECT_EQ(m.config.embed_dim, 8);
  EXPECT_EQ(m.config.depth, 4);
  EXPECT_EQ(m.config.heads, 1);
  EXPECT_EQ(m.config.grid, 4);
  EXPECT_EQ(m.config.features, 4);
  EXPECT_EQ((m.config.neck), (std::array<std::int64_t, 4>{4, 4, 8, 8}));
  EXPECT_EQ((m.config.layers), (std::array<std::int64_t, 4>{0, 1, 2, 3}));
  // The variants of the released files, from the width alone.
  std::map<std::string, std::vector<std::int64_t>> s{{"pretrained.patch_embed.proj.weight", {384, 3, 14, 14}},
                                                     {"pretrained.pos_embed", {1, 1370, 384}},
                                                     {"depth_head.scratch.output_conv1.weight", {32, 64, 3, 3}}};
  EXPECT_EQ(depth_anything_variant(s), "vits");
  s["pretrained.patch_embed.proj.weight"] = {1024, 3, 14, 14};
  EXPECT_EQ(depth_anything_variant(s), "vitl");
}

// A Hugging Face -hf repository's model.safetensors: transformers' own save_pretrained of the
// fixture model (tools/depth_anything_reference.py). It is recognised as what it is, loads into
// the very weights of the original-layout file, and a damaged one is refused with the tensor named.
TEST(DepthAnything, HuggingFaceLayout) {
  const std::string hf = data("depth_anything_v2_tiny_hf.safetensors");
  auto ckpt = SafetensorsCheckpoint::open(hf);
  std::map<std::string, std::vector<std::int64_t>> shapes;
  for (const auto& n : ckpt.names()) shapes[n] = ckpt.info(n).shape;
  const auto f = identify_annotator(shapes);
  EXPECT_EQ(f.kind, "depth_anything");
  EXPECT_EQ(f.layout, "transformers");
  EXPECT_EQ(f.variant, "custom");
  EXPECT_EQ(f.width, 8);
  EXPECT_EQ(original_file(f), "model.safetensors of depth-anything/Depth-Anything-V2-*-hf");
  shapes["backbone.embeddings.patch_embeddings.projection.weight"] = {384, 3, 14, 14};
  EXPECT_EQ(original_file(identify_annotator(shapes)), "model.safetensors of depth-anything/Depth-Anything-V2-Small-hf");

  // The same weights: the same output, bit for bit, as the original-layout file's.
  auto a = load_depth_anything(hf);
  auto b = load_depth_anything(data("depth_anything_v2_tiny.pth"));
  EXPECT_EQ(a.config.embed_dim, b.config.embed_dim);
  EXPECT_EQ(a.config.depth, b.config.depth);
  Io io;
  c10::InferenceMode inference;
  for (const std::string k : {"a", "b"})
    EXPECT_TRUE(at::equal(depth_anything_forward(a, io["input." + k]), depth_anything_forward(b, io["input." + k]))) << k;

  // Damaged copies: one tensor left out, one unknown tensor added.
  auto write_without = [&](const std::string& drop, const std::string& add, const std::string& path) {
    std::vector<TensorData> keep;
    for (const auto& n : ckpt.names()) {
      if (n == drop) continue;
      const auto& info = ckpt.info(n);
      keep.push_back({n, info.dtype, info.shape, ckpt.data(n), static_cast<std::size_t>(info.nbytes())});
    }
    static const float one = 1.0f;
    if (!add.empty()) keep.push_back({add, DType::F32, {1}, &one, sizeof one});
    write_safetensors(path, keep);
    return path;
  };
  const std::string tmp = GEN_BINARY_DIR "/tests/tmp/";
  std::filesystem::create_directories(tmp);
  const auto no_key = write_without("backbone.encoder.layer.1.attention.attention.key.weight", "", tmp + "da-hf-no-key.safetensors");
  EXPECT_EQ(code_of([&] { load_depth_anything(no_key); }), ErrorCode::ModelMismatch);
  EXPECT_NE(message_of([&] { load_depth_anything(no_key); }).find("pretrained.blocks.1.attn.qkv.weight"), std::string::npos)
      << message_of([&] { load_depth_anything(no_key); });
  const auto extra = write_without("", "neck.extra.weight", tmp + "da-hf-extra.safetensors");
  EXPECT_NE(message_of([&] { load_depth_anything(extra); }).find("neck.extra.weight"), std::string::npos)
      << message_of([&] { load_depth_anything(extra); });
  for (const std::string hostile : {"neck.convs.x.weight", "neck.convs.99999999999.weight", "backbone.encoder.layer.abc.norm1.weight",
                                    "neck.fusion_stage.layers.7.projection.weight", "neck.reassemble_stage.layers.0",
                                    "backbone.encoder.layer.01.norm1.weight"}) {
    const auto bad = write_without("", hostile, tmp + "da-hf-hostile.safetensors");
    EXPECT_EQ(code_of([&] { load_depth_anything(bad); }), ErrorCode::ModelMismatch) << hostile;
    EXPECT_NE(message_of([&] { load_depth_anything(bad); }).find(hostile), std::string::npos) << hostile;
  }
  const auto no_head = write_without("head.conv3.weight", "", tmp + "da-hf-no-head.safetensors");
  EXPECT_NE(message_of([&] { load_depth_anything(no_head); }).find("depth_head.scratch.output_conv2.2.weight"),
            std::string::npos)
      << message_of([&] { load_depth_anything(no_head); });
}

TEST(DepthAnything, PreprocessingMatchesTheOriginalRepo) {
  Io io;
  for (const std::string k : {"a", "b"}) {
    auto x = depth_anything_input(image(k), kInputSize, at::kCPU);
    EXPECT_LE(relative_error(x, io["input." + k]), 1e-5) << k;
  }
  // Released input size 518: a 640×480 image becomes 686×518 (the shorter side to 518, multiple of 14).
  EXPECT_EQ(depth_anything_input_size(640, 480, 518), (std::pair<int, int>{686, 518}));
}

namespace {

void network_matches(c10::Device device) {
  Io io;
  for (const std::string file :
       {"depth_anything_v2_tiny.pth", "depth_anything_v2_tiny.safetensors", "depth_anything_v2_tiny_hf.safetensors"}) {
    auto m = load_depth_anything(data(file), device);
    c10::InferenceMode inference;
    for (const std::string k : {"a", "b"}) {
      m.pos_embed = PosEmbedResize::TargetSize;  // transformers' Dinov2
      const auto hf = relative_error(depth_anything_forward(m, io["input." + k].to(device)).cpu(), io["depth_hf." + k]);
      EXPECT_LE(hf, kTolerance) << file << " " << k;
      m.pos_embed = PosEmbedResize::Original;  // the original DINOv2 (+0.1 scale factor)
      const auto orig =
          relative_error(depth_anything_forward(m, io["input." + k].to(device)).cpu(), io["depth_orig." + k]);
      EXPECT_LE(orig, kTolerance) << file << " " << k;
      std::cout << file << " (" << device.str() << ") image " << k << ": relative error " << hf << " (transformers), " << orig
                << " (original interpolation)\n";
    }
  }
}

void map_within_one_level(c10::Device device) {
  Io io;
  auto m = load_depth_anything(data("depth_anything_v2_tiny.pth"), device);
  for (const std::string k : {"a", "b"}) {
    const auto img = image(k);
    EXPECT_LE(relative_error(depth_anything_depth(m, img, kInputSize).cpu(), io["depth_full." + k]), kTolerance) << k;
    const auto map = depth_anything_map(m, img, kInputSize);
    const auto want = io["map." + k];
    ASSERT_EQ(map.width, img.width);
    ASSERT_EQ(map.height, img.height);
    ASSERT_EQ(map.channels, 3);
    int worst = 0, differing = 0;
    for (int y = 0; y < map.height; ++y)
      for (int x = 0; x < map.width; ++x) {
        const int w = want[y][x].item<std::uint8_t>();
        const int diff = std::abs(static_cast<int>(map.at(x, y, 0)) - w);
        worst = std::max(worst, diff);
        differing += diff != 0;
        EXPECT_EQ(map.at(x, y, 0), map.at(x, y, 2));
      }
    EXPECT_LE(worst, 1) << k;
    std::cout << "image " << k << " (" << device.str() << "): " << differing << " of " << map.width * map.height
              << " pixels differ by 1 level from the reference map\n";
  }
}

}  // namespace

GEN_TEST_CPU_AND_CUDA(DepthAnything, NetworkMatchesTransformersBothFormats, network_matches)

GEN_TEST_CPU_AND_CUDA(DepthAnything, MapWithinOneLevel, map_within_one_level)

TEST(DepthAnything, BadInputsOneMessageEach) {
  // A missing file.
  EXPECT_EQ(code_of([] { load_depth_anything(data("no_such.pth")); }), ErrorCode::NotFound);
  // Another kind of file: a ControlNet (the control fixture of the pipeline tests) is named.
  const auto controlnet = std::string(GEN_TEST_DATA_DIR) + "/models/controlnet_sd1.safetensors";
  const auto msg = message_of([&] { load_depth_anything(controlnet); });
  EXPECT_NE(msg.find("not a Depth Anything V2 file: it looks like a controlnet file"), std::string::npos) << msg;
  EXPECT_EQ(code_of([&] { load_depth_anything(controlnet); }), ErrorCode::ModelMismatch);
  // A Depth Anything file missing a tensor: listed.
  const auto dir = std::filesystem::temp_directory_path() / "gen_depth_anything_test";
  std::filesystem::create_directories(dir);
  {
    auto src = SafetensorsCheckpoint::open(data("depth_anything_v2_tiny.safetensors"));
    std::vector<TensorData> keep;
    for (const auto& n : src.names()) {
      if (n == "depth_head.scratch.refinenet2.out_conv.bias") continue;
      const auto& info = src.info(n);
      keep.push_back({n, info.dtype, info.shape, src.data(n), static_cast<std::size_t>(info.nbytes())});
    }
    write_safetensors((dir / "partial.safetensors").string(), keep);
  }
  const auto partial = message_of([&] { load_depth_anything((dir / "partial.safetensors").string()); });
  EXPECT_NE(partial.find("1 missing: depth_head.scratch.refinenet2.out_conv.bias"), std::string::npos) << partial;
  // A 1×1 image.
  auto m = load_depth_anything(data("depth_anything_v2_tiny.safetensors"));
  const auto tiny = Image::make(1, 1, 3);
  EXPECT_EQ(code_of([&] { depth_anything_map(m, tiny); }), ErrorCode::InvalidArgument);
  EXPECT_NE(message_of([&] { depth_anything_map(m, tiny); }).find("1×1"), std::string::npos);
  // An aspect that would make an impossible network input.
  const auto strip = Image::make(4000, 2, 3);
  EXPECT_EQ(code_of([&] { depth_anything_map(m, strip); }), ErrorCode::InvalidArgument);
  std::filesystem::remove_all(dir);
}
