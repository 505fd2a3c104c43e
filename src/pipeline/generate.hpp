// gen — the denoising pipeline: noise drawn on the CPU per image (seed + i), the
// scheduler loop with classifier-free guidance (both halves in one batch; a single
// pass when guidance is off), ControlNet residuals, and the VAE decode.
#pragma once

#include <ATen/core/Tensor.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "control/controlnet.hpp"
#include "control/t2i_adapter.hpp"
#include "gen/request.hpp"
#include "models/unet.hpp"
#include "models/vae.hpp"
#include "pipeline/edit.hpp"
#include "pipeline/step_graph.hpp"
#include "pipeline/tiled_vae.hpp"
#include "schedulers/scheduler.hpp"

namespace gen::pipeline {

// How a ControlNet's residuals are weighted (gen/request.hpp).
using ControlMode = gen::ControlMode;

struct ControlUnit {
  const control::ControlNet* net = nullptr;
  at::Tensor image;  // [1, 3, H, W] float in [0, 1], already at the output size
  double scale = 1.0;
  double start = 0.0;  // fraction of the steps where it starts acting
  double end = 1.0;    // … and stops
  // --control-pool on an LDM file (the original code and the A1111 extension): the pooled
  // residuals go to the conditional half only, at the plain scale, for this unit alone.
  bool pooled_by_request = false;
  // A UniControl's task (docs/unicontrol.md); null for a plain ControlNet.
  std::shared_ptr<const control::TaskModulation> task;
  // A ControlNet Union's control types, one per condition; `image` then holds the conditions'
  // images [K, 3, H, W] in this order. Empty for another ControlNet.
  std::vector<std::int64_t> union_types;
};

// A T2I-Adapter with its control image: its features × scale, summed over the adapters (diffusers'
// MultiAdapter with adapter_conditioning_scale as the weights), are added inside the UNet's encoder
// on every step; the adapters run once, before the loop.
struct AdapterUnit {
  const control::T2IAdapter* net = nullptr;
  at::Tensor image;  // [1, in_channels, H, W] float in [0, 1], at the output size
  double scale = 1.0;
  std::string name;  // for errors ("T2I-Adapter 0 (FILE)")
};

// Per-step and per-model times, measured with the device synchronised around each model
// call (so they are exact, at the cost of the overlap between calls).
struct DenoiseProfile {
  std::vector<double> steps;  // seconds of each model call
  double unet = 0;
  double controlnet = 0;
};

struct DenoiseRequest {
  int width = 512;
  int height = 512;
  int batch_size = 1;
  std::uint64_t seed = 0;  // image i of the batch uses seed + i
  double cfg_scale = 7.5;
  std::string sampler = "euler";
  int steps = 20;
  SchedulerConfig scheduler;
  std::vector<ControlUnit> controls;
  std::vector<AdapterUnit> adapters;
  // diffusers' guess mode (conditional half only, 0.1 → 1 scales but for pooled ControlNets);
  // also on when the first ControlNet's diffusers config sets global_pool_conditions, as the
  // diffusers pipeline decides (Engine sets it).
  bool guess_mode = false;
  ControlMode control_mode = ControlMode::Balanced;
  // Image-to-image / inpainting (pipeline/edit.hpp): the strength's schedule, the starting
  // latents from the init image, the UNet's extra inputs or the blend after each call.
  const EditInputs* edit = nullptr;
  // SDXL: the UNet's added condition of each CFG half, [1, adm_in_channels]
  // (models::added_condition: pooled text + time ids); undefined for other models.
  at::Tensor added_negative, added_positive;
  // SDXL base before a refiner (pipeline/refiner.hpp): diffusers' denoising_end, the fraction
  // of the schedule after which the loop stops (0: runs to the end).
  double denoising_end = 0;
  DenoiseProfile* profile = nullptr;  // when set, filled (and the device synchronised)
  // When set, the seconds of each step (model calls and scheduler) are appended, measured
  // without synchronising inside the loop (CUDA events; host clocks on the CPU).
  std::vector<double>* step_times = nullptr;
  // Checks (tests): any host-device synchronisation inside the loop throws
  // (kernels::SyncCheck; CUDA only).
  bool forbid_sync = false;
};

struct StepInfo {
  int step = 0;   // 1-based sampling step that just ended (Heun's steps are two model calls)
  int total = 0;  // the steps this run takes (image-to-image: those its strength runs)
};
using StepCallback = std::function<void(const StepInfo&, const at::Tensor& latents)>;

struct Models {
  const models::UNet* unet = nullptr;
  const models::Vae* vae = nullptr;
  at::ScalarType dtype = at::kFloat;
  c10::Device device = c10::Device(c10::kCPU);
  // The VAE's weights are channels-last (NHWC): decode in that layout (measured on the CPU:
  // the SD 1.5 decode at 256x256 takes 2.34 s instead of 3.13 s, docs/performance.md).
  bool vae_channels_last = false;
  // The UNet's and ControlNets' weights are channels-last: run them NHWC (on CUDA).
  bool unet_channels_last = false;
  // When set (and the request is not profiled), the model half of each step runs through
  // these graphs (pipeline/step_graph.hpp); the graphs must be cleared when any of the
  // models they ran goes away.
  StepGraphs* graphs = nullptr;
};

// The starting point of the loop: per image a scheduler and a CPU generator seeded seed + i,
// which draws the initial noise (in the model dtype, as diffusers with a list of
// torch.Generator("cpu")) and then feeds that image's stochastic steps.
struct LatentState {
  at::Tensor latents;  // [B, C, h, w] on the model's device, scaled by the initial sigma
  std::vector<std::unique_ptr<Scheduler>> schedulers;
  std::vector<at::Generator> generators;
  EditLatents edit;    // editing requests: what the loop needs besides the latents
};
LatentState prepare_latents(const Models& models, const DenoiseRequest& req);

// Runs the loop from `state`. `negative`/`positive`: [1, L, C] conditioning. Returns latents
// (not divided by the VAE scaling factor). `cancel` is polled between steps.
at::Tensor denoise(const Models& models, const DenoiseRequest& req, LatentState& state, const at::Tensor& negative,
                   const at::Tensor& positive, const StepCallback& on_step = nullptr,
                   const std::atomic<bool>* cancel = nullptr);
// prepare_latents, then the loop.
at::Tensor denoise(const Models& models, const DenoiseRequest& req, const at::Tensor& negative,
                   const at::Tensor& positive, const StepCallback& on_step = nullptr,
                   const std::atomic<bool>* cancel = nullptr);

// Σ scale · adapter(image) per level, checked against the UNet's levels for latents of
// `latent_h` × `latent_w` (ModelMismatch naming the adapter). Empty without adapters.
std::vector<at::Tensor> adapter_features(const Models& models, const DenoiseRequest& req, std::int64_t latent_h,
                                         std::int64_t latent_w);

// The weights of one ControlNet's residuals (skips first, the middle block last): the
// scale, × logspace(−1, 0, count) in guess mode unless the ControlNet pools its residuals
// (diffusers skips the ramp for global_pool_conditions), × 0.825^(count−1−i) in the A1111
// prompt / control modes.
std::vector<double> residual_scales(const DenoiseRequest& req, double scale, std::size_t count, bool pooled = false);

// Latents → images [B, 3, H, W] in [0, 1] (float). `tiling`: Off decodes in one piece;
// On decodes in overlapping tiles (pipeline/tiled_vae.hpp) when the latents are larger
// than one tile; Auto tiles when should_tile() says the untiled decode would not fit in
// memory (so results are unchanged unless memory is short).
// `how` (optional): "untiled", "exact" or "blended".
at::Tensor decode(const Models& models, const at::Tensor& latents, Tiling tiling = Tiling::Auto,
                  const VaeTiling& tiles = {}, std::string* how = nullptr);

// The VAE's downsampling factor (2^(levels−1); 8 for SD).
std::int64_t vae_factor(const models::Vae& vae);

}  // namespace gen::pipeline
