// gen — scheduler config, the shared noise-schedule arithmetic, the base class and the factory.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "core/fail.hpp"
#include "schedulers/scheduler.hpp"

namespace gen {

// ---------------------------------------------------------------------------------------------
// Schedule arithmetic. The float32 parts are computed with ATen exactly as diffusers computes
// them with torch; the numpy parts (float64) are reproduced operation by operation.

namespace sched {

std::vector<float> alphas_cumprod(const SchedulerConfig& c) {
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  at::Tensor betas;
  if (c.beta_schedule == BetaSchedule::Linear) {
    betas = at::linspace(c.beta_start, c.beta_end, c.num_train_timesteps, f32);
  } else {
    betas = at::linspace(std::pow(c.beta_start, 0.5), std::pow(c.beta_end, 0.5), c.num_train_timesteps, f32).pow(2);
  }
  at::Tensor ac = at::cumprod(1.0 - betas, 0).contiguous();
  return std::vector<float>(ac.data_ptr<float>(), ac.data_ptr<float>() + ac.numel());
}

std::vector<float> train_sigmas(const std::vector<float>& alphas_cumprod) {
  at::Tensor ac = at::from_blob(const_cast<float*>(alphas_cumprod.data()),
                                {static_cast<int64_t>(alphas_cumprod.size())}, at::kFloat);
  at::Tensor s = ((1 - ac) / ac).pow(0.5).contiguous();
  return std::vector<float>(s.data_ptr<float>(), s.data_ptr<float>() + s.numel());
}

std::vector<float> log_of(const std::vector<float>& values) {
  at::Tensor v = at::from_blob(const_cast<float*>(values.data()), {static_cast<int64_t>(values.size())},
                               at::kFloat);
  at::Tensor l = at::log(v).contiguous();
  return std::vector<float>(l.data_ptr<float>(), l.data_ptr<float>() + l.numel());
}

namespace {

// np.linspace(start, stop, num, endpoint): y_i = i * ((stop - start) / div) + start.
std::vector<double> np_linspace(double start, double stop, int num, bool endpoint) {
  std::vector<double> y(static_cast<size_t>(std::max(num, 0)));
  const int div = endpoint ? num - 1 : num;
  if (div <= 0) {
    for (auto& v : y) v = start;
    return y;
  }
  const double step = (stop - start) / div;
  for (int i = 0; i < num; ++i) y[i] = i * step + start;
  if (endpoint && num > 1) y[num - 1] = stop;
  return y;
}

// np.arange(start, stop, step) for floats: start + i * (buffer[1] - buffer[0]).
std::vector<double> np_arange(double start, double stop, double step) {
  const double len_f = std::ceil((stop - start) / step);
  const int64_t len = len_f > 0 ? static_cast<int64_t>(len_f) : 0;
  std::vector<double> y(static_cast<size_t>(len));
  if (len == 0) return y;
  const double delta = (start + step) - start;
  for (int64_t i = 0; i < len; ++i) y[i] = i == 0 ? start : start + i * delta;
  return y;
}

double np_round(double v) { return std::nearbyint(v); }  // half to even, as numpy

}  // namespace

std::vector<double> spaced_timesteps(TimestepSpacing spacing, int train, int steps, int offset,
                                     bool round_linspace) {
  std::vector<double> t;
  switch (spacing) {
    case TimestepSpacing::Linspace: {
      t = np_linspace(0, train - 1, steps, true);
      for (auto& v : t) v = round_linspace ? np_round(v) : static_cast<double>(static_cast<float>(v));
      std::reverse(t.begin(), t.end());
      break;
    }
    case TimestepSpacing::Leading: {
      const int ratio = train / steps;
      for (int i = steps - 1; i >= 0; --i) t.push_back(static_cast<double>(i) * ratio + offset);
      break;
    }
    case TimestepSpacing::Trailing: {
      const double ratio = static_cast<double>(train) / steps;
      for (double v : np_arange(train, 0, -ratio)) t.push_back(np_round(v) - 1);
      break;
    }
  }
  return t;
}

std::vector<double> multistep_timesteps(TimestepSpacing spacing, int train, int steps, int offset) {
  std::vector<double> t;
  switch (spacing) {
    case TimestepSpacing::Linspace: {
      auto y = np_linspace(0, train - 1, steps + 1, true);
      for (int i = steps; i >= 1; --i) t.push_back(np_round(y[i]));
      break;
    }
    case TimestepSpacing::Leading: {
      const int ratio = train / (steps + 1);
      for (int i = steps; i >= 1; --i) t.push_back(static_cast<double>(i) * ratio + offset);
      break;
    }
    case TimestepSpacing::Trailing: {
      const double ratio = static_cast<double>(train) / steps;
      for (double v : np_arange(train, 0, -ratio)) t.push_back(np_round(v) - 1);
      break;
    }
  }
  return t;
}

double interp_sigma(const std::vector<float>& s, double t) {
  const int64_t n = static_cast<int64_t>(s.size());
  if (t <= 0) return s[0];
  if (t >= n - 1) return s[n - 1];
  const int64_t j = static_cast<int64_t>(std::floor(t));
  const double slope = (static_cast<double>(s[j + 1]) - s[j]) / 1.0;
  return slope * (t - static_cast<double>(j)) + s[j];
}

std::vector<double> karras_sigmas(double sigma_min, double sigma_max, int steps) {
  const double rho = 7.0;
  const auto ramp = np_linspace(0, 1, steps, true);
  const double min_inv = std::pow(sigma_min, 1 / rho), max_inv = std::pow(sigma_max, 1 / rho);
  std::vector<double> out;
  for (double r : ramp) out.push_back(std::pow(max_inv + r * (min_inv - max_inv), rho));
  return out;
}

double sigma_to_t(double sigma, const std::vector<float>& log_sigmas) {
  const double log_sigma = std::log(std::max(sigma, 1e-10));
  const int64_t n = static_cast<int64_t>(log_sigmas.size());
  // argmax of cumsum(dists >= 0): the last index whose log sigma is <= log_sigma (0 if none).
  int64_t low = 0, count = 0, best = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (log_sigma - static_cast<double>(log_sigmas[i]) >= 0) {
      ++count;
      if (count > best) { best = count; low = i; }
    }
  }
  low = std::min(low, n - 2);
  const int64_t high = low + 1;
  const double lo = log_sigmas[low], hi = log_sigmas[high];
  double w = (lo - log_sigma) / (lo - hi);
  w = std::clamp(w, 0.0, 1.0);
  return (1 - w) * static_cast<double>(low) + w * static_cast<double>(high);
}

}  // namespace sched

