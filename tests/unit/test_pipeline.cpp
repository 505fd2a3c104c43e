// Whole pipelines against diffusers (tools/make_pipeline_fixtures.py): prompt text →
// tokens → CLIP → denoising loop with CFG, samplers, ControlNets (start/end, several at
// once, guess mode) → VAE decode, fp32 on the CPU, same seeds.
// Tolerance: relative error (max abs difference over max abs reference) <= 1e-4.
#include <gtest/gtest.h>

#include <filesystem>

#include "model_fixtures.hpp"
#include "models/loader.hpp"
#include "pipeline/conditioning.hpp"
#include "pipeline/generate.hpp"

using namespace gen;

namespace {

constexpr double kTolerance = 1e-4;
const std::string kDir = std::string(GEN_TEST_DATA_DIR) + "/pipeline/";
const std::string kVocab = std::string(GEN_SHARED_DIR) + "/data/clip/bpe_simple_vocab_16e6.txt.gz";

struct Fixture {
  Fixture()
      : configs(test::read_json(kDir + "configs.json")),
        weights(SafetensorsCheckpoint::open(kDir + "models.safetensors")),
        unet(models::UNetConfig::from_diffusers(configs["unet"], "unet")),
        vae(models::VaeConfig::from_diffusers(configs["vae"], "vae")),
        te(models::ClipTextConfig::from_transformers(configs["text_encoder"], "text_encoder")),
        tokenizer(text::ClipTokenizer::from_clip_bpe_gz(kVocab)) {
    auto load = [&](models::Module& m, const std::string& prefix) {
      models::LoadOptions o;
      o.prefix = prefix;
      o.strict_unexpected = true;
      models::load_weights(m, weights, o, prefix);
    };
    load(unet, "model.diffusion_model.");
    load(vae, "first_stage_model.");
    load(te, "cond_stage_model.transformer.text_model.");
    auto ccfg = control::ControlNetConfig::from_diffusers(configs["controlnet"], "controlnet");
    for (int i = 0; i < 2; ++i) {
      nets.push_back(std::make_unique<control::ControlNet>(ccfg));
      load(*nets.back(), "control." + std::to_string(i) + ".");
    }
  }
  nlohmann::json configs;
  SafetensorsCheckpoint weights;
  models::UNet unet;
  models::Vae vae;
  models::ClipTextModel te;
  text::ClipTokenizer tokenizer;
  std::vector<std::unique_ptr<control::ControlNet>> nets;
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

void run_case(const std::string& name) {
  if (!std::filesystem::exists(kVocab)) FAIL() << "CLIP vocabulary not found at " << kVocab;
  auto& f = fixture();
  const auto cases = test::read_json(kDir + "cases.json");
  const nlohmann::json* c = nullptr;
  for (const auto& item : cases)
    if (item["name"] == name) c = &item;
  ASSERT_NE(c, nullptr) << name;
  auto io = SafetensorsCheckpoint::open(kDir + "cases.safetensors");

  pipeline::TextEncoder enc{&f.tokenizer, &f.te};
  auto [neg, pos] = pipeline::encode_prompts(enc, (*c)["prompt"], (*c)["negative"]);
  pipeline::DenoiseRequest req;
  req.width = (*c)["width"];
  req.height = (*c)["height"];
  req.batch_size = (*c)["batch"];
  req.seed = (*c)["seed"];
  req.cfg_scale = (*c)["cfg"];
  req.steps = (*c)["steps"];
  req.sampler = (*c)["sampler"];
  req.scheduler = SchedulerConfig::from_json(f.configs["scheduler"]);
  req.guess_mode = c->value("guess", false);
  for (const auto& u : c->value("controls", nlohmann::json::array())) {
    pipeline::ControlUnit unit;
    unit.net = f.nets[u["net"].get<int>()].get();
    unit.image = load_tensor(io, "control_image." + std::to_string(u["image"].get<int>()), at::kFloat, at::kCPU);
    unit.scale = u["scale"];
    unit.start = u["start"];
    unit.end = u["end"];
    req.controls.push_back(unit);
  }
  pipeline::Models m{&f.unet, &f.vae};
  int calls = 0;
  auto latents = pipeline::denoise(m, req, neg, pos, [&](const pipeline::StepInfo&, const at::Tensor&) { ++calls; });
  auto images = pipeline::decode(m, latents);
  EXPECT_EQ(calls, req.steps);
  auto want = load_tensor(io, "image." + name, at::kFloat, at::kCPU);
  EXPECT_LE(test::relative_error(images, want), kTolerance) << name;
}

}  // namespace

TEST(Pipeline, EulerCfgBatch2) { run_case("euler_cfg_batch2"); }
TEST(Pipeline, EulerAncestralWithoutCfg) { run_case("euler_a_no_cfg"); }
TEST(Pipeline, DpmppKarras) { run_case("dpmpp_2m_karras"); }
TEST(Pipeline, DdimEmptyPrompt) { run_case("ddim"); }
TEST(Pipeline, OneControlNetWithEnd) { run_case("control_one"); }
TEST(Pipeline, TwoControlNetsWithRanges) { run_case("control_multi"); }
TEST(Pipeline, GuessMode) { run_case("control_guess"); }
