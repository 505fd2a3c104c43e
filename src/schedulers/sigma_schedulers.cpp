// gen — the k-diffusion style schedulers that step on noise levels sigma: Euler, Euler
// ancestral, Heun and LMS. The sample lives at scale sqrt(sigma^2 + 1) and the model sees it
// divided by that (scale_model_input).
#include <algorithm>
#include <cmath>

#include <ATen/ATen.h>

#include "gen/error.hpp"
#include "schedulers/scheduler.hpp"

namespace gen::sched {
namespace {

class SigmaScheduler : public Scheduler {
 protected:
  // Builds the timesteps and the sigmas (float32, ending in 0) as the diffusers discrete
  // schedulers do: spaced float timesteps, sigmas interpolated from the training schedule,
  // optionally replaced by Karras sigmas whose timesteps are found by log-sigma interpolation.
  SigmaScheduler(std::string name, const SchedulerConfig& c, int steps)
      : Scheduler(std::move(name), c, steps) {
    const auto spacing = c.timestep_spacing.value_or(TimestepSpacing::Linspace);
    std::vector<double> ts = spaced_timesteps(spacing, c.num_train_timesteps, steps, c.steps_offset, false);
    const auto train = train_sigmas(alphas_cumprod(c));
    std::vector<double> sig;
    for (double t : ts) sig.push_back(interp_sigma(train, t));
    if (c.use_karras_sigmas) {
      sig = karras_sigmas(sig.back(), sig.front(), steps);
      const auto logs = log_of(train);
      ts.clear();
      for (double s : sig) ts.push_back(sigma_to_t(s, logs));
    }
    for (double& t : ts) t = static_cast<double>(static_cast<float>(t));
    timesteps_ = ts;
    for (double s : sig) sigmas_.push_back(static_cast<float>(s));
    sigmas_.push_back(0.0f);
    const float max_sigma = *std::max_element(sigmas_.begin(), sigmas_.end());
    if (spacing == TimestepSpacing::Linspace || spacing == TimestepSpacing::Trailing)
      init_noise_sigma_ = max_sigma;
    else
      init_noise_sigma_ = std::sqrt(static_cast<double>(max_sigma) * max_sigma + 1);
  }

 public:
  at::Tensor scale_model_input(const at::Tensor& sample, int64_t i) const override {
    Scheduler::scale_model_input(sample, i);  // index check
    const double s = sigmas_[static_cast<size_t>(i)];
    return sample / std::sqrt(s * s + 1);
  }

 protected:
  // The denoised estimate at noise level sigma.
  at::Tensor predict_x0(const at::Tensor& out, const at::Tensor& sample, double sigma) const {
    if (config_.prediction_type == Prediction::Epsilon) return sample - sigma * out;
    return out * (-sigma / std::sqrt(sigma * sigma + 1)) + sample / (sigma * sigma + 1);
  }
  double sigma(int64_t i) const { return sigmas_[static_cast<size_t>(i)]; }

 public:
  // diffusers (Euler, Heun, LMS): original + noise · sigmas[index] (float32 sigma).
  at::Tensor add_noise(const at::Tensor& original, const at::Tensor& noise, int64_t index) const override {
    check_noise_index(index);
    return original + noise * static_cast<double>(sigmas_[static_cast<size_t>(index)]);
  }
  NoiseLevel noise_level(int64_t i) const override {
    const double s = sigma(i), k = 1 / std::sqrt(s * s + 1);
    return {k, k, s * k};
  }
};

// ---------------------------------------------------------------------------------------------
// Euler (Karras et al. 2022, Algorithm 2 without churn) and Euler ancestral.
class Euler final : public SigmaScheduler {
 public:
  Euler(const SchedulerConfig& c, int steps, bool ancestral)
      : SigmaScheduler(ancestral ? "euler_a" : "euler", c, steps), ancestral_(ancestral) {}
  bool stochastic() const noexcept override { return ancestral_; }

 protected:
  at::Tensor do_step(const at::Tensor& out, int64_t i, const at::Tensor& sample, at::Generator* gen) override {
    const double s = sigma(i), s_next = sigma(i + 1);
    at::Tensor x0 = predict_x0(out, sample, s);
    at::Tensor derivative = (sample - x0) / s;
    if (!ancestral_) return sample + derivative * (s_next - s);
    const double s_up = std::sqrt(s_next * s_next * (s * s - s_next * s_next) / (s * s));
    const double s_down = std::sqrt(s_next * s_next - s_up * s_up);
    at::Tensor prev = sample + derivative * (s_down - s);
    return prev + draw_noise(out, noise_dtype_, gen) * s_up;
  }

