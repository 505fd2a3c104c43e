// SDXL ControlNets against diffusers' ControlNetModel with an SDXL config, one call each, fp32
// on the CPU (fixtures: tools/make_model_fixtures.py, controlnet_sdxl and controlnet_sdxl_small).
// Tolerance: relative error (max abs difference over max abs reference) <= 1e-4.
#include <gtest/gtest.h>

#include "control/controlnet.hpp"
#include "gen/error.hpp"
#include "model_fixtures.hpp"
#include "models/key_map.hpp"
#include "models/loader.hpp"

using namespace gen;
using gen::test::Io;
using gen::test::model_fixture;
using gen::test::read_json;
using gen::test::relative_error;

namespace {

constexpr double kTolerance = 1e-4;

control::ControlNetConfig fixture_config(const std::string& name) {
  return control::ControlNetConfig::from_diffusers(read_json(model_fixture(name + ".json")), name);
}

// The fixture's weights: LDM names (controlnet_sdxl) or diffusers names through the key table
// (controlnet_sdxl_small).
std::unique_ptr<control::ControlNet> load_fixture(const std::string& name, bool diffusers_names) {
  const auto cfg = fixture_config(name);
  auto net = std::make_unique<control::ControlNet>(cfg);
  auto ckpt = SafetensorsCheckpoint::open(model_fixture(name + ".safetensors"));
  models::LoadOptions o;
  if (diffusers_names) {
    const auto hint_blocks = static_cast<std::int64_t>(2 * (cfg.hint_block_channels.size() - 1));
    o.rename = models::unet_key_map(cfg.unet, hint_blocks).renamer(ckpt, "");
  }
  models::load_weights(*net, ckpt, o, name);
  return net;
}

void check_against_diffusers(const std::string& name, bool diffusers_names, std::size_t residuals) {
  auto net = load_fixture(name, diffusers_names);
  Io io(name);
  const auto added = models::added_condition(net->config().unet, io["text_embeds"], io["time_ids"]);
  EXPECT_LE(relative_error(added, io["added"]), kTolerance);
  const auto r = net->forward(io["x"], io["t"], io["context"], net->embed_hint(io["hint"]), nullptr, added);
  ASSERT_EQ(r.down.size(), residuals);
  for (std::size_t i = 0; i < r.down.size(); ++i)
    EXPECT_LE(relative_error(r.down[i], io["down." + std::to_string(i)]), kTolerance) << name << " residual " << i;
  EXPECT_LE(relative_error(r.middle, io["mid"]), kTolerance) << name;
}

}  // namespace

TEST(SdxlControlNet, ConfigFromDiffusers) {
  const auto c = fixture_config("controlnet_sdxl").unet;
  EXPECT_EQ(c.adm_in_channels, 34);
  EXPECT_EQ(c.addition_time_embed_dim, 4);
  EXPECT_EQ(c.context_dim, 20);
  EXPECT_FALSE(c.has_attention(0));  // no attention at the top level, as SDXL's UNet
  EXPECT_EQ(c.depth_down(1), 1);
  EXPECT_EQ(c.depth_down(2), 2);
  EXPECT_EQ(c.depth_mid(), 2);
  EXPECT_TRUE(c.use_linear_in_transformer);
  // "small": transformers without blocks (norm, proj_in, proj_out), the middle one too.
  const auto s = fixture_config("controlnet_sdxl_small").unet;
  EXPECT_EQ(s.depth_down(1), 0);
  EXPECT_EQ(s.depth_down(2), 0);
  EXPECT_EQ(s.depth_mid(), 0);
}

TEST(SdxlControlNet, MatchesDiffusers) {
  // conv_in + 3 levels × 1 res block + 2 downsamplers
  check_against_diffusers("controlnet_sdxl", false, 6);
}

TEST(SdxlControlNet, SmallVariantMatchesDiffusers) { check_against_diffusers("controlnet_sdxl_small", true, 6); }

TEST(SdxlControlNet, TheAddedConditionChangesTheResiduals) {
  // label_emb is used: another pooled text gives other residuals.
  auto net = load_fixture("controlnet_sdxl", false);
  Io io("controlnet_sdxl");
  const auto hint = net->embed_hint(io["hint"]);
  const auto& cfg = net->config().unet;
  const auto a = net->forward(io["x"], io["t"], io["context"], hint, nullptr,
                              models::added_condition(cfg, io["text_embeds"], io["time_ids"]));
  const auto b = net->forward(io["x"], io["t"], io["context"], hint, nullptr,
                              models::added_condition(cfg, io["text_embeds"] * 2, io["time_ids"]));
  EXPECT_GT(relative_error(b.middle, a.middle), 1e-3);
}

TEST(SdxlControlNet, RefusesAMissingOrStrayAddedCondition) {
  auto net = load_fixture("controlnet_sdxl", false);
  Io io("controlnet_sdxl");
  const auto hint = net->embed_hint(io["hint"]);
  try {
    net->forward(io["x"], io["t"], io["context"], hint);
    FAIL() << "ran without the added condition";
  } catch (const gen::Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
    EXPECT_NE(std::string(e.what()).find("needs an added condition [B, 34]"), std::string::npos) << e.what();
  }
  // (an SD 1.x ControlNet has no label_emb: an added condition is refused)
  control::ControlNet sd1(control::ControlNetConfig::from_diffusers(read_json(model_fixture("controlnet_sd1.json")),
                                                                   "controlnet_sd1"));
  auto ckpt = SafetensorsCheckpoint::open(model_fixture("controlnet_sd1.safetensors"));
  models::load_weights(sd1, ckpt, models::LoadOptions{}, "controlnet_sd1");
  Io io1("controlnet_sd1");
  EXPECT_THROW(sd1.forward(io1["x"], io1["t"], io1["context"], sd1.embed_hint(io1["hint"]), nullptr,
                           at::zeros({2, 34})),
               gen::Error);
}
