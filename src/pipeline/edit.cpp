#include "pipeline/edit.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "core/fail.hpp"
#include "image/resample.hpp"
#include "models/vae.hpp"
#include "pipeline/generate.hpp"

namespace gen::pipeline {

void inpainting_model_needs_a_mask(const std::string& model, int unet_in) {
  fail(ErrorCode::InvalidArgument, model.empty() ? "model" : model,
       "is an inpainting model (its UNet takes " + std::to_string(unet_in) +
           " channels: latents, mask, masked image): give --init-image and --mask");
}

at::Tensor a1111_latent_mask(const Image& source, int factor) {
  const Image small = resize_bicubic(source, source.width / factor, source.height / factor);
  auto latmask = at::empty({1, 1, small.height, small.width}, at::kFloat);
  auto* p = latmask.data_ptr<float>();
  for (std::size_t k = 0; k < small.data8.size(); ++k)
    p[k] = std::nearbyint(static_cast<float>(small.data8[k]) / 255.0f);  // numpy.around: half to even
  return latmask;
}

EditInputs encode_edit(const Models& m, const EditImages& images, const Request& r, int unet_in) {
  EditInputs e;
  e.strength = r.strength;
  e.convention = r.strength_steps;
  e.scaling = m.vae->config().scaling_factor;
  e.fill = r.inpaint_fill;
  e.blend = r.inpaint_blend;
  e.inpaint = images.mask.defined();
  e.concat = unet_in != m.vae->config().latent_channels;
  const auto latent_c = m.vae->config().latent_channels;
  if (e.concat && unet_in != 2 * latent_c + 1)
    fail(ErrorCode::ModelMismatch, "UNet", "conv_in takes " + std::to_string(unet_in) + " channels: neither " +
                                               std::to_string(latent_c) + " (a plain model) nor " +
                                               std::to_string(2 * latent_c + 1) + " (an inpainting model)");
  if (e.concat && !e.inpaint) inpainting_model_needs_a_mask(r.model, unet_in);
  auto encode = [&](const at::Tensor& x) {
    auto in = x.to(m.device, m.dtype);
    if (m.vae_channels_last) in = in.contiguous(at::MemoryFormat::ChannelsLast);
    auto [mean, logvar] = m.vae->encode(in);
    return std::make_pair(mean.contiguous(), at::exp(0.5 * logvar).contiguous());
  };
  std::tie(e.mean, e.std) = encode(images.image);
  if (!e.inpaint) return e;
  const auto f = vae_factor(*m.vae);
  // diffusers: F.interpolate(mask, size=(H / f, W / f)) (nearest).
  e.mask = at::upsample_nearest2d(images.mask, {images.mask.size(2) / f, images.mask.size(3) / f})
               .to(m.device, m.dtype);
  if (e.concat) std::tie(e.masked_mean, e.masked_std) = encode(images.image * (images.mask < 0.5));
  e.latent_mask = e.mask;
  if (!images.a1111_latent_source.empty())
    e.latent_mask = a1111_latent_mask(images.a1111_latent_source, f).to(m.device, m.dtype);
  return e;
}

StrengthSchedule strength_schedule(int steps, double strength, StrengthSteps convention) {
  StrengthSchedule s;
  if (convention == StrengthSteps::Diffusers) {
    // StableDiffusionImg2ImgPipeline.get_timesteps.
    const int init = std::min(static_cast<int>(steps * strength), steps);
    if (init < 1)
      fail(ErrorCode::InvalidArgument, "strength",
           "strength " + std::to_string(strength) + " of " + std::to_string(steps) +
               " steps runs no step (int(steps × strength) = 0): raise --strength or --steps");
    s.schedule_steps = steps;
    s.begin_step = steps - init;
    return s;
  }
  // A1111 (sd_samplers_common.setup_img2img_steps; the k-diffusion samplers run
  // sigmas[steps − t_enc − 1:], i.e. t_enc + 1 steps).
  const double d = std::min(strength, 0.999);
  if (convention == StrengthSteps::A1111Fixed) {
    s.schedule_steps = static_cast<int>(steps / d);
    s.begin_step = s.schedule_steps - steps;  // t_enc = steps − 1
    return s;
  }
  const int t_enc = static_cast<int>(d * steps);
  s.schedule_steps = steps;
  s.begin_step = steps - t_enc - 1;
  return s;
}

EditLatents edit_latents(const EditInputs& e, std::vector<std::unique_ptr<Scheduler>>& scheds,
                         std::vector<at::Generator>& gens, at::ScalarType dtype, c10::Device device) {
  EditLatents out;
  const auto b = static_cast<std::int64_t>(gens.size());
  const auto opts = at::TensorOptions().dtype(dtype);
  auto shape = (e.given.defined() ? e.given : e.mean).sizes().vec();  // one image's latents
  shape[0] = 1;
  auto one = [](const at::Tensor& t, std::int64_t k) { return t.size(0) > 1 ? t.slice(0, k, k + 1) : t; };
  // DiagonalGaussianDistribution.sample: mean + std · randn(generator) (in the VAE's dtype),
  // then × scaling_factor.
  auto sample = [&](const at::Tensor& mean, const at::Tensor& stdev, at::Generator& g) {
    auto eps = at::randn(shape, g, opts).to(device);
    return (mean + stdev * eps) * e.scaling;
  };
  const std::int64_t begin = scheds[0]->begin_index();
  std::vector<at::Tensor> noise;
  if (!e.inpaint) {
    // StableDiffusionImg2ImgPipeline.prepare_latents: per image its own posterior sample, then
    // the noise (each from that image's generator), noised to the first call's level.
    std::vector<at::Tensor> x0, lat;
    for (std::int64_t k = 0; k < b; ++k)
      x0.push_back(e.given.defined() ? one(e.given, k) : sample(one(e.mean, k), one(e.std, k), gens[k]));
    for (std::int64_t k = 0; k < b; ++k) noise.push_back(at::randn(shape, gens[k], opts).to(device));
    for (std::int64_t k = 0; k < b; ++k) lat.push_back(scheds[k]->add_noise(x0[k], noise[k], begin));
    out.latents = at::cat(lat, 0);
    return out;
  }
  // StableDiffusionInpaintPipeline: the init image is one image, so its posterior is sampled
  // once, from the first generator (_encode_vae_image loops over the image batch), when the
  // latents start from it (strength < 1) or the unmasked area is blended back (4 channels).
  const bool full = e.strength == 1.0;
  at::Tensor image_latents;
  if (!e.concat || !full || e.blend == InpaintBlend::A1111) {
    image_latents = sample(e.mean, e.std, gens[0]);
    // A1111's "latent nothing" / "latent noise" masked content (processing.py, img2img init):
    // the masked latents zeroed, or replaced by noise (here the first generator's next draw).
    const auto& lm = e.latent_mask;
    if (e.fill == InpaintFill::LatentNothing) image_latents = image_latents * (1 - lm);
    if (e.fill == InpaintFill::LatentNoise)
      image_latents = image_latents * (1 - lm) + at::randn(shape, gens[0], opts).to(device) * lm;
    image_latents = image_latents.expand({b, -1, -1, -1});
  }
  for (std::int64_t k = 0; k < b; ++k) noise.push_back(at::randn(shape, gens[k], opts).to(device));
  out.noise = at::cat(noise, 0);
  out.latents = full ? out.noise * scheds[0]->init_noise_sigma() : scheds[0]->add_noise(image_latents, out.noise, begin);
  // prepare_mask_latents encodes the masked image with the same generators: the first one
  // draws again, also for a 4-channel UNet that does not use the result.
  if (e.concat) {
    auto masked = sample(e.masked_mean, e.masked_std, gens[0]);
    out.unet_extra = at::cat({e.mask, masked}, 1).expand({b, -1, -1, -1}).contiguous();
  } else {
    (void)at::randn(shape, gens[0], opts);
  }
  out.image_latents = image_latents;
  return out;
}

at::Tensor blend_denoised(const EditInputs& e, const EditLatents& start, const Scheduler& sched, std::int64_t i,
                          const at::Tensor& out, const at::Tensor& latents) {
  // A1111 (sd_samplers_cfg_denoiser.py, CFGDenoiser.forward): denoised = init · mask + nmask ·
  // denoised, with mask = 1 − the repaint mask.
  const auto x0 = sched.denoised(out, latents, i);
  const auto held = start.image_latents * (1 - e.latent_mask) + x0 * e.latent_mask;
  return sched.output_for(held, latents, i).to(out.scalar_type());
}

at::Tensor blend_final(const EditInputs& e, const EditLatents& start, const at::Tensor& latents) {
  return latents * e.latent_mask + start.image_latents * (1 - e.latent_mask);  // processing.py: samples · nmask + init · mask
}

at::Tensor blend_unmasked(const EditInputs& e, const EditLatents& start, const Scheduler& sched, std::int64_t i,
                          const at::Tensor& latents) {
  auto proper = start.image_latents;
  if (i + 1 < sched.size()) proper = sched.add_noise(proper, start.noise, i + 1);
  return (1 - e.mask) * proper + e.mask * latents;
}

}  // namespace gen::pipeline
