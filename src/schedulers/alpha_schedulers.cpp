// gen — the schedulers that step on the cumulative alphas: DDIM, PNDM (PLMS) and LCM.
#include <cmath>

#include <ATen/ATen.h>

#include "core/fail.hpp"
#include "schedulers/scheduler.hpp"

namespace gen::sched {
namespace {

// Shared: the training alphas, the "final" alpha for a step below timestep 0, and the
// conversion of a model output to (x0, epsilon).
class AlphaScheduler : public Scheduler {
 protected:
  AlphaScheduler(std::string name, const SchedulerConfig& c, int steps)
      : Scheduler(std::move(name), c, steps), ac_(alphas_cumprod(c)) {
    final_ac_ = c.set_alpha_to_one ? 1.0 : static_cast<double>(ac_[0]);
  }

  double ac_at(double timestep) const {
    const int64_t t = static_cast<int64_t>(timestep);
    if (t < 0) return final_ac_;
    if (t >= static_cast<int64_t>(ac_.size()))
      fail(ErrorCode::InvalidArgument, name_,
           "timestep " + std::to_string(t) + " is beyond num_train_timesteps; lower steps_offset");
    return ac_[static_cast<size_t>(t)];
  }

  // Predicted clean sample from the model output at cumulative alpha `a`.
  at::Tensor predict_x0(const at::Tensor& out, const at::Tensor& sample, double a) const {
    if (config_.prediction_type == Prediction::Epsilon)
      return (sample - std::sqrt(1 - a) * out) / std::sqrt(a);
    return std::sqrt(a) * sample - std::sqrt(1 - a) * out;
  }
  at::Tensor clip(const at::Tensor& x0) const {
    return config_.clip_sample ? x0.clamp(-config_.clip_sample_range, config_.clip_sample_range) : x0;
  }

  std::vector<float> ac_;
  double final_ac_ = 1.0;

 public:
  // diffusers: sqrt(ᾱ_t)·x + sqrt(1 − ᾱ_t)·noise at the call's timestep t, float32 (the end of
  // the schedule: the clean sample).
  at::Tensor add_noise(const at::Tensor& original, const at::Tensor& noise, int64_t index) const override {
    check_noise_index(index);
    if (index == size()) return original;
    const auto t = static_cast<int64_t>(timesteps_[static_cast<size_t>(index)]);
    if (t < 0 || t >= static_cast<int64_t>(ac_.size()))
      fail(ErrorCode::InvalidArgument, name_, "timestep " + std::to_string(t) + " has no training alpha");
    const float a = ac_[static_cast<size_t>(t)];
    return original * static_cast<double>(std::sqrt(a)) + noise * static_cast<double>(std::sqrt(1.0f - a));
  }
  NoiseLevel noise_level(int64_t i) const override {
    const double a = ac_at(timesteps_[static_cast<size_t>(i)]);
    return {1.0, std::sqrt(a), std::sqrt(1 - a)};
  }
};

// ---------------------------------------------------------------------------------------------
// DDIM (Song et al. 2020) with eta: eta 0 is deterministic, eta 1 is DDPM-like.
class Ddim final : public AlphaScheduler {
 public:
  Ddim(const SchedulerConfig& c, int steps) : AlphaScheduler("ddim", c, steps) {
    timesteps_ = spaced_timesteps(c.timestep_spacing.value_or(TimestepSpacing::Leading),
                                  c.num_train_timesteps, steps, c.steps_offset, true);
  }
  bool stochastic() const noexcept override { return config_.eta > 0; }

 protected:
  at::Tensor do_step(const at::Tensor& out, int64_t i, const at::Tensor& sample, at::Generator* gen) override {
    const double t = timesteps_[i];
    // As diffusers: the previous timestep is always t - train/steps, whatever the spacing.
    const double prev_t = t - config_.num_train_timesteps / steps_;
    const double a = ac_at(t), a_prev = ac_at(prev_t);
    const double b = 1 - a, b_prev = 1 - a_prev;
    at::Tensor x0, eps;
    if (config_.prediction_type == Prediction::Epsilon) {
      x0 = (sample - std::sqrt(b) * out) / std::sqrt(a);
      eps = out;
    } else {
      x0 = std::sqrt(a) * sample - std::sqrt(b) * out;
      eps = std::sqrt(a) * out + std::sqrt(b) * sample;
    }
    x0 = clip(x0);
    const double variance = b_prev / b * (1 - a / a_prev);
    const double std_dev = config_.eta * std::sqrt(variance);
    at::Tensor prev = std::sqrt(a_prev) * x0 + std::sqrt(1 - a_prev - std_dev * std_dev) * eps;
    if (config_.eta > 0) prev = prev + std_dev * draw_noise(out, noise_dtype_, gen);
    return prev;
  }
};

// ---------------------------------------------------------------------------------------------
// PNDM in its PLMS-only form (skip_prk_steps, as Stable Diffusion's config sets): a linear
// multistep method on epsilon; the second timestep is visited twice (a Heun-like warm-up).
class Pndm final : public AlphaScheduler {
 public:
  Pndm(const SchedulerConfig& c, int steps) : AlphaScheduler("pndm", c, steps) {
    if (!c.skip_prk_steps)
      fail(ErrorCode::Unsupported, name_, "PNDM's Runge-Kutta warm-up (skip_prk_steps false) is not implemented");
    const int T = c.num_train_timesteps;
    // Ascending base timesteps, then plms = [t_{n-1}, t_{n-2}, t_{n-2}, t_{n-3}, ..., t_0].
    std::vector<double> base;
    const auto spacing = c.timestep_spacing.value_or(TimestepSpacing::Leading);
    base = spaced_timesteps(spacing, T, steps, c.steps_offset, true);
    std::reverse(base.begin(), base.end());
    std::vector<double> plms(base.begin(), base.end() - 1);
    if (base.size() >= 2) plms.push_back(base[base.size() - 2]);
    plms.push_back(base.back());
    timesteps_.assign(plms.rbegin(), plms.rend());
  }

