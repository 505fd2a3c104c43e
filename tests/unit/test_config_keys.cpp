// The config keys of the model classes gen reads from diffusers folders (src/arch/config_keys.cpp)
// against diffusers' / transformers' own classes (tests/data/models/config_defaults.json, from
// tools/make_config_defaults.py): the same defaults, a verdict for every key; and the configs
// built from them (per-level heads, depths and channels as diffusers accepts them).
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "arch/config_keys.hpp"
#include "arch/configs.hpp"
#include "gen/error.hpp"

namespace {

using gen::ErrorCode;
using nlohmann::json;

json committed() {
  std::ifstream in(std::string(GEN_TEST_DATA_DIR) + "/models/config_defaults.json");
  EXPECT_TRUE(in) << "tests/data/models/config_defaults.json";
  return in ? json::parse(in) : json();
}

template <class F>
std::pair<ErrorCode, std::string> outcome(F&& f) {
  try {
    f();
  } catch (const gen::Error& e) {
    return {e.code(), e.what()};
  }
  return {ErrorCode::Ok, ""};
}

// A two-level UNet config as a diffusers folder might hold it.
json two_levels() {
  return json{{"block_out_channels", {32, 48}},
              {"down_block_types", {"CrossAttnDownBlock2D", "CrossAttnDownBlock2D"}},
              {"up_block_types", {"CrossAttnUpBlock2D", "CrossAttnUpBlock2D"}},
              {"norm_num_groups", 16},
              {"cross_attention_dim", 32},
              {"layers_per_block", 1}};
}

}  // namespace

TEST(ConfigKeys, DefaultsAndKeysAreTheReferenceClasses) {
  const json doc = committed();
  ASSERT_TRUE(doc.is_object());
  for (const auto& cls : gen::arch::config_classes()) {
    ASSERT_TRUE(doc["classes"].contains(cls)) << cls;
    const json& want = doc["classes"][cls];
    EXPECT_EQ(gen::arch::class_defaults(cls), want) << cls;
    std::set<std::string> theirs, ours;
    for (const auto& [key, value] : want.items()) theirs.insert(key);
    for (const auto& rule : gen::arch::key_rules(cls)) {
      EXPECT_TRUE(ours.insert(rule.key).second) << cls << ": " << rule.key << " twice";
      if (rule.use == gen::arch::KeyUse::Fixed) {
        EXPECT_TRUE(rule.allowed.is_array() && !rule.allowed.empty()) << cls << ": " << rule.key;
      }
    }
    for (const auto& k : theirs) EXPECT_TRUE(ours.count(k)) << cls << ": diffusers reads '" << k << "', gen has no verdict";
    for (const auto& k : ours) EXPECT_TRUE(theirs.count(k)) << cls << ": gen has a verdict for '" << k << "', unknown to diffusers";
    // The class's own defaults are accepted.
    EXPECT_NO_THROW(gen::arch::with_class_defaults(json::object(), cls, cls)) << cls;
  }
}

