#include "pipeline/sdxl_stage.hpp"

#include <ATen/ATen.h>

#include "core/fail.hpp"
#include "request/request.hpp"

namespace gen::pipeline {

void check_sdxl_request(const Request& r, const BaseModel& base, std::size_t adapters) {
  if (adapters > 0)
    fail(ErrorCode::Unsupported, r.model, "LoRA / LyCORIS files on SDXL models are not supported yet");
  if (!base.refiner) return;
  if (!r.has_init_image())
    fail(ErrorCode::InvalidArgument, r.model,
         "an SDXL refiner (only the second text encoder) refines an image: give --init-image, or use an SDXL base model");
  fail(ErrorCode::Unsupported, r.model,
       "the SDXL refiner's image-to-image (aesthetic-score conditioning) is not supported yet");
}

void sdxl_zero_negative(const Request& r, const BaseModel& base, const std::string& negative_prompt,
                        at::Tensor& negative, PooledPair& pooled) {
  if (!base.force_zeros_for_empty_prompt || r.prompt_syntax != PromptSyntax::Plain || !negative_prompt.empty()) return;
  negative = at::zeros_like(negative);
  pooled.first = at::zeros_like(pooled.first);
}

void set_sdxl_added(DenoiseRequest& d, const Request& r, const BaseModel& base, const PooledPair& pooled) {
  const auto& cfg = base.unet->config();
  auto ids = [&](bool negative) {
    const auto v = request::sdxl_time_ids(r, negative);
    return at::tensor(std::vector<double>(v.begin(), v.end()), at::kFloat).view({1, 6});
  };
  if (cfg.adm_in_channels != pooled.second.size(1) + 6 * cfg.addition_time_embed_dim)
    fail(ErrorCode::ModelMismatch, r.model,
         "the UNet's label_emb takes " + std::to_string(cfg.adm_in_channels) + " inputs, not the pooled text's " +
             std::to_string(pooled.second.size(1)) + " plus 6 time ids of " +
             std::to_string(cfg.addition_time_embed_dim) + " (a refiner's UNet?)");
  d.added_positive = models::added_condition(cfg, pooled.second.to(at::kCPU, at::kFloat), ids(false));
  d.added_negative = models::added_condition(cfg, pooled.first.to(at::kCPU, at::kFloat), ids(true));
}

}  // namespace gen::pipeline
