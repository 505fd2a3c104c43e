// gen — one ControlNet training step on libtorch's autograd, as diffusers'
// examples/controlnet/train_controlnet.py trains (docs/training.md):
//   noisy = √ᾱ_t·latents + √(1−ᾱ_t)·noise (DDPMScheduler.add_noise, float32 ᾱ of the training
//   schedule); residuals = ControlNet(noisy, t, context, hint in [0, 1]); prediction =
//   UNet(noisy, t, context, residuals), the UNet locked (no gradients); the target is the noise
//   (epsilon) or √ᾱ_t·noise − √(1−ᾱ_t)·latents (v_prediction, DDPMScheduler.get_velocity);
//   loss = mean squared error in float32.
// Gradient accumulation as accelerate does it: each micro-batch's loss is divided by the
// number of accumulated micro-batches before backward; every that many micro-batches the
// ControlNet's gradients are clipped to a total 2-norm (max_grad_norm), AdamW steps and the
// gradients are zeroed. The text encoder and the VAE are not involved: the latents (already
// times the VAE's scaling factor) and the text context come in.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "control/controlnet.hpp"
#include "models/unet.hpp"
#include "training/trainer.hpp"

namespace gen::training {

// A micro-batch: latents [B, 4, h, w] (× the VAE's scaling factor), noise like them, timesteps
// [B] (int64, 0 ≤ t < training steps), context [B, L, C] (the frozen text encoder's output),
// hint [B, 3, 8h, 8w] in [0, 1].
struct TrainSample {
  at::Tensor latents, noise, timesteps, context, hint;
};

// The loss of one micro-batch (a scalar with autograd history through the trained model).
// `net` null: the UNet alone (text-to-image training; `hint` unused).
at::Tensor noise_prediction_loss(const models::UNet& unet, const control::ControlNet* net, const TrainSample& s,
                                 const at::Tensor& alphas_cumprod, Target target);
inline at::Tensor noise_prediction_loss(const models::UNet& unet, const control::ControlNet& net, const TrainSample& s,
                                        const at::Tensor& alphas_cumprod, Target target) {
  return noise_prediction_loss(unet, &net, s, alphas_cumprod, target);
}

class ControlNetTrainer {
 public:
  // Makes the ControlNet's parameters trainable f32 leaves (copies) and the UNet's not.
  // `alphas_cumprod`: the training schedule (schedulers/scheduler.hpp sched::alphas_cumprod).
  ControlNetTrainer(models::UNet& unet, control::ControlNet& net, const std::vector<float>& alphas_cumprod,
                    const TrainSettings& settings);
  ~ControlNetTrainer();
  // Forward and backward of one micro-batch; steps the optimizer when it completes an
  // accumulation. Returns the micro-batch's loss (not divided).
  double micro_step(const TrainSample& s);
  // micro_step's two halves: forward + backward of loss / accumulation (the gradients can be
  // read in between), then the optimizer step when an accumulation is complete (returns
  // whether it stepped).
  double forward_backward(const TrainSample& s);
  bool finish_micro_step();
  std::int64_t optimizer_steps() const { return trainer_.optimizer_steps(); }
  // The trained parameters by (LDM) name, in the ControlNet's order.
  const std::vector<std::string>& names() const { return trainer_.names(); }
  const std::vector<at::Tensor>& parameters() const { return trainer_.parameters(); }
  torch::optim::AdamW& optimizer() { return trainer_.optimizer(); }
  ParameterTrainer& trainer() { return trainer_; }

 private:
  models::UNet& unet_;
  control::ControlNet& net_;
  at::Tensor alphas_cumprod_;
  TrainSettings settings_;
  ParameterTrainer trainer_;
};

}  // namespace gen::training
