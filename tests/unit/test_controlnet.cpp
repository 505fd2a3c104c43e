// The ControlNet against diffusers' ControlNetModel, fp32 on the CPU.
// Tolerance: relative error (max abs difference over max abs reference) <= 1e-4.
#include <gtest/gtest.h>

#include "control/controlnet.hpp"
#include "model_fixtures.hpp"
#include "models/loader.hpp"
#include "safetensors_test_util.hpp"
#include "tensor/from_safetensors.hpp"

using namespace gen;
using gen::test::Io;
using gen::test::model_fixture;
using gen::test::read_json;
using gen::test::relative_error;

namespace {

constexpr double kTolerance = 1e-4;

std::unique_ptr<control::ControlNet> load_fixture_controlnet() {
  auto cfg = control::ControlNetConfig::from_diffusers(read_json(model_fixture("controlnet_sd1.json")),
                                                       "controlnet_sd1");
  auto net = std::make_unique<control::ControlNet>(cfg);
  auto ckpt = SafetensorsCheckpoint::open(model_fixture("controlnet_sd1.safetensors"));
  models::load_weights(*net, ckpt, models::LoadOptions{}, "controlnet_sd1");
  return net;
}

}  // namespace

TEST(ControlNet, MatchesDiffusers) {
  auto net = load_fixture_controlnet();
  Io io("controlnet_sd1");
  auto hint = net->embed_hint(io["hint"]);
  EXPECT_LE(relative_error(hint, io["hint_embedding"]), kTolerance);
  auto r = net->forward(io["x"], io["t"], io["context"], hint);
  ASSERT_EQ(r.down.size(), 9u);  // conv_in + 3 levels × 2 res blocks + 2 downsamplers
  for (std::size_t i = 0; i < r.down.size(); ++i)
    EXPECT_LE(relative_error(r.down[i], io["down." + std::to_string(i)]), kTolerance) << "residual " << i;
  EXPECT_LE(relative_error(r.middle, io["mid"]), kTolerance);
}

TEST(ControlNet, SixteenBitWeightsKeptNarrowGiveTheF32ResultsBitForBit) {
  // An F16 copy of the fixture, loaded for fp32 computation twice: widened at load, and kept
  // 16-bit and widened layer by layer (models::LoadOptions::keep_16bit). Same bits out.
  auto src = SafetensorsCheckpoint::open(model_fixture("controlnet_sd1.safetensors"));
  std::vector<at::Tensor> halves;
  std::vector<TensorData> tensors;
  for (const auto& n : src.names()) {
    halves.push_back(load_tensor(src, n, at::kHalf, at::kCPU));
    const auto& info = src.info(n);
    tensors.push_back({n, DType::F16, info.shape, halves.back().data_ptr(),
                       static_cast<std::size_t>(halves.back().nbytes())});
  }
  const auto path = gen_test::test_dir() + "/controlnet_sd1_f16.safetensors";
  write_safetensors(path, tensors);
  auto ckpt = SafetensorsCheckpoint::open(path);
  auto cfg = control::ControlNetConfig::from_diffusers(read_json(model_fixture("controlnet_sd1.json")), "cn");
  control::ControlNet wide(cfg), narrow(cfg);
  models::LoadOptions opt;
  models::load_weights(wide, ckpt, opt, "cn");
  opt.keep_16bit = true;
  models::load_weights(narrow, ckpt, opt, "cn");
  narrow.visit([](const std::string& name, models::Module::Param& p) { ASSERT_EQ(p.value.scalar_type(), at::kHalf) << name; });
  Io io("controlnet_sd1");
  auto a = wide.forward(io["x"], io["t"], io["context"], wide.embed_hint(io["hint"]));
  auto b = narrow.forward(io["x"], io["t"], io["context"], narrow.embed_hint(io["hint"]));
  ASSERT_EQ(a.down.size(), b.down.size());
  for (std::size_t i = 0; i < a.down.size(); ++i) EXPECT_TRUE(at::equal(a.down[i], b.down[i])) << "residual " << i;
  EXPECT_TRUE(at::equal(a.middle, b.middle));
}

TEST(ControlNet, SharesTheUNetEncoderNames) {
  // Built by the same code as the UNet's encoder: the same parameter names and shapes.
  auto cfg = control::ControlNetConfig::sd15();
  control::ControlNet net(cfg);
  models::UNet unet(cfg.unet);
  std::map<std::string, std::vector<std::int64_t>> unet_params;
  unet.visit([&](const std::string& n, models::Module::Param& p) { unet_params[n] = p.shape; });
  std::size_t shared = 0, extra = 0;
  net.visit([&](const std::string& n, models::Module::Param& p) {
    auto it = unet_params.find(n);
    if (it != unet_params.end()) {
      EXPECT_EQ(it->second, p.shape) << n;
      ++shared;
    } else {
      EXPECT_TRUE(n.rfind("input_hint_block.", 0) == 0 || n.rfind("zero_convs.", 0) == 0 ||
                  n.rfind("middle_block_out.", 0) == 0) << n;
      ++extra;
    }
  });
  EXPECT_GT(shared, 0u);
  EXPECT_EQ(extra, 8u * 2 + 12u * 2 + 2u);  // hint convs, 12 zero convs, middle out (weight + bias)
  // sum(p.numel()) of diffusers' ControlNetModel(cross_attention_dim=768), the SD 1.5 shape.
  EXPECT_EQ(net.parameter_count(), 361279120);
}

TEST(ControlNet, GlobalAveragePoolingAveragesResiduals) {
  auto net = load_fixture_controlnet();
  auto cfg = net->config();
  cfg.global_average_pooling = true;
  control::ControlNet pooled(cfg);
  auto ckpt = SafetensorsCheckpoint::open(model_fixture("controlnet_sd1.safetensors"));
  models::load_weights(pooled, ckpt, models::LoadOptions{}, "controlnet_sd1");
  Io io("controlnet_sd1");
  auto hint = net->embed_hint(io["hint"]);
  auto a = net->forward(io["x"], io["t"], io["context"], hint);
  auto b = pooled.forward(io["x"], io["t"], io["context"], hint);
  for (std::size_t i = 0; i < a.down.size(); ++i)
    EXPECT_TRUE(at::allclose(b.down[i], a.down[i].mean({2, 3}, true)));
  EXPECT_TRUE(at::allclose(b.middle, a.middle.mean({2, 3}, true)));
}
