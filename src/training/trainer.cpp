#include "training/trainer.hpp"

#include <ATen/ATen.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>

#include "core/fail.hpp"

namespace gen::training {

ParameterTrainer::ParameterTrainer(models::Module& m, const TrainSettings& settings) : settings_(settings) {
  if (settings.accumulation < 1) fail(ErrorCode::InvalidArgument, "gradient accumulation", "must be at least 1");
  m.visit([&](const std::string& n, models::Module::Param& p) {
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

ParameterTrainer::~ParameterTrainer() = default;

double ParameterTrainer::backward(const at::Tensor& loss) {
  (loss / settings_.accumulation).backward();
  return loss.item<double>();
}

bool ParameterTrainer::finish_micro_step() {
  if (++pending_ < settings_.accumulation) return false;
  if (settings_.max_grad_norm > 0) torch::nn::utils::clip_grad_norm_(params_, settings_.max_grad_norm);
  optimizer_->step();
  optimizer_->zero_grad(/*set_to_none=*/false);
  pending_ = 0;
  ++steps_;
  return true;
}

void freeze(models::Module& m) {
  m.visit([](const std::string&, models::Module::Param& p) {
    if (p.value.defined() && p.value.requires_grad()) p.value = p.value.detach();
  });
}

}  // namespace gen::training
