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

// SD 2.x style: linear projections, upcast attention, gelu text encoder padded with 0,
// v-prediction; the VAE is the SD 1.x fixture's.
struct Sd2Fixture {
  Sd2Fixture()
      : configs(test::read_json(kDir + "sd2_configs.json")),
        weights(SafetensorsCheckpoint::open(kDir + "sd2_models.safetensors")),
        unet(models::UNetConfig::from_diffusers(configs["unet"], "unet")),
        te(models::ClipTextConfig::from_transformers(configs["text_encoder"], "text_encoder")) {
    models::LoadOptions o;
    o.prefix = "model.diffusion_model.";
    models::load_weights(unet, weights, o, "sd2 unet");
    o.prefix = "cond_stage_model.transformer.text_model.";
    models::load_weights(te, weights, o, "sd2 text encoder");
  }
  nlohmann::json configs;
  SafetensorsCheckpoint weights;
  models::UNet unet;
  models::ClipTextModel te;
};

Sd2Fixture& sd2_fixture() {
  static Sd2Fixture f;
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

  const bool sd2 = c->value("family", "sd1") == "sd2";
  pipeline::TextEncoder enc{&f.tokenizer, sd2 ? &sd2_fixture().te : &f.te};
  if (sd2) enc.padding = text::ClipPadding::Zero;
  auto [neg, pos] = pipeline::encode_prompts(enc, (*c)["prompt"], (*c)["negative"]);
  pipeline::DenoiseRequest req;
  req.width = (*c)["width"];
  req.height = (*c)["height"];
  req.batch_size = (*c)["batch"];
  req.seed = (*c)["seed"];
  req.cfg_scale = (*c)["cfg"];
  req.steps = (*c)["steps"];
  req.sampler = (*c)["sampler"];
  req.scheduler = SchedulerConfig::from_json(sd2 ? sd2_fixture().configs["scheduler"] : f.configs["scheduler"]);
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
  pipeline::Models m{sd2 ? &sd2_fixture().unet : &f.unet, &f.vae};
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
TEST(Pipeline, Sd2EulerVPrediction) { run_case("sd2_euler_vpred"); }
TEST(Pipeline, Sd2DpmppBatch2VPrediction) { run_case("sd2_dpmpp_2m_vpred"); }

// A1111 emphasis on the embeddings: each token's row scaled by its weight, then the window
// rescaled so its mean is the unweighted one (prompt_parser.hpp states the contract).
TEST(Pipeline, EmphasisScalesRowsAndRestoresTheMean) {
  if (!std::filesystem::exists(kVocab)) FAIL() << "CLIP vocabulary not found at " << kVocab;
  auto& f = fixture();
  pipeline::TextEncoder enc{&f.tokenizer, &f.te};
  auto weighted = pipeline::encode_prompts(enc, "a (cat:1.5) on a [mat]", "").second;
  auto tokens = text::tokenize_prompt(f.tokenizer, "a (cat:1.5) on a [mat]");
  ASSERT_EQ(tokens.windows, 1);
  auto ids = at::tensor(std::vector<std::int64_t>(tokens.ids.begin(), tokens.ids.end())).view({1, 77});
  auto z = f.te.forward(ids, 0);
  auto w = at::tensor(tokens.weights).view({1, 77, 1});
  auto want = z * w;
  want = want * (z.mean() / want.mean());
  EXPECT_LE(test::relative_error(weighted, want), 1e-6);
  // The weights are the A1111 ones: cat × 1.5, mat ÷ 1.1, the rest 1.
  EXPECT_FLOAT_EQ(tokens.weights[2], 1.5f);
  EXPECT_NEAR(tokens.weights[5], 1 / 1.1, 1e-6);
  // Without emphasis syntax the conditioning is the plain text encoder output.
  auto plain = pipeline::encode_prompts(enc, "a cat on a mat", "").second;
  auto plain_ids = at::tensor(std::vector<std::int64_t>(tokens.ids.begin(), tokens.ids.end())).view({1, 77});
  EXPECT_TRUE(at::equal(plain, f.te.forward(plain_ids, 0)));
}

TEST(Pipeline, ControlResidualScales) {
  pipeline::DenoiseRequest req;
  auto balanced = pipeline::residual_scales(req, 0.8, 13);
  for (double v : balanced) EXPECT_DOUBLE_EQ(v, 0.8);
  req.control_mode = pipeline::ControlMode::PromptImportant;  // A1111: s * 0.825 ** (12 - i)
  auto soft = pipeline::residual_scales(req, 0.8, 13);
  EXPECT_NEAR(soft[0], 0.8 * std::pow(0.825, 12), 1e-12);
  EXPECT_NEAR(soft[6], 0.8 * std::pow(0.825, 6), 1e-12);
  EXPECT_DOUBLE_EQ(soft[12], 0.8);
  req.control_mode = pipeline::ControlMode::ControlImportant;
  EXPECT_EQ(pipeline::residual_scales(req, 0.8, 13), soft);
  req.guess_mode = true;  // diffusers: torch.logspace(-1, 0, 13) * scale
  auto guess = pipeline::residual_scales(req, 2.0, 13);
  EXPECT_NEAR(guess[0], 0.2, 1e-12);
  EXPECT_NEAR(guess[6], 2.0 * std::pow(10.0, -0.5), 1e-12);
  EXPECT_NEAR(guess[12], 2.0, 1e-12);
}

// The A1111 modes on the tiny pipeline: deterministic, different from balanced and from
// each other ("control" drops the residuals from the unconditional half).
TEST(Pipeline, ControlModesChangeTheImage) {
  if (!std::filesystem::exists(kVocab)) FAIL() << "CLIP vocabulary not found at " << kVocab;
  auto& f = fixture();
  auto io = SafetensorsCheckpoint::open(kDir + "cases.safetensors");
  pipeline::TextEncoder enc{&f.tokenizer, &f.te};
  auto [neg, pos] = pipeline::encode_prompts(enc, "a house", "");
  pipeline::DenoiseRequest req;
  req.width = 80;
  req.height = 64;
  req.steps = 3;
  req.seed = 4;
  req.controls.push_back({f.nets[0].get(), load_tensor(io, "control_image.0", at::kFloat, at::kCPU), 1.0, 0.0, 1.0});
  pipeline::Models m{&f.unet, &f.vae};
  std::vector<at::Tensor> out;
  for (auto mode : {pipeline::ControlMode::Balanced, pipeline::ControlMode::PromptImportant,
                    pipeline::ControlMode::ControlImportant, pipeline::ControlMode::ControlImportant}) {
    req.control_mode = mode;
    out.push_back(pipeline::denoise(m, req, neg, pos));
  }
  EXPECT_FALSE(at::allclose(out[0], out[1]));
  EXPECT_FALSE(at::allclose(out[1], out[2]));
  EXPECT_TRUE(at::equal(out[2], out[3]));
}
