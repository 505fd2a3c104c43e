// gen — the SDXL base → refiner hand-off (docs/sdxl.md), as diffusers' "ensemble of expert
// denoisers": the base runs the first part of the schedule (StableDiffusionXLPipeline's
// `denoising_end` F: the model calls whose timestep is at least the discrete cutoff
// int(round(T − F·T)), T the training timesteps) and returns its latents as they are
// (output_type="latent": not decoded, not unscaled); the refiner
// (StableDiffusionXLImg2ImgPipeline with `denoising_start` F) builds its own schedule of the
// same number of steps, starts at the first call below the cutoff, and continues from those
// latents without noising them again. Each image keeps its CPU generator across the two.
#pragma once

#include <ATen/core/Tensor.h>

#include <atomic>
#include <cstdint>
#include <vector>

#include "pipeline/generate.hpp"
#include "schedulers/scheduler.hpp"

namespace gen::pipeline {

// diffusers' discrete_timestep_cutoff for a denoising fraction: int(round(T − F·T)) (Python's
// round: half to even).
std::int64_t timestep_cutoff(int num_train_timesteps, double fraction);

// The model call the base stops before with denoising_end F, counting from `begin`: begin +
// the calls from there whose timestep is ≥ the cutoff.
std::int64_t denoising_end_index(const Scheduler& scheduler, std::int64_t begin, int num_train_timesteps,
                                 double fraction);

// The first model call with denoising_start F (StableDiffusionXLImg2ImgPipeline.get_timesteps):
// the calls whose timestep is below the cutoff run, one more for a second-order scheduler when
// their count is even (so that a step's two calls stay together).
std::int64_t denoising_start_index(const Scheduler& scheduler, int num_train_timesteps, double fraction);

// The refiner's part of a hand-off: its models, settings (with its own added condition) and
// conditioning, and where the base stopped.
struct RefinerJob {
  Models models;
  DenoiseRequest denoise;
  at::Tensor negative, positive;
  double switch_at = 0.8;  // F
};

// Continues `latents` (the base's, stopped at F) with the refiner, each image with its
// generator from the base's run (moved in). `on_step` sees the refiner's steps numbered after
// `steps_before` (the base's), out of the two together.
at::Tensor refiner_pass(const RefinerJob& job, const at::Tensor& latents, std::vector<at::Generator> generators,
                        int steps_before, const StepCallback& on_step, const std::atomic<bool>* cancel);

}  // namespace gen::pipeline
