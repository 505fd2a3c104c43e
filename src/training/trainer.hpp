// gen — the optimizer side of training, shared by every model gen trains: a module's
// parameters as f32 leaves, AdamW (torch.optim.AdamW), gradient accumulation as accelerate does
// it (each micro-batch's loss divided by the number of micro-batches before backward; every that
// many, the gradients clipped to a total 2-norm, one AdamW step, gradients zeroed).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "models/module.hpp"
#include "training/precision.hpp"

namespace torch::optim {
class AdamW;
}

namespace gen::training {

enum class Target { Epsilon, VPrediction };

// diffusers train_controlnet.py's defaults (torch.optim.AdamW, constant learning rate).
struct TrainSettings {
  double learning_rate = 5e-6;
  double beta1 = 0.9, beta2 = 0.999;
  double weight_decay = 1e-2;
  double epsilon = 1e-8;
  double max_grad_norm = 1.0;  // <= 0: no clipping
  int accumulation = 1;        // micro-batches per optimizer step
  Target target = Target::Epsilon;
  Precision precision = Precision::Fp32;  // the forward's (training/precision.hpp)
  bool gradient_checkpointing = false;    // recompute UNet / ControlNet blocks in backward
};

class ParameterTrainer {
 public:
  // Makes every parameter of `m` a trainable f32 leaf (a copy), in visiting order.
  ParameterTrainer(models::Module& m, const TrainSettings& settings);
  ~ParameterTrainer();
  // backward() of loss / accumulation; returns the loss (not divided).
  double backward(const at::Tensor& loss);
  // Counts a micro-batch; steps the optimizer when an accumulation is complete (returns whether it did).
  bool finish_micro_step();
  std::int64_t optimizer_steps() const { return steps_; }
  const std::vector<std::string>& names() const { return names_; }
  const std::vector<at::Tensor>& parameters() const { return params_; }
  torch::optim::AdamW& optimizer() { return *optimizer_; }
  const TrainSettings& settings() const { return settings_; }

 private:
  TrainSettings settings_;
  std::vector<std::string> names_;
  std::vector<at::Tensor> params_;
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  int pending_ = 0;
  std::int64_t steps_ = 0;
};

// Detaches every parameter of a module that is not trained (no gradients flow into it).
void freeze(models::Module& m);

}  // namespace gen::training
