// The models against diffusers / transformers, one call each, fp32 on the CPU.
// Tolerance: relative error (max abs difference over max abs reference) <= 1e-4.
#include <gtest/gtest.h>

#include "gen/error.hpp"
#include "model_fixtures.hpp"
#include "models/clip_text.hpp"
#include "models/loader.hpp"
#include "models/unet.hpp"
#include "models/vae.hpp"

using namespace gen;
using gen::test::Io;
using gen::test::model_fixture;
using gen::test::read_json;
using gen::test::relative_error;

namespace {

constexpr double kTolerance = 1e-4;

template <class M>
void load(M& model, const std::string& name) {
  auto ckpt = SafetensorsCheckpoint::open(model_fixture(name + ".safetensors"));
  models::load_weights(model, ckpt, models::LoadOptions{}, name);
}

void check_unet(const std::string& name) {
  auto cfg = models::UNetConfig::from_diffusers(read_json(model_fixture(name + ".json")), name);
  models::UNet unet(cfg);
  load(unet, name);
  Io io(name);
  auto out = unet.forward(io["x"], io["t"], io["context"]);
  EXPECT_LE(relative_error(out, io["out"]), kTolerance);

  models::ControlResiduals res;
  for (int i = 0; io.ckpt.contains("down_residual." + std::to_string(i)); ++i)
    res.down.push_back(io["down_residual." + std::to_string(i)]);
  res.middle = io["mid_residual"];
  auto out2 = unet.forward(io["x"], io["t"], io["context"], &res);
  EXPECT_LE(relative_error(out2, io["out_with_residuals"]), kTolerance);
}

}  // namespace

TEST(Models, UNetSd1MatchesDiffusers) { check_unet("unet_sd1"); }
TEST(Models, UNetSd2MatchesDiffusers) { check_unet("unet_sd2"); }

TEST(Models, UNetConfigFromDiffusers) {
  auto c = models::UNetConfig::from_diffusers(read_json(model_fixture("unet_sd2.json")), "unet_sd2");
  EXPECT_EQ(c.model_channels, 8);
  EXPECT_EQ(c.block_channels, (std::vector<std::int64_t>{8, 16, 16}));
  EXPECT_EQ(c.attention_resolutions, (std::vector<std::int64_t>{1, 2}));
  for (std::size_t l = 0; l < c.levels(); ++l) EXPECT_EQ(c.attention_at(l).head_dim, 4);
  EXPECT_TRUE(c.use_linear_in_transformer);
}

TEST(Models, Sd15UNetHasTheReferenceParameterCount) {
  models::UNet unet(models::UNetConfig::sd15());
  // sum(p.numel()) of diffusers' UNet2DConditionModel(cross_attention_dim=768), the SD 1.5 shape.
  EXPECT_EQ(unet.parameter_count(), 859520964);
}

void check_text(const std::string& name, models::ClipTextConfig::Layout layout) {
  auto cfg = models::ClipTextConfig::from_transformers(read_json(model_fixture(name + ".json")), name);
  cfg.layout = layout;
  models::ClipTextModel te(cfg);
  load(te, name);
  Io io(name);
  EXPECT_LE(relative_error(te.forward(io["ids"], 0), io["last"]), kTolerance);
  EXPECT_LE(relative_error(te.forward(io["ids"], 1), io["penultimate"]), kTolerance);
}

TEST(Models, ClipTextHfLayoutMatchesTransformers) {
  check_text("te_sd1", models::ClipTextConfig::Layout::HuggingFace);
}
TEST(Models, ClipTextOpenClipLayoutMatchesTransformers) {
  check_text("te_sd2", models::ClipTextConfig::Layout::OpenClip);
}

TEST(Models, VaeDecodeAndEncodeMatchDiffusers) {
  auto cfg = models::VaeConfig::from_diffusers(read_json(model_fixture("vae.json")), "vae");
  models::Vae vae(cfg);
  load(vae, "vae");
  Io io("vae");
  EXPECT_LE(relative_error(vae.decode(io["z"]), io["image"]), kTolerance);
  auto [mean, logvar] = vae.encode(io["x"]);
  EXPECT_LE(relative_error(mean, io["mean"]), kTolerance);
  EXPECT_LE(relative_error(logvar, io["logvar"]), kTolerance);
}

TEST(Models, AsOperandCopiesOnlyWhatItMust) {
  const auto w = at::randn({4, 3}), x = at::randn({2, 3});
  EXPECT_TRUE(models::as_operand(w, x).is_same(w));  // same dtype and device: the weight itself
  const auto h = w.to(at::kHalf);
  const auto wide = models::as_operand(h, x);
  EXPECT_EQ(wide.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(wide, h.to(at::kFloat)));
  const auto ids = at::tensor({0, 2}, at::kLong);
  EXPECT_TRUE(models::on_device_of(w, ids).is_same(w));  // the dtype is the table's own
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device (the host-to-GPU copy of sequential offload)";
  const auto pinned = h.pin_memory();
  const auto xg = x.to(at::kCUDA);
  const auto g = models::as_operand(pinned, xg);
  EXPECT_TRUE(g.is_cuda());
  EXPECT_EQ(g.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(g.cpu(), h.to(at::kFloat)));
  EXPECT_TRUE(models::on_device_of(pinned, ids.to(at::kCUDA)).is_cuda());
}

TEST(Models, LoaderListsMissingMisshapedAndUnexpected) {
  // The SD 1.x fixture's weights cannot fill the SD 2.x-style UNet (linear projections).
  auto cfg = models::UNetConfig::from_diffusers(read_json(model_fixture("unet_sd2.json")), "unet_sd2");
  models::UNet unet(cfg);
  try {
    load(unet, "unet_sd1");
    FAIL() << "loaded mismatched weights";
  } catch (const gen::Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::ModelMismatch);
    const std::string msg = e.what();
    EXPECT_NE(msg.find("unet_sd1: tensors do not match"), std::string::npos) << msg;
    EXPECT_NE(msg.find("mis-shaped"), std::string::npos) << msg;
    EXPECT_NE(msg.find("proj_in.weight [8, 8, 1, 1] (expected [8, 8])"), std::string::npos) << msg;
  }
}
