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
#include "pipeline/step_graph.hpp"
#include "kernels.hpp"
#include "models/flops.hpp"
#include <ATen/Context.h>

using namespace gen;

namespace {

constexpr double kTolerance = 1e-4;
const std::string kDir = std::string(GEN_TEST_DATA_DIR) + "/pipeline/";
const std::string kVocab = std::string(GEN_VOCAB_FILE);

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
  req.scheduler =
      SchedulerConfig::from_json(sd2 ? sd2_fixture().configs["scheduler"] : f.configs["scheduler"], req.sampler);
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
  // A pooled ControlNet (global_pool_conditions) in guess mode: diffusers skips the ramp.
  req.control_mode = pipeline::ControlMode::Balanced;
  for (double v : pipeline::residual_scales(req, 2.0, 13, /*pooled=*/true)) EXPECT_DOUBLE_EQ(v, 2.0);
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

// CUDA graphs of the step (pipeline/step_graph.hpp). On the CPU, Mode::Emulate runs the
// same bookkeeping (static input buffers, keys, inputs copied only when they change, the
// output copied out) with eager "replays": the latents must be the eager loop's bit for bit,
// and the FLOPs counted the same.
namespace {

struct GraphCase {
  pipeline::DenoiseRequest req;
  at::Tensor neg, pos;
};

// Two ControlNets with overlapping ranges over 5 steps: the active sets are {0}, {0},
// {0, 1}, {1}, {1} — three keys, two of them used twice in a row.
GraphCase graph_case(const std::string& sampler, const std::string& prompt) {
  auto& f = fixture();
  auto io = SafetensorsCheckpoint::open(kDir + "cases.safetensors");
  pipeline::TextEncoder enc{&f.tokenizer, &f.te};
  GraphCase c;
  std::tie(c.neg, c.pos) = pipeline::encode_prompts(enc, prompt, "blurry");
  c.req.width = 64;
  c.req.height = 48;
  c.req.batch_size = 2;
  c.req.steps = 5;
  c.req.seed = 11;
  c.req.sampler = sampler;
  c.req.scheduler = SchedulerConfig::from_json(f.configs["scheduler"], sampler);
  for (int i = 0; i < 2; ++i) {
    auto image = load_tensor(io, "control_image." + std::to_string(i), at::kFloat, at::kCPU);
    image = at::upsample_bilinear2d(image, {48, 64}, false);
    c.req.controls.push_back({f.nets[i].get(), image, i ? 0.7 : 1.0, i ? 0.4 : 0.0, i ? 1.0 : 0.6});
  }
  return c;
}

}  // namespace

TEST(StepGraphs, EmulatedGraphsGiveTheEagerLatentsBitForBit) {
  if (!std::filesystem::exists(kVocab)) FAIL() << "CLIP vocabulary not found at " << kVocab;
  auto& f = fixture();
  for (const std::string sampler : {"euler_a", "dpmpp_2m"}) {  // noise drawn per step; outputs kept
    auto c = graph_case(sampler, "a red house");
    pipeline::Models eager{&f.unet, &f.vae};
    double f0 = models::flops::total();
    const auto want = pipeline::denoise(eager, c.req, c.neg, c.pos);
    const double eager_flops = models::flops::total() - f0;

    pipeline::StepGraphs graphs(pipeline::StepGraphs::Mode::Emulate);
    pipeline::Models m = eager;
    m.graphs = &graphs;
    f0 = models::flops::total();
    EXPECT_TRUE(at::equal(pipeline::denoise(m, c.req, c.neg, c.pos), want)) << sampler;
    EXPECT_EQ(models::flops::total() - f0, eager_flops) << sampler;
    // Keys {0}, {0,1}, {1} warmed on first use; {0} and {1} captured on their second.
    EXPECT_EQ(graphs.stats().warmups, 3);
    EXPECT_EQ(graphs.stats().captures, 2);
    EXPECT_EQ(graphs.stats().replays, 0);
    EXPECT_EQ(graphs.size(), 3u);

    // The same request again: replays (and the {0,1} key's capture).
    EXPECT_TRUE(at::equal(pipeline::denoise(m, c.req, c.neg, c.pos), want)) << sampler;
    EXPECT_EQ(graphs.stats().warmups, 3);
    EXPECT_EQ(graphs.stats().captures, 3);
    EXPECT_EQ(graphs.stats().replays, 4);

    // Another prompt, the same keys: the new context must reach the static buffers.
    auto other = graph_case(sampler, "a green boat");
    EXPECT_TRUE(at::equal(pipeline::denoise(m, other.req, other.neg, other.pos),
                          pipeline::denoise(eager, other.req, other.neg, other.pos)))
        << sampler;
    EXPECT_EQ(graphs.stats().replays, 9);
    EXPECT_TRUE(graphs.stats().disabled_why.empty());
  }
}

TEST(StepGraphs, NewShapesAndSettingsCaptureAgainWithinTheCapacity) {
  if (!std::filesystem::exists(kVocab)) FAIL() << "CLIP vocabulary not found at " << kVocab;
  auto& f = fixture();
  pipeline::StepGraphs graphs(pipeline::StepGraphs::Mode::Emulate, /*capacity=*/2);
  pipeline::Models eager{&f.unet, &f.vae};
  pipeline::Models m = eager;
  m.graphs = &graphs;
  auto c = graph_case("euler", "a cat");
  c.req.controls.resize(1);
  c.req.controls[0].end = 1.0;  // one key per request
  auto check = [&](const pipeline::DenoiseRequest& req) {
    EXPECT_TRUE(at::equal(pipeline::denoise(m, req, c.neg, c.pos), pipeline::denoise(eager, req, c.neg, c.pos)));
  };
  check(c.req);
  EXPECT_EQ(graphs.stats().captures, 1);
  auto bigger = c.req;  // another size: another graph
  bigger.width = 80;
  bigger.controls[0].image = at::upsample_bilinear2d(c.req.controls[0].image, {48, 80}, false);
  check(bigger);
  EXPECT_EQ(graphs.stats().captures, 2);
  auto stronger = c.req;  // another guidance scale: another graph; the first one is dropped
  stronger.cfg_scale = 3.0;
  check(stronger);
  EXPECT_EQ(graphs.stats().captures, 3);
  EXPECT_EQ(graphs.size(), 2u);
  auto uncond = c.req;  // no guidance: a single pass
  uncond.cfg_scale = 1.0;
  check(uncond);
  check(c.req);  // dropped earlier: warmed and captured again
  EXPECT_EQ(graphs.stats().captures, 5);
  EXPECT_EQ(graphs.stats().warmups, 5);
  graphs.clear();
  EXPECT_EQ(graphs.size(), 0u);
}

// On a GPU: the captured graphs replay the eager step bit for bit (fp16, channels-last, the
// ControlNets' changing active sets), and once the keys are warm and captured the loop
// never makes the host wait for the GPU — Euler a included, whose noise is drawn on the CPU.
TEST(StepGraphs, CudaGraphsReplayTheEagerStepWithoutWaitingForTheGpu) {
  if (!at::hasCUDA() || !kernels::cuda_graphs_available()) GTEST_SKIP() << "no CUDA device";
  if (!std::filesystem::exists(kVocab)) FAIL() << "CLIP vocabulary not found at " << kVocab;
  auto& f = fixture();
  auto weights = SafetensorsCheckpoint::open(kDir + "models.safetensors");
  auto cuda = [&](models::Module& module, const std::string& prefix) {
    models::LoadOptions o;
    o.prefix = prefix;
    o.dtype = at::kHalf;
    o.device = c10::Device(c10::kCUDA);
    models::load_weights(module, weights, o, prefix);
  };
  models::UNet unet(models::UNetConfig::from_diffusers(f.configs["unet"], "unet"));
  models::Vae vae(models::VaeConfig::from_diffusers(f.configs["vae"], "vae"));
  cuda(unet, "model.diffusion_model.");
  cuda(vae, "first_stage_model.");
  auto ccfg = control::ControlNetConfig::from_diffusers(f.configs["controlnet"], "controlnet");
  std::vector<std::unique_ptr<control::ControlNet>> nets;
  for (int i = 0; i < 2; ++i) {
    nets.push_back(std::make_unique<control::ControlNet>(ccfg));
    cuda(*nets.back(), "control." + std::to_string(i) + ".");
  }
  auto c = graph_case("euler_a", "a red house");
  for (int i = 0; i < 2; ++i) c.req.controls[i].net = nets[i].get();
  pipeline::Models eager{&unet, &vae, at::kHalf, c10::Device(c10::kCUDA)};
  const auto want = pipeline::denoise(eager, c.req, c.neg, c.pos).cpu();

  pipeline::StepGraphs graphs(pipeline::StepGraphs::Mode::Cuda);
  pipeline::Models m = eager;
  m.graphs = &graphs;
  EXPECT_TRUE(at::equal(pipeline::denoise(m, c.req, c.neg, c.pos).cpu(), want));
  EXPECT_TRUE(at::equal(pipeline::denoise(m, c.req, c.neg, c.pos).cpu(), want));  // all captured now
  EXPECT_EQ(graphs.stats().captures, 3);
  EXPECT_TRUE(graphs.stats().disabled_why.empty()) << graphs.stats().disabled_why;
  auto req = c.req;
  req.forbid_sync = true;
  at::Tensor again;
  EXPECT_NO_THROW(again = pipeline::denoise(m, req, c.neg, c.pos));
  EXPECT_TRUE(at::equal(again.cpu(), want));
  EXPECT_EQ(graphs.stats().replays, 4 + 5);
}
