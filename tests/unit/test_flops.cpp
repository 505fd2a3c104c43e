// The FLOP counter (src/models/flops) against PyTorch's own (torch.utils.flop_counter) on
// the diffusers / transformers models of the fixtures: the same shapes must give the same
// count, exactly (tests/data/models/flops.json, tools/make_flop_fixtures.py).
#include <gtest/gtest.h>

#include "control/controlnet.hpp"
#include "model_fixtures.hpp"
#include "models/clip_text.hpp"
#include "models/flops.hpp"
#include "models/loader.hpp"
#include "models/unet.hpp"
#include "models/vae.hpp"

using namespace gen;
using gen::test::Io;
using gen::test::model_fixture;
using gen::test::read_json;

namespace {

double reference(const std::string& key) { return read_json(model_fixture("flops.json")).at(key).get<double>(); }

template <class M>
void load(M& model, const std::string& name) {
  auto ckpt = SafetensorsCheckpoint::open(model_fixture(name + ".safetensors"));
  models::load_weights(model, ckpt, models::LoadOptions{}, name);
}

template <class F>
double counted(F&& f) {
  const double before = models::flops::total();
  f();
  return models::flops::total() - before;
}

}  // namespace

TEST(Flops, UNetMatchesTorchFlopCounter) {
  models::UNet unet(models::UNetConfig::from_diffusers(read_json(model_fixture("unet_sd1.json")), "unet_sd1"));
  load(unet, "unet_sd1");
  Io io("unet_sd1");
  EXPECT_EQ(counted([&] { unet.forward(io["x"], io["t"], io["context"]); }), reference("unet_sd1"));
}

TEST(Flops, ControlNetMatchesTorchFlopCounter) {
  control::ControlNet net(control::ControlNetConfig::from_diffusers(read_json(model_fixture("controlnet_sd1.json")),
                                                                    "controlnet_sd1"));
  load(net, "controlnet_sd1");
  Io io("controlnet_sd1");
  EXPECT_EQ(counted([&] { net.forward(io["x"], io["t"], io["context"], net.embed_hint(io["hint"])); }),
            reference("controlnet_sd1"));
}

TEST(Flops, VaeDecodeMatchesTorchFlopCounter) {
  models::Vae vae(models::VaeConfig::from_diffusers(read_json(model_fixture("vae.json")), "vae"));
  load(vae, "vae");
  Io io("vae");
  EXPECT_EQ(counted([&] { vae.decode(io["z"]); }), reference("vae_decode"));
}

TEST(Flops, TextEncoderMatchesTorchFlopCounter) {
  auto cfg = models::ClipTextConfig::from_transformers(read_json(model_fixture("te_sd1.json")), "te_sd1");
  cfg.layout = models::ClipTextConfig::Layout::HuggingFace;
  models::ClipTextModel te(cfg);
  load(te, "te_sd1");
  Io io("te_sd1");
  EXPECT_EQ(counted([&] { te.forward(io["ids"], 0); }), reference("te_sd1"));
}

// SDXL: the added condition's MLP (pooled text + time ids), per-level transformer depths and
// linear projections count as PyTorch counts them (the full-size W4 figures in
// docs/performance.md come from the same counter).
TEST(Flops, SdxlUNetMatchesTorchFlopCounter) {
  models::UNet unet(models::UNetConfig::from_diffusers(read_json(model_fixture("unet_sdxl.json")), "unet_sdxl"));
  load(unet, "unet_sdxl");
  Io io("unet_sdxl");
  const auto added = models::added_condition(unet.config(), io["text_embeds"], io["time_ids"]);
  EXPECT_EQ(counted([&] { unet.forward(io["x"], io["t"], io["context"], nullptr, added); }), reference("unet_sdxl"));
}

TEST(Flops, SdxlControlNetMatchesTorchFlopCounter) {
  control::ControlNet net(control::ControlNetConfig::from_diffusers(read_json(model_fixture("controlnet_sdxl.json")),
                                                                    "controlnet_sdxl"));
  load(net, "controlnet_sdxl");
  Io io("controlnet_sdxl");
  const auto added = models::added_condition(net.config().unet, io["text_embeds"], io["time_ids"]);
  EXPECT_EQ(counted([&] { net.forward(io["x"], io["t"], io["context"], net.embed_hint(io["hint"]), nullptr, added); }),
            reference("controlnet_sdxl"));
}