TEST(ConfigKeys, FixedKeysAreRefusedByName) {
  json c = two_levels();
  c["flip_sin_to_cos"] = false;
  auto [code, msg] = outcome([&] { gen::models::UNetConfig::from_diffusers(c, "unet/config.json"); });
  EXPECT_EQ(code, ErrorCode::Unsupported);
  EXPECT_NE(msg.find("flip_sin_to_cos"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unet/config.json"), std::string::npos) << msg;
  c = two_levels();
  c["time_cond_proj_dim"] = 256;
  EXPECT_EQ(outcome([&] { gen::models::UNetConfig::from_diffusers(c, "u"); }).first, ErrorCode::Unsupported);
  EXPECT_EQ(outcome([&] { gen::models::VaeConfig::from_diffusers(json{{"use_quant_conv", false}}, "v"); }).first,
            ErrorCode::Unsupported);
  EXPECT_EQ(outcome([&] { gen::models::ClipTextConfig::from_transformers(json{{"hidden_act", "relu"}}, "t"); }).first,
            ErrorCode::Unsupported);
  // Shapes gen cannot build, each refused with its own message.
  c = two_levels();
  c["transformer_layers_per_block"] = json::array({json::array({1}), json::array({2})});
  EXPECT_EQ(outcome([&] { gen::models::UNetConfig::from_diffusers(c, "u"); }).first, ErrorCode::Unsupported);
  c = two_levels();
  c["layers_per_block"] = {1, 2};
  EXPECT_EQ(outcome([&] { gen::models::UNetConfig::from_diffusers(c, "u"); }).first, ErrorCode::Unsupported);
  c = two_levels();
  c["up_block_types"] = {"CrossAttnUpBlock2D", "UpBlock2D"};
  c["down_block_types"] = {"CrossAttnDownBlock2D", "DownBlock2D"};
  EXPECT_EQ(outcome([&] { gen::models::UNetConfig::from_diffusers(c, "u"); }).first, ErrorCode::Unsupported);
  c = two_levels();
  c["down_block_types"] = {"SimpleCrossAttnDownBlock2D", "DownBlock2D"};
  EXPECT_EQ(outcome([&] { gen::models::UNetConfig::from_diffusers(c, "u"); }).first, ErrorCode::Unsupported);
}

// Per-level head counts of unequal head sizes, per-level depths and channels that are not
// multiples of the first: built as diffusers builds them.
TEST(ConfigKeys, PerLevelHeadsDepthsAndChannels) {
  json c = two_levels();
  c["attention_head_dim"] = {2, 5};
  c["transformer_layers_per_block"] = {1, 3};
  const auto u = gen::models::UNetConfig::from_diffusers(c, "u");
  EXPECT_EQ(u.block_channels, (std::vector<std::int64_t>{32, 48}));
  EXPECT_EQ(u.model_channels, 32);
  EXPECT_EQ(u.attention_at(0).heads, 2);
  EXPECT_EQ(u.attention_at(0).head_dim, 16);
  EXPECT_EQ(u.attention_at(1).heads, 5);
  EXPECT_EQ(u.attention_at(1).head_dim, 9);  // 48 / 5 rounded down: 45 channels attend
  EXPECT_EQ(u.attention_mid().heads, 5);
  EXPECT_EQ(u.depth_down(0), 1);
  EXPECT_EQ(u.depth_down(1), 3);
  EXPECT_EQ(u.depth_up(1), 3);  // reversed, as diffusers reverses the list for the up blocks
  EXPECT_EQ(u.depth_mid(), 3);  // the last level's
  c["reverse_transformer_layers_per_block"] = {4, 2};  // up order: the deepest level first
  const auto r = gen::models::UNetConfig::from_diffusers(c, "u");
  EXPECT_EQ(r.depth_up(1), 4);
  EXPECT_EQ(r.depth_up(0), 2);
  c["num_attention_heads"] = {4, 4};  // wins over attention_head_dim
  EXPECT_EQ(gen::models::UNetConfig::from_diffusers(c, "u").attention_at(1).head_dim, 12);
  const auto v = gen::models::VaeConfig::from_diffusers(
      json{{"block_out_channels", {16, 24, 40}}, {"norm_num_groups", 8},
           {"down_block_types", {"DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"}},
           {"up_block_types", {"UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"}}},
      "v");
  EXPECT_EQ(v.block_channels, (std::vector<std::int64_t>{16, 24, 40}));
  EXPECT_EQ(v.channels, 16);
}

// A key the file lacks takes the class's default, not Stable Diffusion's.
TEST(ConfigKeys, AbsentKeysTakeTheClassDefaults) {
  json c = two_levels();
  c.erase("cross_attention_dim");
  c.erase("layers_per_block");
  const auto u = gen::models::UNetConfig::from_diffusers(c, "u");
  EXPECT_EQ(u.context_dim, 1280);
  EXPECT_EQ(u.num_res_blocks, 2);
  EXPECT_EQ(u.attention_at(0).heads, 8);
  const auto t = gen::models::ClipTextConfig::from_transformers(json::object(), "t");
  EXPECT_EQ(t.width, 512);
  EXPECT_EQ(t.heads, 8);
  EXPECT_EQ(t.ff_dim, 2048);
  EXPECT_EQ(t.layers, 12);
  const auto v = gen::models::VaeConfig::from_diffusers(json::object(), "v");
  EXPECT_EQ(v.block_channels, (std::vector<std::int64_t>{64}));
  EXPECT_EQ(v.num_res_blocks, 1);
}

TEST(ConfigKeys, ControlNetOrderAndPooling) {
  json c = two_levels();
  c.erase("up_block_types");
  c["conditioning_embedding_out_channels"] = {8, 16};
  auto n = gen::control::ControlNetConfig::from_diffusers(c, "cn");
  EXPECT_FALSE(n.bgr);
  EXPECT_FALSE(n.global_average_pooling);
  c["controlnet_conditioning_channel_order"] = "bgr";
  c["global_pool_conditions"] = true;
  n = gen::control::ControlNetConfig::from_diffusers(c, "cn");
  EXPECT_TRUE(n.bgr);
  EXPECT_TRUE(n.global_average_pooling);
  EXPECT_EQ(n.hint_block_channels, (std::vector<std::int64_t>{8, 16}));
  c["controlnet_conditioning_channel_order"] = "grb";
  EXPECT_EQ(outcome([&] { gen::control::ControlNetConfig::from_diffusers(c, "cn"); }).first, ErrorCode::InvalidFormat);
}
