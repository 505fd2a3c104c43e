// gen — the editing stage: what image-to-image and inpainting add to the denoising, as
// diffusers' StableDiffusion{,ControlNet}Img2ImgPipeline and StableDiffusion{,ControlNet}
// InpaintPipeline do it (docs/editing.md):
//
//   images   the init image and mask prepared in pixels (pipeline/edit_images.hpp);
//   encode   the init image (and for a 9-channel UNet the masked image) through the VAE
//            encoder once per request: the posterior's mean and std;
//   start    the first model call for the strength (diffusers' or A1111's convention);
//   latents  per image, from its CPU generator, in diffusers' draw order: the posterior
//            sample(s), then the noise, noised to the first call's level (add_noise);
//   denoise  a 9-channel UNet sees [latents, mask, masked-image latents]; a 4-channel one
//            gets the unmasked area put back after every call (the init latents noised to
//            the next call's level).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gen/request.hpp"
#include "pipeline/edit_images.hpp"
#include "schedulers/scheduler.hpp"

namespace gen::models {
class Vae;
}

namespace gen::pipeline {

struct Models;

// A1111's latent mask (processing.py, StableDiffusionProcessingImg2Img.init): the 8-bit mask
// resized to 1/factor with Image.resize's default (bicubic), / 255, rounded (opts.mask_round):
// [1, 1, h/factor, w/factor] of 0/1, float.
at::Tensor a1111_latent_mask(const Image& source, int factor);

// What denoising needs from the editing stage (on the models' device and dtype).
struct EditInputs {
  double strength = 1.0;
  StrengthSteps convention = StrengthSteps::Diffusers;
  // The VAE posterior of the init image: [1, C, h, w] (or [B, ...]: one per image).
  at::Tensor mean, std;
  // Instead of a posterior: the clean latents themselves, [B, C, h, w], already scaled (hires
  // fix's interpolated latents; nothing is sampled for them).
  at::Tensor given;
  bool inpaint = false;
  bool concat = false;    // a 9-channel UNet: mask and masked-image latents join its input
  at::Tensor mask;        // [1, 1, h, w] 0/1 (nearest-downsampled), inpainting only
  // The mask the latents are blended with and the latent fills use: `mask` (diffusers), or for
  // --inpaint-blend a1111 A1111's latmask (processing.py: the blurred mask resized to the latent
  // size with Pillow's default bicubic, / 255, numpy.around).
  at::Tensor latent_mask;
  at::Tensor masked_mean, masked_std;  // the posterior of the masked image (concat only)
  double scaling = 1.0;   // the VAE's scaling factor
  // latent_noise / latent_nothing: the masked part of the init latents replaced (A1111).
  InpaintFill fill = InpaintFill::Original;
  InpaintBlend blend = InpaintBlend::Diffusers;
};
// InvalidArgument naming `model`: a UNet of `unet_in` input channels (an inpainting model)
// was given no init image and mask.
[[noreturn]] void inpainting_model_needs_a_mask(const std::string& model, int unet_in);

// Encodes what `images` hold for a UNet of `unet_in` input channels (4 or 9).
EditInputs encode_edit(const Models& models, const EditImages& images, const Request& request, int unet_in);

// The schedule of an N-step request for `strength` under `convention`: the number of steps the
// scheduler is built with and the first of them that runs (× the scheduler's order is the
// first model call). InvalidArgument when no step would run (diffusers: int(N·S) < 1).
struct StrengthSchedule {
  int schedule_steps = 0;
  int begin_step = 0;
};
StrengthSchedule strength_schedule(int steps, double strength, StrengthSteps convention);

// The starting latents of one batch (`latents` of `batch` images, one scheduler and generator
// each, the schedulers already at their begin index), drawn in diffusers' order. Fills
// `image_latents` and `noise` (4-channel inpainting) and `unet_extra` (9-channel: [B, 5, h, w]
// mask + masked-image latents).
struct EditLatents {
  at::Tensor latents, image_latents, noise, unet_extra;
};
EditLatents edit_latents(const EditInputs& edit, std::vector<std::unique_ptr<Scheduler>>& schedulers,
                         std::vector<at::Generator>& generators, at::ScalarType dtype, c10::Device device);

// A1111's inpainting blend at model call i: the denoised prediction of `model_output` held to
// the clean init latents outside the mask, returned as a model output again.
at::Tensor blend_denoised(const EditInputs& edit, const EditLatents& start, const Scheduler& scheduler, std::int64_t i,
                          const at::Tensor& model_output, const at::Tensor& latents);
// … and after the last call: the final latents take the init latents outside the mask.
at::Tensor blend_final(const EditInputs& edit, const EditLatents& start, const at::Tensor& latents);

// 4-channel inpainting after model call i (an absolute scheduler index): the unmasked area
// becomes the init latents noised to call i + 1's level (clean after the last call).
at::Tensor blend_unmasked(const EditInputs& edit, const EditLatents& start, const Scheduler& scheduler,
                          std::int64_t i, const at::Tensor& latents);

}  // namespace gen::pipeline
