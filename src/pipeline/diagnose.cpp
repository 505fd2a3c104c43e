#include "pipeline/diagnose.hpp"

#include <ATen/ATen.h>

#include "core/fail.hpp"

namespace gen::pipeline {

bool all_finite(const at::Tensor& t) { return t.isfinite().all().item<bool>(); }

std::string first_nonfinite(models::Module& m) {
  std::string found;
  m.visit([&](const std::string& name, models::Module::Param& p) {
    if (found.empty() && p.value.defined() && p.value.is_floating_point() && !all_finite(p.value)) found = name;
  });
  return found;
}

void diagnose_nonfinite(const std::string& stage, const BaseModel& base,
                        const std::vector<std::pair<control::ControlNet*, std::string>>& controlnets) {
  for (const auto& [net, path] : controlnets)
    if (auto name = first_nonfinite(*net); !name.empty())
      fail(ErrorCode::ModelMismatch, path, "the weights contain NaN or Inf (tensor " + name + ")");
  const std::string& file = base.model_path;
  if (auto name = base.text ? first_nonfinite(*base.text) : std::string(); !name.empty())
    fail(ErrorCode::ModelMismatch, file, "the text encoder's weights contain NaN or Inf (tensor " + name + ")");
  if (auto name = first_nonfinite(*base.unet); !name.empty())
    fail(ErrorCode::ModelMismatch, file, "the UNet's weights contain NaN or Inf (tensor " + name + ")");
  if (auto name = first_nonfinite(*base.vae); !name.empty())
    fail(ErrorCode::ModelMismatch, base.vae_path.empty() ? file : base.vae_path,
         "the VAE's weights contain NaN or Inf (tensor " + name + ")");
  fail(ErrorCode::Unsupported, "generation",
       "the " + stage + " produced NaN or Inf values (numerical overflow: try dtype " +
           (base.settings.dtype == at::kHalf ? "bf16 or fp32" : "fp32") + ")");
}

}  // namespace gen::pipeline
