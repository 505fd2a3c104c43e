// gen — why a result is not finite: a weight file holding NaN/Inf is named (the ControlNets,
// then the text encoder, UNet and VAE of the base model), anything else is numerical
// overflow, with the dtype to try instead.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <utility>
#include <vector>

#include "control/controlnet.hpp"
#include "pipeline/model_cache.hpp"

namespace gen::pipeline {

bool all_finite(const at::Tensor& t);

// The name of the first parameter of `m` holding NaN or Inf, or "".
std::string first_nonfinite(models::Module& m);

// Throws ModelMismatch naming the file whose weights are not finite, else Unsupported
// ("the <stage> produced NaN or Inf values").
[[noreturn]] void diagnose_nonfinite(const std::string& stage, const BaseModel& base,
                                     const std::vector<std::pair<control::ControlNet*, std::string>>& controlnets);

}  // namespace gen::pipeline
