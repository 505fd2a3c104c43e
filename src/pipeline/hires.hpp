// gen — hires fix (A1111's txt2img "Hires. fix", processing.py StableDiffusionProcessingTxt2Img;
// docs/editing.md#hires-fix): the first pass renders at the request size; its latents are
// upscaled (interpolated as torch.nn.functional.interpolate does, or decoded, resized with
// Lanczos and encoded again) and denoised again at the target size as an image-to-image pass
// with its own steps, strength, sampler and prompts. As A1111, the second pass runs exactly its
// steps (the a1111_fixed convention) and draws its noise from fresh generators seeded with each
// image's seed.
#pragma once

#include <ATen/core/Tensor.h>

#include <atomic>
#include <cstdint>
#include <utility>

#include "gen/request.hpp"
#include "pipeline/generate.hpp"

namespace gen::upscalers {
class EsrganNet;
}

namespace gen::pipeline {

// The target of the second pass: A1111's hr_upscale_to_x/y (width × scale, or the target size
// with the other side kept in proportion), the latents interpolated to (to / f) and, when both
// sides are given, cut to that aspect (A1111's truncate_x/y), so the image is a multiple of f.
struct HiresPlan {
  int to_width = 0, to_height = 0;  // A1111's hr_upscale_to_x / _y
  int latent_width = 0, latent_height = 0;  // the interpolated latents (to / f)
  int trunc_x = 0, trunc_y = 0;     // latent columns / rows cut (split as A1111 cuts them)
  int width = 0, height = 0;        // the final image: (latent − trunc) × f
};
// InvalidArgument naming the field when the target is smaller than 1 latent or over the limits.
HiresPlan hires_plan(const Request& request, int factor);

// The first pass's latents [B, C, h, w] interpolated to the plan's latent size and cut.
at::Tensor upscale_latents(const at::Tensor& latents, const HiresPlan& plan, HiresUpscaler upscaler);

// Latents [B, C, h, w] cut as A1111's sample_hr_pass cuts them: trunc_y // 2 rows at the top,
// (trunc_y + 1) // 2 at the bottom, the same for the columns.
at::Tensor truncate_latents(const at::Tensor& latents, const HiresPlan& plan);

// The pixel upscalers (Lanczos, or an ESRGAN-family net then Lanczos): the first pass decoded
// to 8 bits, upscaled to to_width × to_height, VAE-encoded whole and cut as the latents are.
// Returns the posterior's mean and standard deviation at the final latent size.
std::pair<at::Tensor, at::Tensor> hires_pixel_posterior(const Models& models, const at::Tensor& latents,
                                                        const HiresPlan& plan, const upscalers::EsrganNet* net);

struct HiresJob {
  HiresPlan plan;
  HiresUpscaler upscaler = HiresUpscaler::Latent;
  // An ESRGAN-family net (hires_upscaler_model) instead of `upscaler`: the decoded first pass
  // upscaled by it as A1111's Upscaler.upscale does (tiles of 192, overlap 8; repeated while
  // smaller than the target), then resized with Lanczos to the final size and encoded again.
  const upscalers::EsrganNet* net = nullptr;
  double strength = 0.7;
  DenoiseRequest denoise;          // the second pass (its size, steps, sampler, controls)
  at::Tensor negative, positive;   // its prompts' conditioning
};

// The second pass from the first pass's latents; `seed`: the batch's first seed.
at::Tensor hires_pass(const Models& models, const HiresJob& job, const at::Tensor& latents, std::uint64_t seed,
                      const StepCallback& on_step, const std::atomic<bool>* cancel);

}  // namespace gen::pipeline