 protected:
  void do_reset() override {
    ets_.clear();
    cur_sample_ = at::Tensor();
  }

  at::Tensor do_step(const at::Tensor& out, int64_t i, const at::Tensor& sample_in, at::Generator*) override {
    const int64_t counter = i - begin_;  // diffusers' self.counter: calls of this run
    const int ratio = config_.num_train_timesteps / steps_;
    double t = timesteps_[i];
    double prev_t = t - ratio;
    if (counter != 1) {
      if (ets_.size() > 3) ets_.erase(ets_.begin(), ets_.end() - 3);
      ets_.push_back(out);
    } else {
      prev_t = t;
      t = t + ratio;
    }
    at::Tensor sample = sample_in, eps;
    const size_t n = ets_.size();
    if (n == 1 && counter == 0) {
      eps = out;
      cur_sample_ = sample;
    } else if (n == 1 && counter == 1) {
      eps = (out + ets_.back()) / 2;
      sample = cur_sample_;
      cur_sample_ = at::Tensor();
    } else if (n == 2) {
      eps = (3 * ets_[n - 1] - ets_[n - 2]) / 2;
    } else if (n == 3) {
      eps = (23 * ets_[n - 1] - 16 * ets_[n - 2] + 5 * ets_[n - 3]) / 12;
    } else {
      eps = (1.0 / 24) * (55 * ets_[n - 1] - 59 * ets_[n - 2] + 37 * ets_[n - 3] - 9 * ets_[n - 4]);
    }
    return prev_sample(sample, t, prev_t, eps);
  }

 private:
  at::Tensor prev_sample(const at::Tensor& sample, double t, double prev_t, at::Tensor out) const {
    const double a = ac_at(t), a_prev = ac_at(prev_t);
    const double b = 1 - a, b_prev = 1 - a_prev;
    if (config_.prediction_type == Prediction::VPrediction)
      out = std::sqrt(a) * out + std::sqrt(b) * sample;
    const double sample_coeff = std::sqrt(a_prev / a);
    const double denom = a * std::sqrt(b_prev) + std::sqrt(a * b * a_prev);
    return sample_coeff * sample - (a_prev - a) * out / denom;
  }

  std::vector<at::Tensor> ets_;
  at::Tensor cur_sample_;
};

// ---------------------------------------------------------------------------------------------
// LCM (latent consistency models): a consistency-function denoise at each step, re-noised to
// the next timestep with fresh noise (except after the last).
class Lcm final : public AlphaScheduler {
 public:
  Lcm(const SchedulerConfig& c, int steps) : AlphaScheduler("lcm", c, steps) {
    const int T = c.num_train_timesteps, orig = c.original_inference_steps;
    if (orig < 1 || orig > T)
      fail(ErrorCode::InvalidArgument, name_, "original_inference_steps must be within 1..num_train_timesteps");
    if (steps > orig)
      fail(ErrorCode::InvalidArgument, name_,
           "the number of steps (" + std::to_string(steps) + ") exceeds original_inference_steps (" +
               std::to_string(orig) + ")");
    const int k = T / orig;
    std::vector<double> origin;  // descending: orig*k - 1, ..., k - 1
    for (int j = orig; j >= 1; --j) origin.push_back(static_cast<double>(j) * k - 1);
    const double len = static_cast<double>(origin.size());
    const double step = len / steps;
    for (int j = 0; j < steps; ++j) timesteps_.push_back(origin[static_cast<size_t>(std::floor(j * step))]);
  }
  bool stochastic() const noexcept override { return steps_ > 1; }

 protected:
  at::Tensor do_step(const at::Tensor& out, int64_t i, const at::Tensor& sample, at::Generator* gen) override {
    const double t = timesteps_[i];
    const double prev_t = i + 1 < size() ? timesteps_[i + 1] : t;
    const double a = ac_at(t), a_prev = ac_at(prev_t);
    const double sigma_data = 0.5;
    const double scaled = static_cast<double>(static_cast<float>(t * config_.timestep_scaling));
    const double c_skip = sigma_data * sigma_data / (scaled * scaled + sigma_data * sigma_data);
    const double c_out = scaled / std::sqrt(scaled * scaled + sigma_data * sigma_data);
    at::Tensor x0 = clip(predict_x0(out, sample, a));
    at::Tensor denoised = c_out * x0 + c_skip * sample;
    if (i == steps_ - 1) return denoised;
    return std::sqrt(a_prev) * denoised + std::sqrt(1 - a_prev) * draw_noise(out, noise_dtype_, gen);
  }
};

}  // namespace

std::unique_ptr<Scheduler> make_ddim(const SchedulerConfig& c, int steps) { return std::make_unique<Ddim>(c, steps); }
std::unique_ptr<Scheduler> make_pndm(const SchedulerConfig& c, int steps) { return std::make_unique<Pndm>(c, steps); }
std::unique_ptr<Scheduler> make_lcm(const SchedulerConfig& c, int steps) { return std::make_unique<Lcm>(c, steps); }

}  // namespace gen::sched
