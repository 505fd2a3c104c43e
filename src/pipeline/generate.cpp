#include "pipeline/generate.hpp"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <chrono>
#include <cmath>
#include <optional>
#include <sstream>

#include "core/fail.hpp"
#include "kernels.hpp"
#include "pipeline/refiner.hpp"
#include "pipeline/step_graph.hpp"

namespace gen::pipeline {

std::vector<double> residual_scales(const DenoiseRequest& req, double scale, std::size_t count, bool pooled) {
  std::vector<double> s(count, scale);
  if (req.guess_mode && !pooled) {  // diffusers: logspace(-1, 0, n) × scale
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

// The model half of step i: the ControlNets' residuals (the active ones), the UNet on both
// CFG halves in one batch, and the guidance. x: [B, ...] scaled latents; tt: the timestep
// for the doubled batch. Profiling waits for the device around the model calls.
at::Tensor guided_output(const Models& m, const DenoiseRequest& req, const at::Tensor& x, const at::Tensor& tt,
                         const at::Tensor& context, const at::Tensor& pos, const std::vector<at::Tensor>& hints,
                         const at::Tensor& unet_extra, const std::vector<bool>& active, DenoiseProfile* prof,
                         const at::Tensor& added, const std::vector<at::Tensor>& features) {
  const bool cfg = req.cfg_scale != 1.0;
  auto model_in = cfg ? at::cat({x, x}, 0) : x;
  if (prof) wait_for(model_in);
  const auto t_control = std::chrono::steady_clock::now();
  models::ControlResiduals total;
  bool any = false;
  for (std::size_t c = 0; c < req.controls.size(); ++c) {
    const auto& u = req.controls[c];
    // A ControlNet Union with several conditions alone in the request: its scales act inside
    // (control/controlnet_union.hpp), and outside start/end it still runs with the conditions
    // at 0, as StableDiffusionXLControlNetUnionPipeline calls it.
    const bool union_inside = req.controls.size() == 1 && u.union_types.size() > 1;
    if (!active[c] && !union_inside) continue;
    const bool cond_only =
        cfg && (req.guess_mode || req.control_mode == ControlMode::ControlImportant || u.pooled_by_request);
    auto cx = cond_only ? x : model_in;
    auto cctx = cond_only ? pos : context;
    // SDXL: the ControlNet takes the UNet's added condition (the conditional half's alone in
    // guess mode, as diffusers' StableDiffusionXLControlNetPipeline).
    at::Tensor cadded;
    if (added.defined() && u.net->config().unet.adm_in_channels > 0)
      cadded = cond_only ? added.slice(0, added.size(0) - cx.size(0)) : added;
    control::UnionCall call;
    if (!u.union_types.empty()) {
      call.types = u.union_types;
      call.scales.assign(u.union_types.size(), union_inside ? (active[c] ? u.scale : 0.0) : 1.0);
    }
    auto r = u.net->forward(cx, tt.slice(0, 0, cx.size(0)), cctx, hints[c], u.task.get(), cadded,
                            u.union_types.empty() ? nullptr : &call);
    auto scales = residual_scales(req, union_inside ? 1.0 : u.scale, r.down.size() + 1,
                                  u.net->config().global_average_pooling);
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
    prof->controlnet += seconds_since(t_control);
  }
  const auto t_unet = std::chrono::steady_clock::now();
  // An inpainting UNet also sees the mask and the masked image's latents (ControlNets do not).
  const auto unet_in = unet_extra.defined() ? at::cat({model_in, unet_extra}, 1) : model_in;
  total.intrablock = features;  // T2I-Adapters (broadcast over the batch)
  auto eps = m.unet->forward(unet_in, tt, context, any || !features.empty() ? &total : nullptr, added);
  if (prof) {
    wait_for(eps);
    prof->unet += seconds_since(t_unet);
  }
  if (cfg) {
    auto parts = eps.chunk(2, 0);
    eps = parts[0] + req.cfg_scale * (parts[1] - parts[0]);
  }
  return eps;
}

// Everything that changes the work of guided_output (the graph key): shapes, dtype and
// layout of the inputs, the guidance, and per ControlNet which one, whether it acts, its
// residual scales and hint shape.
std::string step_key(const Models& m, const DenoiseRequest& req, const at::Tensor& x, const at::Tensor& context,
                     const std::vector<at::Tensor>& hints, const at::Tensor& extra, const std::vector<bool>& active,
                     const at::Tensor& added, const std::vector<at::Tensor>& features) {
  std::ostringstream k;
  k.precision(17);
  auto shape = [&](const at::Tensor& t) {
    k << t.sizes() << t.scalar_type() << (t.is_contiguous(at::MemoryFormat::ChannelsLast) ? "L" : "") << ';';
  };
  k << m.unet << ';';
  shape(x);
  shape(context);
  if (extra.defined()) shape(extra);
  if (added.defined()) shape(added);
  k << "cfg " << req.cfg_scale << "; guess " << req.guess_mode << "; mode " << static_cast<int>(req.control_mode) << ';';
  for (std::size_t c = 0; c < req.controls.size(); ++c) {
    k << "\ncontrol " << req.controls[c].net << ' ' << active[c] << ' ' << req.controls[c].scale << ' ';
    shape(hints[c]);
  }
  for (const auto& f : features) {
    k << "\nadapter ";
    shape(f);
  }
  return k.str();
}

}  // namespace

std::vector<at::Tensor> adapter_features(const Models& m, const DenoiseRequest& req, std::int64_t latent_h,
                                         std::int64_t latent_w) {
  std::vector<at::Tensor> total;
  const auto& points = m.unet->encoder().intrablock_points();
  for (std::size_t a = 0; a < req.adapters.size(); ++a) {
    const auto& u = req.adapters[a];
    auto f = u.net->forward(u.image.to(m.device, m.dtype));
    // Each feature must be what the UNet has where it is added: the level's channels, the latents
    // downsampled as far (a feature beyond the levels goes to the middle block only if it fits).
    for (std::size_t l = 0; l < f.size() && l < points.size(); ++l) {
      std::int64_t h = latent_h, w = latent_w;
      for (int d = 0; d < points[l].downsamples; ++d) h = (h + 1) / 2, w = (w + 1) / 2;
      if (f[l].size(1) != points[l].channels || f[l].size(2) != h || f[l].size(3) != w)
        fail(ErrorCode::ModelMismatch, u.name,
             "its feature " + std::to_string(l) + " is " + std::to_string(f[l].size(1)) + " channels at " +
                 std::to_string(f[l].size(3)) + "x" + std::to_string(f[l].size(2)) + " where the UNet's level has " +
                 std::to_string(points[l].channels) + " at " + std::to_string(w) + "x" + std::to_string(h) +
                 ": the adapter does not fit this model");
    }
    if (a > 0 && f.size() != total.size())
      fail(ErrorCode::ModelMismatch, u.name, "gives " + std::to_string(f.size()) + " features where " +
                                                 req.adapters[0].name + " gives " + std::to_string(total.size()) +
                                                 ": T2I-Adapters used together must have the same levels");
    for (std::size_t l = 0; l < f.size(); ++l) {
      if (a > 0 && !f[l].sizes().equals(total[l].sizes()))
        fail(ErrorCode::ModelMismatch, u.name, "its feature " + std::to_string(l) + " differs in shape from " +
                                                   req.adapters[0].name + "'s: T2I-Adapters used together must match");
      // diffusers: w · feature, the adapters summed in order (MultiAdapter), in the adapter's dtype
      auto scaled = f[l] * u.scale;
      total.size() > l ? (void)(total[l] = total[l] + scaled) : total.push_back(scaled);
    }
  }
  return total;
}

std::int64_t vae_factor(const models::Vae& vae) {
  return std::int64_t{1} << (vae.config().levels() - 1);
}


LatentState prepare_latents(const Models& m, const DenoiseRequest& req) {
  const auto factor = vae_factor(*m.vae);
  if (req.width <= 0 || req.height <= 0 || req.width % factor || req.height % factor)
    fail(ErrorCode::InvalidArgument, "size", std::to_string(req.width) + "x" + std::to_string(req.height) +
                                                 " is not a positive multiple of " + std::to_string(factor));
  if (req.batch_size < 1) fail(ErrorCode::InvalidArgument, "batch size", "must be at least 1");
  // One scheduler (and one generator) per image: the schedulers are elementwise, so this is
  // the same arithmetic as one batched scheduler, and each image keeps its own noise stream
  // exactly as diffusers does with a list of generators.
  LatentState s;
  if (req.edit) {  // image-to-image / inpainting: the strength picks the schedule and its start
    const auto plan = strength_schedule(req.steps, req.edit->strength, req.edit->convention);
    for (int i = 0; i < req.batch_size; ++i) {
      s.schedulers.push_back(make_scheduler(req.sampler, req.scheduler, plan.schedule_steps));
      s.schedulers.back()->set_begin_index(static_cast<std::int64_t>(plan.begin_step) * s.schedulers.back()->order());
      s.generators.push_back(at::make_generator<at::CPUGeneratorImpl>(req.seed + static_cast<std::uint64_t>(i)));
    }
    s.edit = edit_latents(*req.edit, s.schedulers, s.generators, m.dtype, m.device);
    s.latents = s.edit.latents;
    return s;
  }
  std::vector<at::Tensor> noise;
  for (int i = 0; i < req.batch_size; ++i) {
    s.schedulers.push_back(make_scheduler(req.sampler, req.scheduler, req.steps));
    s.generators.push_back(at::make_generator<at::CPUGeneratorImpl>(req.seed + static_cast<std::uint64_t>(i)));
    noise.push_back(at::randn({1, m.vae->config().latent_channels, req.height / factor, req.width / factor},
                              s.generators.back(), at::TensorOptions().dtype(m.dtype)));
  }
  s.latents = (at::cat(noise, 0) * s.schedulers[0]->init_noise_sigma()).to(m.device);
  return s;
}

at::Tensor denoise(const Models& m, const DenoiseRequest& req, const at::Tensor& negative, const at::Tensor& positive,
                   const StepCallback& on_step, const std::atomic<bool>* cancel) {
  auto state = prepare_latents(m, req);
  return denoise(m, req, state, negative, positive, on_step, cancel);
}

at::Tensor denoise(const Models& m, const DenoiseRequest& req, LatentState& state, const at::Tensor& negative,
                   const at::Tensor& positive, const StepCallback& on_step, const std::atomic<bool>* cancel) {
  const auto factor = vae_factor(*m.vae);
  const int b = static_cast<int>(state.latents.size(0));
  auto& scheds = state.schedulers;
  auto& gens = state.generators;
  auto latents = state.latents;
  const bool cfg = req.cfg_scale != 1.0;
  auto pos = positive.to(m.device, m.dtype).expand({b, -1, -1});
  auto neg = negative.to(m.device, m.dtype).expand({b, -1, -1});
  auto context = cfg ? at::cat({neg, pos}, 0) : pos;
  // SDXL's added condition, batched as the context.
  at::Tensor added;
  if (req.added_positive.defined()) {
    auto ap = req.added_positive.to(m.device, m.dtype).expand({b, -1});
    added = cfg ? at::cat({req.added_negative.to(m.device, m.dtype).expand({b, -1}), ap}, 0) : ap;
  }

  // Hint embeddings: once per control image, not on every step.
  std::vector<at::Tensor> hints;
  for (std::size_t c = 0; c < req.controls.size(); ++c) {
    auto image = req.controls[c].image.to(m.device, m.dtype);
    if (m.unet_channels_last) image = image.contiguous(at::MemoryFormat::ChannelsLast);
    hints.push_back(req.controls[c].net->embed_hint(image, req.controls[c].task.get()));
    if (hints.back().size(2) != latents.size(2) || hints.back().size(3) != latents.size(3))
      fail(ErrorCode::ModelMismatch, "ControlNet " + std::to_string(c),
           "its hint encoder maps the " + std::to_string(req.width) + "x" + std::to_string(req.height) +
               " control image to " + std::to_string(hints.back().size(3)) + "x" + std::to_string(hints.back().size(2)) +
               " but the latents are " + std::to_string(latents.size(3)) + "x" + std::to_string(latents.size(2)) +
               " (the VAE downsamples by " + std::to_string(factor) + ")");
  }

  // T2I-Adapter features: once per control image, not on every step.
  const auto features = adapter_features(m, req, latents.size(2), latents.size(3));

  const auto begin = scheds[0]->begin_index();  // image-to-image starts later
  // A base before a refiner stops at denoising_end's cutoff (pipeline/refiner.hpp).
  const auto n = req.denoising_end > 0 && req.denoising_end < 1
                     ? denoising_end_index(*scheds[0], begin, req.scheduler.num_train_timesteps, req.denoising_end)
                     : scheds[0]->size();
  if (n <= begin)
    fail(ErrorCode::InvalidArgument, "refiner_switch",
         "at " + std::to_string(req.denoising_end) + " of " + std::to_string(req.steps) +
             " steps leaves the base model no step (no timestep at or above the cutoff " +
             std::to_string(timestep_cutoff(req.scheduler.num_train_timesteps, req.denoising_end)) +
             "): raise --refiner-switch or --steps");
  const std::int64_t calls_batch = cfg ? 2 * b : b;
  at::Tensor extra = state.edit.unet_extra;
  if (extra.defined()) {
    extra = extra.to(m.device, m.dtype);
    if (cfg) extra = at::cat({extra, extra}, 0);
  }
  // The per-request inputs of the model half of a step, in a fixed order: context,
  // positive, the hints, the adapter features, then the inpainting UNet's extra input if any.
  std::vector<at::Tensor> fixed{context, pos};
  fixed.insert(fixed.end(), hints.begin(), hints.end());
  fixed.insert(fixed.end(), features.begin(), features.end());
  if (extra.defined()) fixed.push_back(extra);
  if (added.defined()) fixed.push_back(added);  // SDXL: last
  const auto hint_count = static_cast<std::ptrdiff_t>(hints.size());
  const auto feature_count = static_cast<std::ptrdiff_t>(features.size());
  const bool graphs = m.graphs && !req.profile;
  kernels::Timeline timeline(m.device.is_cuda());
  if (req.step_times) timeline.mark();
  std::optional<kernels::SyncCheck> no_sync;
  if (req.forbid_sync) no_sync.emplace(m.device.is_cuda());
  for (std::int64_t i = begin; i < n; ++i) {
    if (cancel && cancel->load())
      fail(ErrorCode::Cancelled, "generation", "cancelled at step " + std::to_string(i - begin));
    std::vector<at::Tensor> scaled;
    for (int k = 0; k < b; ++k) scaled.push_back(scheds[k]->scale_model_input(latents.slice(0, k, k + 1), i));
    auto x = at::cat(scaled, 0).to(m.dtype);
    if (m.unet_channels_last) x = x.contiguous(at::MemoryFormat::ChannelsLast);
    const double t = scheds[0]->timesteps()[static_cast<std::size_t>(i)];
    std::vector<bool> active(req.controls.size());
    // (diffusers counts the start and end fractions over the calls after the init image's
    // start — all of them when a base stops early for a refiner: controlnet_keep is made
    // before denoising_end cuts the timesteps)
    for (std::size_t c = 0; c < req.controls.size(); ++c)
      active[c] = unit_active(req.controls[c], i - begin, scheds[0]->size() - begin);

    at::Tensor eps;
    const auto t_step = std::chrono::steady_clock::now();
    if (graphs) {
      auto body = [&](const at::Tensor& sx, const at::Tensor& stt, const std::vector<at::Tensor>& f) {
        const auto hint_end = f.begin() + 2 + hint_count;
        const auto at_extra = static_cast<std::size_t>(2 + hint_count + feature_count);
        const at::Tensor e = extra.defined() ? f[at_extra] : at::Tensor();
        const at::Tensor a = added.defined() ? f.back() : at::Tensor();
        return guided_output(m, req, sx, stt, f[0], f[1], {f.begin() + 2, hint_end}, e, active, nullptr, a,
                             {hint_end, hint_end + feature_count});
      };
      eps = m.graphs->run(step_key(m, req, x, context, hints, extra, active, added, features), x, t, calls_batch, fixed,
                          body);
    } else {
      auto tt = at::full({calls_batch}, t, at::TensorOptions().dtype(at::kFloat).device(m.device));
      eps = guided_output(m, req, x, tt, context, pos, hints, extra, active, req.profile, added, features);
    }
    const bool a1111_blend = req.edit && req.edit->inpaint && req.edit->blend == InpaintBlend::A1111;
    if (a1111_blend) eps = blend_denoised(*req.edit, state.edit, *scheds[0], i, eps, latents);
    std::vector<at::Tensor> next;
    for (int k = 0; k < b; ++k)
      next.push_back(scheds[k]->step(eps.slice(0, k, k + 1), i, latents.slice(0, k, k + 1), gens[k]));
    latents = at::cat(next, 0);
    if (req.edit && req.edit->inpaint && !req.edit->concat && !a1111_blend)
      latents = blend_unmasked(*req.edit, state.edit, *scheds[0], i, latents);
    if (req.profile) {
      wait_for(latents);
      req.profile->steps.push_back(seconds_since(t_step));
    }
    if (req.step_times) timeline.mark();
    // Progress in sampling steps: a step of Heun's is two model calls (reported when both ran).
    const std::int64_t call = i - begin, order = scheds[0]->order();
    if (on_step && (call % order == order - 1 || i == n - 1))
      on_step(StepInfo{static_cast<int>(call / order + 1), static_cast<int>((n - begin + order - 1) / order)}, latents);
  }
  no_sync.reset();
  if (m.graphs) m.graphs->release_inputs();
  if (req.edit && req.edit->inpaint && req.edit->blend == InpaintBlend::A1111) latents = blend_final(*req.edit, state.edit, latents);
  if (req.step_times) {
    auto v = timeline.intervals();
    req.step_times->insert(req.step_times->end(), v.begin(), v.end());
  }
  state.latents = latents;
  return latents;
}

at::Tensor decode(const Models& m, const at::Tensor& latents, Tiling tiling, const VaeTiling& tiles, std::string* how) {
  auto z = latents.to(m.device, m.dtype) / m.vae->config().scaling_factor;
  if (m.vae_channels_last) z = z.contiguous(at::MemoryFormat::ChannelsLast);
  const auto f = vae_factor(*m.vae);
  const bool tile = tiling == Tiling::On ||
                    (tiling == Tiling::Auto &&
                     should_tile(*m.vae, z.size(2) * f, z.size(3) * f, z.size(0), m.device, m.dtype));
  if (!tile && how) *how = "untiled";
  auto image = tile ? tiled_decode(*m.vae, z, tiles, how) : m.vae->decode(z);
  return (image.to(at::kFloat) / 2 + 0.5).clamp(0, 1);
}

}  // namespace gen::pipeline
