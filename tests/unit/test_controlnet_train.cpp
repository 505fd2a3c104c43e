// The ControlNet training step against diffusers' train_controlnet.py logic
// (tools/controlnet_train_reference.py, fixtures tests/data/training/step_*.safetensors): the
// tiny SD 1.5 UNet locked, the tiny ControlNet trained, fp32 on the CPU, the reference's inputs.
//   loss of every micro-batch, every ControlNet gradient after the first backward, and every
//   ControlNet parameter after 3 AdamW steps: within 1e-4 of the reference, relative to the
//   largest magnitude of that tensor in the reference.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "control/controlnet_files.hpp"
#include "models/key_map.hpp"
#include "models/model_files.hpp"
#include "schedulers/scheduler.hpp"
#include "tensor/tensor_file.hpp"
#include "training/controlnet_step.hpp"

namespace {

const std::string kLayouts = GEN_TEST_DATA_DIR "/layouts/diffusers";
constexpr double kRel = 1e-4;

// max |got − want| / max |want| (0 when both are zero).
double rel_error(const at::Tensor& got, const at::Tensor& want) {
  const double scale = want.abs().max().item<double>();
  const double err = (got.to(at::kDouble) - want.to(at::kDouble)).abs().max().item<double>();
  return scale == 0 ? err : err / scale;
}

struct Models {
  std::unique_ptr<gen::models::UNet> unet;
  std::unique_ptr<gen::control::ControlNet> net;
  std::unique_ptr<gen::models::ClipTextModel> text;
  std::vector<float> alphas;
};

Models load() {
  Models m;
  const auto files = gen::models::ModelFiles::open(kLayouts + "/tiny-sd15-pipeline");
  m.unet = files.load_unet(at::kFloat, at::kCPU);
  m.text = files.load_text_encoder(at::kFloat, at::kCPU);
  m.net = gen::control::load_controlnet(kLayouts + "/tiny-controlnet", *m.unet, at::kFloat, at::kCPU);
  const auto cfg = gen::SchedulerConfig::from_file(kLayouts + "/tiny-sd15-pipeline/scheduler/scheduler_config.json", "ddim");
  m.alphas = gen::sched::alphas_cumprod(cfg);
  return m;
}

void check_case(const std::string& name) {
  SCOPED_TRACE(name);
  const auto fx = gen::read_tensor_file(GEN_TEST_DATA_DIR "/training/step_" + name + ".safetensors");
  const auto& t = fx.tensors;
  const auto& meta = fx.metadata;
  auto m = load();
  gen::training::TrainSettings s;
  s.learning_rate = std::stod(meta.at("lr"));
  s.accumulation = std::stoi(meta.at("accumulation"));
  s.max_grad_norm = std::stod(meta.at("max_grad_norm"));
  s.target = meta.at("target") == "epsilon" ? gen::training::Target::Epsilon : gen::training::Target::VPrediction;
  const int micro = std::stoi(meta.at("micro_batches"));
  gen::training::ControlNetTrainer trainer(*m.unet, *m.net, m.alphas, s);
  const auto& cfg = m.net->config();
  const auto map = gen::models::unet_key_map(cfg.unet, static_cast<std::int64_t>(2 * (cfg.hint_block_channels.size() - 1)));
  const auto losses = t.at("loss");
  ASSERT_EQ(losses.numel(), micro);
  for (int i = 0; i < micro; ++i) {
    const auto in = [&](const std::string& k) { return t.at("in." + std::to_string(i) + "." + k); };
    gen::training::TrainSample sample{in("latents"), in("noise"), in("timesteps"), in("context"),
                                      in("hint").to(at::kFloat) / 255};
    // The frozen text encoder: gen's CLIP gives the reference's context.
    EXPECT_LT(rel_error(m.text->forward(in("ids")), in("context")), 1e-5) << "micro-batch " << i;
    const double loss = trainer.forward_backward(sample);
    EXPECT_NEAR(loss, losses[i].item<double>(), kRel * std::abs(losses[i].item<double>())) << "micro-batch " << i;
    if (i == 0) {
      double worst = 0;
      for (std::size_t k = 0; k < trainer.names().size(); ++k) {
        const auto ref_name = "grad." + map(trainer.names()[k]);
        ASSERT_TRUE(t.count(ref_name)) << ref_name;
        const auto& grad = trainer.parameters()[k].grad();
        ASSERT_TRUE(grad.defined()) << ref_name;
        const double e = rel_error(grad, t.at(ref_name));
        worst = std::max(worst, e);
        EXPECT_LE(e, kRel) << ref_name;
      }
      std::printf("[ %s ] worst gradient relative error %.3g\n", name.c_str(), worst);
    }
    trainer.finish_micro_step();
  }
  EXPECT_EQ(trainer.optimizer_steps(), 3);
  double worst = 0;
  for (std::size_t k = 0; k < trainer.names().size(); ++k) {
    const auto ref_name = "after." + map(trainer.names()[k]);
    ASSERT_TRUE(t.count(ref_name)) << ref_name;
    const double e = rel_error(trainer.parameters()[k], t.at(ref_name));
    worst = std::max(worst, e);
    EXPECT_LE(e, kRel) << ref_name;
  }
  std::printf("[ %s ] worst weight relative error after 3 steps %.3g\n", name.c_str(), worst);
}

}  // namespace

TEST(ControlNetTrain, EpsilonMatchesDiffusers) { check_case("epsilon"); }

TEST(ControlNetTrain, VPredictionWithAccumulationMatchesDiffusers) { check_case("vpred_accum2"); }

// The locked UNet gets no gradients; a ControlNet with every weight trainable does.
TEST(ControlNetTrain, OnlyTheControlNetLearns) {
  auto m = load();
  gen::training::ControlNetTrainer trainer(*m.unet, *m.net, m.alphas, {});
  const auto fx = gen::read_tensor_file(GEN_TEST_DATA_DIR "/training/step_epsilon.safetensors").tensors;
  gen::training::TrainSample s{fx.at("in.0.latents"), fx.at("in.0.noise"), fx.at("in.0.timesteps"),
                               fx.at("in.0.context"), fx.at("in.0.hint").to(at::kFloat) / 255};
  trainer.forward_backward(s);
  m.unet->visit([](const std::string& n, gen::models::Module::Param& p) {
    EXPECT_FALSE(p.value.requires_grad()) << n;
    EXPECT_FALSE(p.value.grad().defined()) << n;
  });
  for (const auto& p : trainer.parameters()) EXPECT_TRUE(p.grad().defined());
}
