#include "training/controlnet_step.hpp"

#include <ATen/ATen.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>

#include "core/fail.hpp"

namespace gen::training {

namespace {

// ᾱ_t per sample, shaped to broadcast over [B, C, H, W] (float32, as DDPMScheduler computes).
at::Tensor per_sample(const at::Tensor& alphas_cumprod, const at::Tensor& timesteps, const at::Tensor& like) {
  return alphas_cumprod.to(like.device()).index_select(0, timesteps.to(like.device(), at::kLong)).view({-1, 1, 1, 1});
}

}  // namespace

at::Tensor noise_prediction_loss(const models::UNet& unet, const control::ControlNet& net, const TrainSample& s,
                                 const at::Tensor& alphas_cumprod, Target target) {
  const auto a = per_sample(alphas_cumprod, s.timesteps, s.latents);
  const auto sqrt_a = a.sqrt(), sqrt_1ma = (1 - a).sqrt();
  const auto noisy = sqrt_a * s.latents + sqrt_1ma * s.noise;
  const auto residuals = net.forward(noisy, s.timesteps, s.context, net.embed_hint(s.hint));
  const auto pred = unet.forward(noisy, s.timesteps, s.context, &residuals);
  const auto want = target == Target::Epsilon ? s.noise : sqrt_a * s.noise - sqrt_1ma * s.latents;
  return at::mse_loss(pred.to(at::kFloat), want.to(at::kFloat));
}

ControlNetTrainer::ControlNetTrainer(models::UNet& unet, control::ControlNet& net,
                                     const std::vector<float>& alphas_cumprod, const TrainSettings& settings)
    : unet_(unet), net_(net), settings_(settings) {
  if (settings.accumulation < 1) fail(ErrorCode::InvalidArgument, "gradient accumulation", "must be at least 1");
  alphas_cumprod_ = at::tensor(alphas_cumprod, at::kFloat);
  unet_.visit([](const std::string&, models::Module::Param& p) {
    if (p.value.defined() && p.value.requires_grad()) p.value = p.value.detach();
  });
  net_.visit([&](const std::string& n, models::Module::Param& p) {
    p.value = p.value.detach().to(at::kFloat).clone().requires_grad_(true);
    names_.push_back(n);
    params_.push_back(p.value);
  });
  optimizer_ = std::make_unique<torch::optim::AdamW>(
      params_, torch::optim::AdamWOptions(settings.learning_rate)
                   .betas({settings.beta1, settings.beta2})
                   .eps(settings.epsilon)
                   .weight_decay(settings.weight_decay));
}

ControlNetTrainer::~ControlNetTrainer() = default;

double ControlNetTrainer::forward_backward(const TrainSample& s) {
  const auto loss = noise_prediction_loss(unet_, net_, s, alphas_cumprod_, settings_.target);
  (loss / settings_.accumulation).backward();
  return loss.item<double>();
}

bool ControlNetTrainer::finish_micro_step() {
  if (++pending_ < settings_.accumulation) return false;
  if (settings_.max_grad_norm > 0) torch::nn::utils::clip_grad_norm_(params_, settings_.max_grad_norm);
  optimizer_->step();
  optimizer_->zero_grad(/*set_to_none=*/false);
  pending_ = 0;
  ++steps_;
  return true;
}

double ControlNetTrainer::micro_step(const TrainSample& s) {
  const double loss = forward_backward(s);
  finish_micro_step();
  return loss;
}

}  // namespace gen::training