// ---------------------------------------------------------------------------------------------
// Base class

Scheduler::Scheduler(std::string name, const SchedulerConfig& config, int steps)
    : name_(std::move(name)), config_(config), steps_(steps) {}

at::Tensor Scheduler::scale_model_input(const at::Tensor& sample, int64_t i) const {
  if (i < 0 || i >= size())
    fail(ErrorCode::InvalidArgument, name_, "model call index " + std::to_string(i) + " is outside 0.." +
                                                std::to_string(size() - 1));
  return sample;
}

void Scheduler::reset() {
  next_ = begin_ = 0;
  do_reset();
}

void Scheduler::set_begin_index(int64_t index) {
  if (next_ != begin_)
    fail(ErrorCode::InvalidArgument, name_, "set_begin_index after steps were taken; create a new scheduler");
  if (index < 0 || index >= size())
    fail(ErrorCode::InvalidArgument, name_,
         "begin index " + std::to_string(index) + " is outside 0.." + std::to_string(size() - 1));
  begin_ = next_ = index;
}

at::Tensor Scheduler::denoised(const at::Tensor& out, const at::Tensor& sample, int64_t i) const {
  const auto l = noise_level(i);
  const auto x = sample * l.c_in;
  if (config_.prediction_type == Prediction::Epsilon) return (x - out * l.sigma) / l.alpha;
  return x * l.alpha - out * l.sigma;
}

at::Tensor Scheduler::output_for(const at::Tensor& x0, const at::Tensor& sample, int64_t i) const {
  const auto l = noise_level(i);
  const auto x = sample * l.c_in;
  if (config_.prediction_type == Prediction::Epsilon) return (x - x0 * l.alpha) / l.sigma;
  return (x * l.alpha - x0) / l.sigma;
}

void Scheduler::check_noise_index(int64_t index) const {
  if (index < 0 || index > size())
    fail(ErrorCode::InvalidArgument, name_,
         "noise level index " + std::to_string(index) + " is outside 0.." + std::to_string(size()));
}

at::Tensor Scheduler::draw_noise(const at::Tensor& like, c10::ScalarType dtype, at::Generator* generator) {
  at::Tensor noise = at::randn(like.sizes(), *generator, at::TensorOptions().dtype(dtype).device(at::kCPU));
  if (like.is_cpu()) return noise.to(like.scalar_type());
  // To a GPU through page-locked memory, so that the copy is queued behind the step's work
  // instead of making the host wait for it (no synchronisation inside the sampling loop).
  // (The dtype is changed on the host first: a copy that also converts would stage through
  // pageable memory.)
  return noise.to(like.scalar_type()).pin_memory().to(like.device(), /*non_blocking=*/true);
}