 private:
  bool ancestral_;
};

// ---------------------------------------------------------------------------------------------
// Heun (Karras et al. 2022, Algorithm 1): each step but the last calls the model twice, so
// timesteps and sigmas repeat every inner level: [s0, s1, s1, ..., s_{n-1}, s_{n-1}, 0].
class Heun final : public SigmaScheduler {
 public:
  int order() const noexcept override { return 2; }
  Heun(const SchedulerConfig& c, int steps) : SigmaScheduler("heun", c, steps) {
    std::vector<float> s = {sigmas_.front()};
    for (size_t k = 1; k + 1 < sigmas_.size(); ++k) s.insert(s.end(), {sigmas_[k], sigmas_[k]});
    s.push_back(sigmas_.back());
    std::vector<double> t = {timesteps_.front()};
    for (size_t k = 1; k < timesteps_.size(); ++k) t.insert(t.end(), {timesteps_[k], timesteps_[k]});
    sigmas_ = s;
    timesteps_ = t;
  }

 protected:
  void do_reset() override {
    prev_derivative_ = at::Tensor();
    first_sample_ = at::Tensor();
    dt_.reset();
  }

  at::Tensor do_step(const at::Tensor& out, int64_t i, const at::Tensor& sample, at::Generator*) override {
    const bool first_order = !dt_.has_value();
    const double s = first_order ? sigma(i) : sigma(i - 1);
    const double s_next = first_order ? sigma(i + 1) : sigma(i);
    const double s_in = first_order ? s : s_next;
    at::Tensor x0 = predict_x0(out, sample, s_in);
    if (config_.clip_sample) x0 = x0.clamp(-config_.clip_sample_range, config_.clip_sample_range);
    if (first_order) {
      at::Tensor derivative = (sample - x0) / s;
      const double dt = s_next - s;
      prev_derivative_ = derivative;
      dt_ = dt;
      first_sample_ = sample;
      return sample + derivative * dt;
    }
    at::Tensor derivative = (sample - x0) / s_next;
    derivative = (prev_derivative_ + derivative) / 2;
    const double dt = *dt_;
    at::Tensor base = first_sample_;
    do_reset();
    return base + derivative * dt;
  }

 private:
  at::Tensor prev_derivative_;
  at::Tensor first_sample_;
  std::optional<double> dt_;  // set between the two halves of a step
};

// ---------------------------------------------------------------------------------------------
// LMS: linear multistep of order up to 4 on the derivatives, with coefficients that integrate
// the Lagrange basis polynomials over [sigma_i, sigma_{i+1}].
class Lms final : public SigmaScheduler {
 public:
  Lms(const SchedulerConfig& c, int steps) : SigmaScheduler("lms", c, steps) {}

 protected:
  void do_reset() override { derivatives_.clear(); }

  at::Tensor do_step(const at::Tensor& out, int64_t i, const at::Tensor& sample, at::Generator*) override {
    constexpr int kOrder = 4;
    const double s = sigma(i);
    at::Tensor x0 = predict_x0(out, sample, s);
    derivatives_.push_back((sample - x0) / s);
    if (derivatives_.size() > static_cast<size_t>(kOrder)) derivatives_.erase(derivatives_.begin());
    // As diffusers: the order counts from the start of the schedule (an image-to-image run
    // that begins later may have fewer derivatives; zip() then uses only those).
    const int order = static_cast<int>(std::min<int64_t>(i + 1, kOrder));
    const int terms = std::min(order, static_cast<int>(derivatives_.size()));
    at::Tensor prev = sample;
    at::Tensor sum;
    for (int j = 0; j < terms; ++j) {
      const double coeff = coefficient(order, i, j);
      at::Tensor term = coeff * derivatives_[derivatives_.size() - 1 - j];
      sum = sum.defined() ? sum + term : term;
    }
    return prev + sum;
  }

 private:
  // Integral over [sigma_i, sigma_{i+1}] of prod_{k != j} (tau - sigma_{i-k}) / (sigma_{i-j} - sigma_{i-k}).
  // The integrand is a polynomial of degree <= 3: 3-point Gauss-Legendre is exact.
  double coefficient(int order, int64_t i, int j) const {
    auto basis = [&](double tau) {
      double prod = 1.0;
      for (int k = 0; k < order; ++k) {
        if (k == j) continue;
        prod *= (tau - sigma(i - k)) / (sigma(i - j) - sigma(i - k));
      }
      return prod;
    };
    const double a = sigma(i), b = sigma(i + 1);
    const double half = (b - a) / 2, mid = (a + b) / 2;
    const double x = std::sqrt(3.0 / 5.0);
    return half * (5.0 / 9.0 * basis(mid - half * x) + 8.0 / 9.0 * basis(mid) + 5.0 / 9.0 * basis(mid + half * x));
  }

  std::vector<at::Tensor> derivatives_;
};

}  // namespace

std::unique_ptr<Scheduler> make_euler(const SchedulerConfig& c, int steps, bool ancestral) {
  return std::make_unique<Euler>(c, steps, ancestral);
}
std::unique_ptr<Scheduler> make_heun(const SchedulerConfig& c, int steps) { return std::make_unique<Heun>(c, steps); }
std::unique_ptr<Scheduler> make_lms(const SchedulerConfig& c, int steps) { return std::make_unique<Lms>(c, steps); }

}  // namespace gen::sched
