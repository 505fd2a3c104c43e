#include "pipeline/generate.hpp"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <chrono>
#include <cmath>

#include "gen/error.hpp"

namespace gen::pipeline {

std::vector<double> residual_scales(const DenoiseRequest& req, double scale, std::size_t count) {
  std::vector<double> s(count, scale);
  if (req.guess_mode) {  // diffusers: logspace(-1, 0, n) × scale
    for (std::size_t i = 0; i < count; ++i)
      s[i] = scale * std::pow(10.0, -1.0 + (count > 1 ? static_cast<double>(i) / (count - 1) : 1.0));
  } else if (req.control_mode != ControlMode::Balanced) {
    for (std::size_t i = 0; i < count; ++i) s[i] = scale * std::pow(0.825, static_cast<double>(count - 1 - i));
  }
  return s;
}

namespace {

// Waits for the device to finish `t` (a one-element copy to the host on CUDA).
void wait_for(const at::Tensor& t) {
  if (t.defined() && t.is_cuda()) (void)t.flatten()[0].item<float>();
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

bool unit_active(const ControlUnit& u, std::int64_t i, std::int64_t n) {
  // diffusers: kept unless i/n < start or (i+1)/n > end.
  const double a = static_cast<double>(i) / n, b = static_cast<double>(i + 1) / n;
  return !(a < u.start || b > u.end);
}

}  // namespace

std::int64_t vae_factor(const models::Vae& vae) {
  return std::int64_t{1} << (vae.config().channel_mult.size() - 1);
}


at::Tensor denoise(const Models& m, const DenoiseRequest& req, const at::Tensor& negative,
                   const at::Tensor& positive, const StepCallback& on_step, const std::atomic<bool>* cancel) {
  const auto factor = vae_factor(*m.vae);
  if (req.width <= 0 || req.height <= 0 || req.width % factor || req.height % factor)
    fail(ErrorCode::InvalidArgument, "size", std::to_string(req.width) + "x" + std::to_string(req.height) +
                                                 " is not a positive multiple of " + std::to_string(factor));
  if (req.batch_size < 1) fail(ErrorCode::InvalidArgument, "batch size", "must be at least 1");
  const int b = req.batch_size;
  // One scheduler (and one generator) per image: the schedulers are elementwise, so this is
  // the same arithmetic as one batched scheduler, and each image keeps its own noise stream
  // exactly as diffusers does with a list of generators.
  std::vector<std::unique_ptr<Scheduler>> scheds;
  std::vector<at::Generator> gens;
  std::vector<at::Tensor> noise;
  for (int i = 0; i < b; ++i) {
    scheds.push_back(make_scheduler(req.sampler, req.scheduler, req.steps));
    gens.push_back(at::make_generator<at::CPUGeneratorImpl>(req.seed + static_cast<std::uint64_t>(i)));
    noise.push_back(at::randn({1, m.vae->config().latent_channels, req.height / factor, req.width / factor},
                              gens.back(), at::TensorOptions().dtype(m.dtype)));
  }
  auto latents = (at::cat(noise, 0) * scheds[0]->init_noise_sigma()).to(m.device);
  const bool cfg = req.cfg_scale != 1.0;
  auto pos = positive.to(m.device, m.dtype).expand({b, -1, -1});
  auto neg = negative.to(m.device, m.dtype).expand({b, -1, -1});
  auto context = cfg ? at::cat({neg, pos}, 0) : pos;

  // Hint embeddings: once per control image, not on every step.
  std::vector<at::Tensor> hints;
  for (std::size_t c = 0; c < req.controls.size(); ++c) {
    auto image = req.controls[c].image.to(m.device, m.dtype);
    if (m.unet_channels_last) image = image.contiguous(at::MemoryFormat::ChannelsLast);
    hints.push_back(req.controls[c].net->embed_hint(image));
    if (hints.back().size(2) != latents.size(2) || hints.back().size(3) != latents.size(3))
      fail(ErrorCode::ModelMismatch, "ControlNet " + std::to_string(c),
           "its hint encoder maps the " + std::to_string(req.width) + "x" + std::to_string(req.height) +
               " control image to " + std::to_string(hints.back().size(3)) + "x" + std::to_string(hints.back().size(2)) +
               " but the latents are " + std::to_string(latents.size(3)) + "x" + std::to_string(latents.size(2)) +
               " (the VAE downsamples by " + std::to_string(factor) + ")");
  }

  const auto n = scheds[0]->size();
  for (std::int64_t i = 0; i < n; ++i) {
    if (cancel && cancel->load()) fail(ErrorCode::Cancelled, "generation", "cancelled at step " + std::to_string(i));
    std::vector<at::Tensor> scaled;
    for (int k = 0; k < b; ++k) scaled.push_back(scheds[k]->scale_model_input(latents.slice(0, k, k + 1), i));
    auto x = at::cat(scaled, 0).to(m.dtype);
    if (m.unet_channels_last) x = x.contiguous(at::MemoryFormat::ChannelsLast);
    auto model_in = cfg ? at::cat({x, x}, 0) : x;
    const double t = scheds[0]->timesteps()[static_cast<std::size_t>(i)];
    auto tt = at::full({model_in.size(0)}, t, at::TensorOptions().dtype(at::kFloat).device(m.device));

    auto* prof = req.profile;
    if (prof) wait_for(model_in);
    const auto t_step = std::chrono::steady_clock::now();
    models::ControlResiduals total;
    bool any = false;
    for (std::size_t c = 0; c < req.controls.size(); ++c) {
      const auto& u = req.controls[c];
      if (!unit_active(u, i, n)) continue;
      const bool cond_only = cfg && (req.guess_mode || req.control_mode == ControlMode::ControlImportant);
      auto cx = cond_only ? x : model_in;
      auto cctx = cond_only ? pos : context;
      auto r = u.net->forward(cx, tt.slice(0, 0, cx.size(0)), cctx, hints[c]);
      auto scales = residual_scales(req, u.scale, r.down.size() + 1);
      for (std::size_t k = 0; k < r.down.size(); ++k) r.down[k] = r.down[k] * scales[k];
      r.middle = r.middle * scales.back();
      if (cond_only) {  // the unconditional half gets no residuals
        for (auto& d : r.down) d = at::cat({at::zeros_like(d), d}, 0);
        r.middle = at::cat({at::zeros_like(r.middle), r.middle}, 0);
      }
      if (!any) {
        total = std::move(r);
        any = true;
      } else {
        for (std::size_t k = 0; k < total.down.size(); ++k) total.down[k] = total.down[k] + r.down[k];
        total.middle = total.middle + r.middle;
      }
    }
    if (prof) {
      if (any) wait_for(total.middle);
      prof->controlnet += seconds_since(t_step);
    }
    const auto t_unet = std::chrono::steady_clock::now();
    auto eps = m.unet->forward(model_in, tt, context, any ? &total : nullptr);
    if (prof) {
      wait_for(eps);
      prof->unet += seconds_since(t_unet);
    }
    if (cfg) {
      auto parts = eps.chunk(2, 0);
      eps = parts[0] + req.cfg_scale * (parts[1] - parts[0]);
    }
    std::vector<at::Tensor> next;
    for (int k = 0; k < b; ++k)
      next.push_back(scheds[k]->step(eps.slice(0, k, k + 1), i, latents.slice(0, k, k + 1), gens[k]));
    latents = at::cat(next, 0);
    if (prof) {
      wait_for(latents);
      prof->steps.push_back(seconds_since(t_step));
    }
    if (on_step) on_step(StepInfo{static_cast<int>(i + 1), static_cast<int>(n)}, latents);
  }
  return latents;
}

at::Tensor decode(const Models& m, const at::Tensor& latents, Tiling tiling, const VaeTiling& tiles) {
  auto z = latents.to(m.device, m.dtype) / m.vae->config().scaling_factor;
  if (m.vae_channels_last) z = z.contiguous(at::MemoryFormat::ChannelsLast);
  const auto f = vae_factor(*m.vae);
  const bool tile = tiling == Tiling::On ||
                    (tiling == Tiling::Auto &&
                     should_tile(*m.vae, z.size(2) * f, z.size(3) * f, z.size(0), m.device, m.dtype));
  auto image = tile ? tiled_decode(*m.vae, z, tiles) : m.vae->decode(z);
  return (image.to(at::kFloat) / 2 + 0.5).clamp(0, 1);
}

}  // namespace gen::pipeline