at::Tensor Scheduler::step(const at::Tensor& model_output, int64_t i, const at::Tensor& sample,
                           std::optional<at::Generator> generator) {
  if (i != next_) {
    fail(ErrorCode::InvalidArgument, name_,
         "step " + std::to_string(i) + " called out of order (expected " + std::to_string(next_) +
             "); create a new scheduler or reset() for a new run");
  }
  if (i >= size())
    fail(ErrorCode::InvalidArgument, name_, "all " + std::to_string(size()) + " steps are done");
  if (!model_output.defined() || !sample.defined() || model_output.sizes() != sample.sizes())
    fail(ErrorCode::InvalidArgument, name_, "model output and sample must be tensors of the same shape");
  if (stochastic() && (!generator || !generator->defined()))
    fail(ErrorCode::InvalidArgument, name_, "this scheduler draws noise: pass a generator");
  const auto out_dtype = sample.scalar_type();
  noise_dtype_ = model_output.scalar_type();
  auto up = [](const at::Tensor& t) {
    return t.scalar_type() == at::kDouble ? t : t.to(at::kFloat);
  };
  at::Tensor result = do_step(up(model_output), i, up(sample), generator ? &*generator : nullptr);
  ++next_;
  return result.to(out_dtype);
}

// ---------------------------------------------------------------------------------------------
// Factory

const std::vector<std::string>& scheduler_names() {
  static const std::vector<std::string> names = {"ddim", "euler", "euler_a", "heun", "lms", "pndm",
                                                 "dpmpp_2m", "dpmpp_2m_sde", "unipc", "lcm"};
  return names;
}

bool scheduler_supports_karras(const std::string& name) {
  return name == "euler" || name == "heun" || name == "lms" || name == "dpmpp_2m" ||
         name == "dpmpp_2m_sde" || name == "unipc";
}

std::unique_ptr<Scheduler> make_scheduler(const std::string& requested, const SchedulerConfig& config_in,
                                          int steps) {
  std::string name = requested;
  SchedulerConfig config = config_in;
  const std::string suffix = "_karras";
  if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
    name = name.substr(0, name.size() - suffix.size());
    config.use_karras_sigmas = true;
  }
  const auto& names = scheduler_names();
  if (std::find(names.begin(), names.end(), name) == names.end()) {
    std::ostringstream valid;
    for (size_t k = 0; k < names.size(); ++k) valid << (k ? ", " : "") << names[k];
    fail(ErrorCode::InvalidArgument, "scheduler \"" + requested + "\"",
         "unknown scheduler; valid names: " + valid.str() + " (add _karras for Karras sigmas where supported)");
  }
  const std::string subject = "scheduler " + requested;
  if (config.num_train_timesteps < 2)
    fail(ErrorCode::InvalidArgument, subject, "num_train_timesteps must be at least 2");
  if (steps < 1) fail(ErrorCode::InvalidArgument, subject, "the number of steps must be at least 1");
  if (steps > config.num_train_timesteps)
    fail(ErrorCode::InvalidArgument, subject,
         "the number of steps (" + std::to_string(steps) + ") exceeds num_train_timesteps (" +
             std::to_string(config.num_train_timesteps) + ")");
  if (config.use_exponential_sigmas || config.use_beta_sigmas)
    fail(ErrorCode::Unsupported, subject,
         std::string(config.use_exponential_sigmas ? "use_exponential_sigmas" : "use_beta_sigmas") +
             " true is not supported by gen's schedulers (--scheduler normal or karras overrides the model's)");
  if (config.use_karras_sigmas && !scheduler_supports_karras(name))
    fail(ErrorCode::InvalidArgument, subject,
         "Karras sigmas are not available for " + name +
             " (they are for euler, heun, lms, dpmpp_2m, dpmpp_2m_sde, unipc)");
  if (!(config.beta_start > 0) || !(config.beta_end > config.beta_start) || !(config.beta_end < 1))
    fail(ErrorCode::InvalidArgument, subject, "need 0 < beta_start < beta_end < 1");
  if (!(config.eta >= 0) || !std::isfinite(config.eta))
    fail(ErrorCode::InvalidArgument, subject, "eta must be a finite number >= 0");
  if (config.steps_offset < 0) fail(ErrorCode::InvalidArgument, subject, "steps_offset must be >= 0");

  if (name == "ddim") return sched::make_ddim(config, steps);
  if (name == "pndm") return sched::make_pndm(config, steps);
  if (name == "lcm") return sched::make_lcm(config, steps);
  if (name == "euler") return sched::make_euler(config, steps, false);
  if (name == "euler_a") return sched::make_euler(config, steps, true);
  if (name == "heun") return sched::make_heun(config, steps);
  if (name == "lms") return sched::make_lms(config, steps);
  if (name == "dpmpp_2m") return sched::make_dpmpp_2m(config, steps, false);
  if (name == "dpmpp_2m_sde") return sched::make_dpmpp_2m(config, steps, true);
  return sched::make_unipc(config, steps);
}

}  // namespace gen
