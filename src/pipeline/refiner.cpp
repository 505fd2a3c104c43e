#include "pipeline/refiner.hpp"

#include <ATen/ATen.h>

#include <cmath>

#include "core/fail.hpp"

namespace gen::pipeline {

std::int64_t timestep_cutoff(int num_train_timesteps, double fraction) {
  const double t = num_train_timesteps;
  return static_cast<std::int64_t>(std::nearbyint(t - fraction * t));  // the default rounding: half to even
}

std::int64_t denoising_end_index(const Scheduler& s, std::int64_t begin, int train, double fraction) {
  const auto cutoff = static_cast<double>(timestep_cutoff(train, fraction));
  std::int64_t end = begin;
  for (std::int64_t i = begin; i < s.size(); ++i)
    if (s.timesteps()[static_cast<std::size_t>(i)] >= cutoff) ++end;
  return end;
}

std::int64_t denoising_start_index(const Scheduler& s, int train, double fraction) {
  const auto cutoff = static_cast<double>(timestep_cutoff(train, fraction));
  std::int64_t count = 0;
  for (double t : s.timesteps())
    if (t < cutoff) ++count;
  if (s.order() == 2 && count % 2 == 0) ++count;
  return s.size() - count;
}

at::Tensor refiner_pass(const RefinerJob& job, const at::Tensor& latents, std::vector<at::Generator> generators,
                        int steps_before, const StepCallback& on_step, const std::atomic<bool>* cancel) {
  const auto& d = job.denoise;
  LatentState state;
  const auto b = latents.size(0);
  if (static_cast<std::int64_t>(generators.size()) != b)
    fail(ErrorCode::Internal, "refiner", "one generator per image is needed");
  for (std::int64_t k = 0; k < b; ++k) {
    state.schedulers.push_back(make_scheduler(d.sampler, d.scheduler, d.steps));
    auto& s = *state.schedulers.back();
    const auto begin = denoising_start_index(s, d.scheduler.num_train_timesteps, job.switch_at);
    if (begin >= s.size())
      fail(ErrorCode::InvalidArgument, "refiner_switch",
           "at " + std::to_string(job.switch_at) + " of " + std::to_string(d.steps) +
               " steps leaves the refiner no step (no timestep below the cutoff " +
               std::to_string(timestep_cutoff(d.scheduler.num_train_timesteps, job.switch_at)) +
               "): lower --refiner-switch or raise --steps");
    s.set_begin_index(begin);
  }
  state.generators = std::move(generators);
  state.latents = latents.to(job.models.device, job.models.dtype);
  StepCallback shifted;
  if (on_step)
    shifted = [&](const StepInfo& info, const at::Tensor& x) {
      on_step(StepInfo{steps_before + info.step, steps_before + info.total}, x);
    };
  return denoise(job.models, d, state, job.negative, job.positive, shifted, cancel);
}

}  // namespace gen::pipeline
