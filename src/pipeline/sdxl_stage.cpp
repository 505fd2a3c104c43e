#include "pipeline/sdxl_stage.hpp"

#include <ATen/ATen.h>

#include "core/fail.hpp"
#include "request/request.hpp"

namespace gen::pipeline {

void check_sdxl_request(const Request& r, const BaseModel& base) {
  if (base.refiner && !r.has_init_image())
    fail(ErrorCode::InvalidArgument, r.model,
         "an SDXL refiner (only the second text encoder) refines an image: give --init-image, or use an SDXL base "
         "model (with --refiner for the hand-off)");
}

Request refiner_request(const Request& r, const BaseModel& base) {
  if (!base.text2)
    fail(ErrorCode::InvalidArgument, "refiner",
         "the base model " + r.model + " is not SDXL: --refiner hands an SDXL base's latents to an SDXL refiner");
  // Image-to-image and ControlNets hand off as diffusers' StableDiffusionXLImg2ImgPipeline /
  // StableDiffusionXLControlNetPipeline with denoising_end do (the ControlNets steer the base's
  // part). Inpainting is not: diffusers' refiner pass re-blends with the base's latents given
  // as its image, A1111 blends with the init image — two different pictures, neither taken yet.
  const char* other = r.has_mask()           ? "a mask (inpainting, outpainting)"
                      : r.has_hires()        ? "hires fix"
                      : !r.adapters.empty()  ? "T2I-Adapters"
                                             : nullptr;
  if (other) fail(ErrorCode::Unsupported, "refiner", std::string("the hand-off to a refiner with ") + other + " is not supported yet");
  Request out = r;
  out.model = r.refiner;
  out.model_config.clear();
  out.refiner.clear();
  out.controls.clear();  // they steer the base's part only
  out.init_image.clear();
  out.init_pixels = Image();
  return out;
}

void check_refiner(const Request& r, const BaseModel& base, const BaseModel& refiner) {
  if (!refiner.text2)
    fail(ErrorCode::ModelMismatch, r.refiner,
         "is not an SDXL model (no OpenCLIP bigG text encoder): --refiner takes an SDXL refiner or base");
  const auto& a = base.vae->config();
  const auto& b = refiner.vae->config();
  if (a.latent_channels != b.latent_channels || a.levels() != b.levels() ||
      refiner.unet->config().in_channels != a.latent_channels)
    fail(ErrorCode::ModelMismatch, r.refiner, "its latents do not fit the base model's (" + r.model + ")");
}

void sdxl_zero_negative(const Request& r, const BaseModel& base, const std::string& negative_prompt,
                        at::Tensor& negative, PooledPair& pooled) {
  if (!base.force_zeros_for_empty_prompt || r.prompt_syntax != PromptSyntax::Plain || !negative_prompt.empty()) return;
  negative = at::zeros_like(negative);
  pooled.first = at::zeros_like(pooled.first);
}

std::vector<double> sdxl_time_ids(const Request& r, const BaseModel& base, bool negative) {
  const auto v = request::sdxl_time_ids(r, negative);
  if (!base.refiner) return {v.begin(), v.end()};
  // StableDiffusionXLImg2ImgPipeline with requires_aesthetics_score (the refiner): original
  // size, crop, aesthetic score.
  return {v[0], v[1], v[2], v[3], negative ? r.negative_aesthetic_score : r.aesthetic_score};
}

void set_sdxl_added(DenoiseRequest& d, const Request& r, const BaseModel& base, const PooledPair& pooled) {
  const auto& cfg = base.unet->config();
  auto ids = [&](bool negative) {
    const auto v = sdxl_time_ids(r, base, negative);
    return at::tensor(v, at::kFloat).view({1, static_cast<std::int64_t>(v.size())});
  };
  const std::int64_t n = base.refiner ? 5 : 6;
  if (cfg.adm_in_channels != pooled.second.size(1) + n * cfg.addition_time_embed_dim)
    fail(ErrorCode::ModelMismatch, r.model,
         "the UNet's label_emb takes " + std::to_string(cfg.adm_in_channels) + " inputs, not the pooled text's " +
             std::to_string(pooled.second.size(1)) + " plus " + std::to_string(n) + " time ids of " +
             std::to_string(cfg.addition_time_embed_dim) +
             (base.refiner ? " (a refiner: size, crop, aesthetic score)" : " (a refiner's UNet?)"));
  d.added_positive = models::added_condition(cfg, pooled.second.to(at::kCPU, at::kFloat), ids(false));
  d.added_negative = models::added_condition(cfg, pooled.first.to(at::kCPU, at::kFloat), ids(true));
}

}  // namespace gen::pipeline
