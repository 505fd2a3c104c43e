#include "training/controlnet_step.hpp"

#include <ATen/ATen.h>

namespace gen::training {

namespace {

// ᾱ_t per sample, shaped to broadcast over [B, C, H, W] (float32, as DDPMScheduler computes).
at::Tensor per_sample(const at::Tensor& alphas_cumprod, const at::Tensor& timesteps, const at::Tensor& like) {
  return alphas_cumprod.to(like.device()).index_select(0, timesteps.to(like.device(), at::kLong)).view({-1, 1, 1, 1});
}

}  // namespace

at::Tensor noise_prediction_loss(const models::UNet& unet, const control::ControlNet* net, const TrainSample& s,
                                 const at::Tensor& alphas_cumprod, Target target) {
  const auto a = per_sample(alphas_cumprod, s.timesteps, s.latents);
  const auto sqrt_a = a.sqrt(), sqrt_1ma = (1 - a).sqrt();
  const auto noisy = sqrt_a * s.latents + sqrt_1ma * s.noise;
  at::Tensor pred;
  if (net) {
    const auto residuals = net->forward(noisy, s.timesteps, s.context, net->embed_hint(s.hint));
    pred = unet.forward(noisy, s.timesteps, s.context, &residuals);
  } else {
    pred = unet.forward(noisy, s.timesteps, s.context, nullptr);
  }
  const auto want = target == Target::Epsilon ? s.noise : sqrt_a * s.noise - sqrt_1ma * s.latents;
  return at::mse_loss(pred.to(at::kFloat), want.to(at::kFloat));
}

ControlNetTrainer::ControlNetTrainer(models::UNet& unet, control::ControlNet& net,
                                     const std::vector<float>& alphas_cumprod, const TrainSettings& settings)
    : unet_(unet), net_(net), alphas_cumprod_(at::tensor(alphas_cumprod, at::kFloat)), settings_(settings),
      trainer_((freeze(unet), net), settings) {}

ControlNetTrainer::~ControlNetTrainer() = default;

double ControlNetTrainer::forward_backward(const TrainSample& s) {
  at::Tensor loss;
  {
    ForwardScope scope(settings_.precision, settings_.gradient_checkpointing);
    loss = noise_prediction_loss(unet_, &net_, s, alphas_cumprod_, settings_.target);
  }
  return trainer_.backward(loss);
}

bool ControlNetTrainer::finish_micro_step() { return trainer_.finish_micro_step(); }

double ControlNetTrainer::micro_step(const TrainSample& s) {
  const double loss = forward_backward(s);
  finish_micro_step();
  return loss;
}

}  // namespace gen::training
