// ControlNet Union / ProMax against diffusers' ControlNetUnionModel, one call each, fp32 on the
// CPU (fixture: tools/make_model_fixtures.py, controlnet_union: a random 8-type Union on the tiny
// SDXL config, two condition-transformer layers, batch 3). One condition (the scale acts on the
// residuals, outside), and two at once (their scales act inside the fusion, the residuals are
// left unscaled). Tolerance: relative error (max abs difference over max abs reference) <= 1e-4.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <iostream>

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
const char* const kName = "controlnet_union";

control::ControlNetConfig fixture_config() {
  return control::ControlNetConfig::from_diffusers(read_json(model_fixture(std::string(kName) + ".json")), kName);
}

// The fixture's weights under diffusers' names, through the key table as the loader reads them.
std::unique_ptr<control::ControlNet> load_fixture() {
  const auto cfg = fixture_config();
  auto net = std::make_unique<control::ControlNet>(cfg);
  auto ckpt = SafetensorsCheckpoint::open(model_fixture(std::string(kName) + ".safetensors"));
  models::LoadOptions o;
  const auto hint_blocks = static_cast<std::int64_t>(2 * (cfg.hint_block_channels.size() - 1));
  o.rename = models::unet_key_map(cfg.unet, hint_blocks).renamer(ckpt, "");
  models::load_weights(*net, ckpt, o, kName);
  return net;
}

models::ControlResiduals run(const control::ControlNet& net, Io& io, const std::vector<at::Tensor>& images,
                             const control::UnionCall& call) {
  const auto added = models::added_condition(net.config().unet, io["text_embeds"], io["time_ids"]);
  return net.forward(io["x"], io["t"], io["context"], net.embed_hint(at::cat(images, 0)), nullptr, added, &call);
}

void expect_matches(const models::ControlResiduals& r, Io& io, const std::string& key) {
  ASSERT_EQ(r.down.size(), 6u);  // conv_in + 3 levels × 1 res block + 2 downsamplers
  double worst = 0;
  for (std::size_t i = 0; i < r.down.size(); ++i) {
    const double e = relative_error(r.down[i], io[key + ".down." + std::to_string(i)]);
    EXPECT_LE(e, kTolerance) << key << " residual " << i;
    worst = std::max(worst, e);
  }
  const double e = relative_error(r.middle, io[key + ".mid"]);
  EXPECT_LE(e, kTolerance) << key;
  std::cout << key << ": worst relative error " << std::max(worst, e) << "\n";
}

}  // namespace

TEST(ControlNetUnion, ConfigFromDiffusers) {
  const auto c = fixture_config();
  EXPECT_EQ(c.union_types, 8);
  EXPECT_EQ(c.union_channels, 4);
  EXPECT_EQ(c.union_heads, 2);
  EXPECT_EQ(c.union_layers, 2);
  EXPECT_EQ(c.union_proj_channels, 4);
  EXPECT_EQ(c.union_embed_dim, 4);
  EXPECT_EQ(c.unet.adm_in_channels, 34);
}

// (xinsir's single file, config from its shapes: tests/cli/test_sdxl_union_parity.sh, which needs
// the 32 GroupNorm groups a single file implies; this fixture's 2 groups are in its config only.)

TEST(ControlNetUnion, OneConditionMatchesDiffusers) {
  auto net = load_fixture();
  Io io(kName);
  expect_matches(run(*net, io, {io["hint0"]}, {{1}, {1.0}}), io, "one");
}

TEST(ControlNetUnion, TwoConditionsMatchDiffusers) {
  auto net = load_fixture();
  Io io(kName);
  expect_matches(run(*net, io, {io["hint0"], io["hint1"]}, {{0, 3}, {0.6, 1.3}}), io, "two");
}

TEST(ControlNetUnion, TheTypesMatter) {
  // The one-hot and the task embeddings are used: another type gives other residuals.
  auto net = load_fixture();
  Io io(kName);
  const auto a = run(*net, io, {io["hint0"]}, {{1}, {1.0}});
  const auto b = run(*net, io, {io["hint0"]}, {{4}, {1.0}});
  EXPECT_GT(relative_error(b.middle, a.middle), 1e-3);
  EXPECT_GT(relative_error(b.down[0], a.down[0]), 1e-3);
}

TEST(ControlNetUnion, RefusesACallWithoutTypesOrWithTheWrongCount) {
  auto net = load_fixture();
  Io io(kName);
  const auto added = models::added_condition(net->config().unet, io["text_embeds"], io["time_ids"]);
  const auto hint = net->embed_hint(io["hint0"]);
  EXPECT_THROW(net->forward(io["x"], io["t"], io["context"], hint, nullptr, added), gen::Error);
  const control::UnionCall two{{0, 3}, {1.0, 1.0}};
  EXPECT_THROW(net->forward(io["x"], io["t"], io["context"], hint, nullptr, added, &two), gen::Error);
}

TEST(ControlNetUnion, TypeNames) {
  EXPECT_EQ(control::union_type_index("openpose", 8, "t"), 0);
  EXPECT_EQ(control::union_type_index("depth", 8, "t"), 1);
  EXPECT_EQ(control::union_type_index("scribble", 8, "t"), 2);
  EXPECT_EQ(control::union_type_index("anime_lineart", 8, "t"), 3);
  EXPECT_EQ(control::union_type_index("segment", 8, "t"), 5);
  EXPECT_EQ(control::union_type_index("repaint", 8, "t"), 7);
  EXPECT_EQ(control::union_type_index("6", 8, "t"), 6);
  try {
    control::union_type_index("sketch", 8, "--control-type");
    FAIL() << "an unknown type was taken";
  } catch (const gen::Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
    EXPECT_NE(std::string(e.what()).find("openpose (0), depth (1), hed/pidi/scribble/ted (2)"), std::string::npos)
        << e.what();
  }
  // A 6-type file has no tile.
  EXPECT_THROW(control::union_type_index("tile", 6, "t"), gen::Error);
}
