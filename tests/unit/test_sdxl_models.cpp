// The SDXL models against diffusers / transformers, one call each, fp32 on the CPU
// (fixtures: tools/make_model_fixtures.py, unet_sdxl and te_sdxl).
// Tolerance: relative error (max abs difference over max abs reference) <= 1e-4.
#include <gtest/gtest.h>

#include "gen/error.hpp"
#include "model_fixtures.hpp"
#include "models/clip_text.hpp"
#include "models/key_map.hpp"
#include "models/loader.hpp"
#include "models/sdxl_text.hpp"
#include "models/unet.hpp"

using namespace gen;
using gen::test::Io;
using gen::test::model_fixture;
using gen::test::read_json;
using gen::test::relative_error;

namespace {

constexpr double kTolerance = 1e-4;

void load(models::Module& model, const std::string& file, std::function<std::string(const std::string&)> rename = {}) {
  auto ckpt = SafetensorsCheckpoint::open(model_fixture(file));
  models::LoadOptions o;
  o.rename = std::move(rename);
  models::load_weights(model, ckpt, o, file);
}

models::UNetConfig sdxl_unet_config() {
  return models::UNetConfig::from_diffusers(read_json(model_fixture("unet_sdxl.json")), "unet_sdxl");
}

}  // namespace

TEST(SdxlModels, UNetConfigFromDiffusers) {
  const auto c = sdxl_unet_config();
  EXPECT_EQ(c.block_channels, (std::vector<std::int64_t>{4, 8, 8}));
  EXPECT_EQ(c.attention_resolutions, (std::vector<std::int64_t>{2, 4}));  // none at the top level
  EXPECT_FALSE(c.has_attention(0));
  EXPECT_EQ(c.depth_down(1), 1);
  EXPECT_EQ(c.depth_down(2), 2);
  EXPECT_EQ(c.depth_mid(), 2);
  EXPECT_TRUE(c.use_linear_in_transformer);
  EXPECT_EQ(c.adm_in_channels, 34);
  EXPECT_EQ(c.addition_time_embed_dim, 4);
}

TEST(SdxlModels, AddedConditionMatchesDiffusers) {
  Io io("unet_sdxl");
  EXPECT_LE(relative_error(models::added_condition(sdxl_unet_config(), io["text_embeds"], io["time_ids"]),
                           io["added"]),
            kTolerance);
}

TEST(SdxlModels, UNetMatchesDiffusers) {
  models::UNet unet(sdxl_unet_config());
  load(unet, "unet_sdxl.safetensors");
  Io io("unet_sdxl");
  const auto added = models::added_condition(unet.config(), io["text_embeds"], io["time_ids"]);
  EXPECT_LE(relative_error(unet.forward(io["x"], io["t"], io["context"], nullptr, added), io["out"]), kTolerance);
}

TEST(SdxlModels, KeyMapRelatesLabelEmbToAddEmbedding) {
  const auto map = models::unet_key_map(sdxl_unet_config());
  EXPECT_EQ(map("label_emb.0.0.weight"), "add_embedding.linear_1.weight");
  EXPECT_EQ(map("label_emb.0.2.bias"), "add_embedding.linear_2.bias");
  EXPECT_EQ(map.to_ldm("add_embedding.linear_2.weight"), "label_emb.0.2.weight");
  // The top level has no attention: input_blocks.1 is a res block only, input_blocks.3 has one.
  EXPECT_EQ(map("input_blocks.3.1.proj_in.weight"), "down_blocks.1.attentions.0.proj_in.weight");
  EXPECT_EQ(map("output_blocks.5.0.in_layers.0.weight"), "up_blocks.2.resnets.1.norm1.weight");
}

TEST(SdxlModels, UNetRefusesAMissingOrStrayAddedCondition) {
  models::UNet unet(sdxl_unet_config());
  load(unet, "unet_sdxl.safetensors");
  Io io("unet_sdxl");
  try {
    unet.forward(io["x"], io["t"], io["context"]);
    FAIL() << "ran without the added condition";
  } catch (const gen::Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
    EXPECT_NE(std::string(e.what()).find("needs an added condition [B, 34]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(models::added_condition(unet.config(), io["text_embeds"], io["time_ids"].narrow(1, 0, 5)), gen::Error);
  models::UNet plain(models::UNetConfig::from_diffusers(read_json(model_fixture("unet_sd1.json")), "unet_sd1"));
  EXPECT_THROW(models::added_condition(plain.config(), io["text_embeds"], io["time_ids"]), gen::Error);
}

namespace {

struct TextEncoders {
  std::unique_ptr<models::ClipTextModel> first, second;
};

// CLIP-L in HF names; the second encoder in HF names or OpenCLIP names (the LDM file's).
TextEncoders sdxl_text(models::ClipTextConfig::Layout second_layout) {
  const auto j = read_json(model_fixture("te_sdxl.json"));
  auto c1 = models::ClipTextConfig::from_transformers(j["text_encoder"], "te_sdxl text_encoder");
  auto c2 = models::ClipTextConfig::from_transformers(j["text_encoder_2"], "te_sdxl text_encoder_2", true);
  c2.layout = second_layout;
  TextEncoders t{std::make_unique<models::ClipTextModel>(c1), std::make_unique<models::ClipTextModel>(c2)};
  load(*t.first, "te_sdxl_1.safetensors");
  load(*t.second, second_layout == models::ClipTextConfig::Layout::OpenClip ? "te_sdxl.safetensors"
                                                                             : "te_sdxl_2_hf.safetensors");
  return t;
}

void check_encode_prompt(models::ClipTextConfig::Layout layout) {
  const auto t = sdxl_text(layout);
  Io io("te_sdxl");
  for (const std::string which : {"", "negative_"}) {
    const auto ids = io[which + "ids"];
    const auto got = models::encode_sdxl_text(t.first.get(), *t.second, ids, ids);
    EXPECT_LE(relative_error(got.context, io[which + "context"]), kTolerance) << which;
    EXPECT_LE(relative_error(got.pooled, io[which + "pooled"]), kTolerance) << which;
  }
}

}  // namespace

TEST(SdxlModels, EncodePromptMatchesDiffusersHfLayout) { check_encode_prompt(models::ClipTextConfig::Layout::HuggingFace); }
TEST(SdxlModels, EncodePromptMatchesDiffusersOpenClipLayout) { check_encode_prompt(models::ClipTextConfig::Layout::OpenClip); }

TEST(SdxlModels, RefinerContextIsTheSecondEncodersAlone) {
  const auto t = sdxl_text(models::ClipTextConfig::Layout::OpenClip);
  Io io("te_sdxl");
  const auto ids = io["ids"];
  const auto got = models::encode_sdxl_text(nullptr, *t.second, at::Tensor(), ids);
  // diffusers' refiner (text_encoder None) takes the second encoder's part of the same context.
  const auto width1 = t.first->config().width;
  EXPECT_LE(relative_error(got.context, io["context"].narrow(2, width1, io["context"].size(2) - width1)), kTolerance);
  EXPECT_LE(relative_error(got.pooled, io["pooled"]), kTolerance);
}

TEST(SdxlModels, SecondEncoderWithoutProjectionIsRefused) {
  const auto t = sdxl_text(models::ClipTextConfig::Layout::OpenClip);
  Io io("te_sdxl");
  EXPECT_THROW(models::encode_sdxl_text(nullptr, *t.first, at::Tensor(), io["ids"]), gen::Error);
}
