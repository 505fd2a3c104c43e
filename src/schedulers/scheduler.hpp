// gen — diffusion schedulers (samplers): DDIM, Euler, Euler ancestral, Heun, LMS, PNDM,
// DPM++ 2M, DPM++ 2M SDE, UniPC, LCM. Each follows the algorithm of the diffusers scheduler of
// the same family and matches its trajectories to float precision (tests/unit/test_schedulers.cpp).
//
// A scheduler instance is ONE sampling run: it is built from a config and a step count, and it
// owns the run's state (multistep history, Heun's first-order stash, PNDM's ets). Create a new
// instance (or call reset()) per run; instances share nothing, so the same inputs always give
// the same outputs. The loop is:
//
//   auto s = gen::make_scheduler("dpmpp_2m", config, steps);
//   at::Tensor x = noise * s->init_noise_sigma();
//   at::Generator g = at::detail::createCPUGenerator(seed);   // only stochastic steps use it
//   for (int64_t i = 0; i < s->size(); ++i) {
//     at::Tensor eps = unet(s->scale_model_input(x, i), s->timesteps()[i]);
//     x = s->step(eps, i, x, g);
//   }
//
// Noise of stochastic steps (Euler a, DPM++ 2M SDE, DDIM with eta > 0, LCM) is drawn on the CPU
// from the given generator in the same shape, dtype and order as diffusers draws it with a CPU
// torch.Generator, then moved to the sample's device.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <nlohmann/json_fwd.hpp>

namespace gen {

enum class BetaSchedule { Linear, ScaledLinear };
enum class Prediction { Epsilon, VPrediction };
enum class TimestepSpacing { Leading, Trailing, Linspace };

// The fields of a diffusers scheduler_config.json that matter. The defaults here are Stable
// Diffusion 1.x/2.x's (scaled_linear 0.00085 → 0.012 over 1000 steps, steps_offset 1,
// set_alpha_to_one false): what a model without a scheduler config (a single file) gets.
struct SchedulerConfig {
  int num_train_timesteps = 1000;
  double beta_start = 0.00085;
  double beta_end = 0.012;
  BetaSchedule beta_schedule = BetaSchedule::ScaledLinear;
  Prediction prediction_type = Prediction::Epsilon;
  // Unset: each scheduler's own default, as in diffusers (leading for DDIM, PNDM and LCM;
  // linspace for the others).
  std::optional<TimestepSpacing> timestep_spacing;
  int steps_offset = 1;
  bool set_alpha_to_one = false;
  bool clip_sample = false;  // DDIM, Heun, LCM
  double clip_sample_range = 1.0;
  bool use_karras_sigmas = false;  // Euler, Heun, LMS, DPM++ 2M (SDE), UniPC
  // Read so that a model's choice is known; make_scheduler refuses them (not implemented).
  bool use_exponential_sigmas = false;
  bool use_beta_sigmas = false;
  int solver_order = 2;            // UniPC: 1..3 (DPM++ 2M is order 2 by definition)
  bool lower_order_final = true;   // DPM++ 2M, UniPC
  bool unipc_bh1 = false;          // UniPC solver_type: bh1 (true) or bh2 (false, default)
  bool skip_prk_steps = true;      // PNDM: only the PLMS-only variant SD uses is implemented
  int original_inference_steps = 50;  // LCM
  double timestep_scaling = 10.0;     // LCM
  double eta = 0.0;  // DDIM's eta: a sampling option, not part of scheduler_config.json

  // Reads a diffusers scheduler/scheduler_config.json for the scheduler `scheduler` (a gen
  // name, as make_scheduler takes it), as diffusers' `Class.from_config` does for that name's
  // class (also through a loaded pipeline's config, whose filled-in defaults diffusers drops):
  // only the keys the class reads, each absent one taking the class's own default (DDIM:
  // set_alpha_to_one true, linear betas 0.0001 → 0.02, ...), not the defaults above.
  // Values that would change the algorithm in ways gen does not implement (thresholding,
  // trained_betas, rescale_betas_zero_snr, "sample" prediction, ...) throw Unsupported, naming
  // the key; wrong JSON types throw InvalidFormat.
  static SchedulerConfig from_json(const nlohmann::json& json, const std::string& scheduler,
                                   const std::string& subject = "scheduler_config.json");
  static SchedulerConfig from_file(const std::string& path, const std::string& scheduler);
};

// The diffusers class behind a gen scheduler name ("ddim" → "DDIMScheduler"; a _karras suffix
// is allowed) and the defaults of every config key that class's __init__ reads, as JSON.
// InvalidArgument for an unknown name.
std::string scheduler_class_of(const std::string& name);
nlohmann::json scheduler_class_defaults(const std::string& name);
// Every config key SchedulerConfig::from_json knows (honours, or refuses when set to what gen
// does not implement): each key of each class's defaults is one of them.
const std::vector<std::string>& scheduler_config_keys();

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  const std::string& name() const noexcept { return name_; }
  int num_inference_steps() const noexcept { return steps_; }
  // The timestep value to feed the model at each call (Heun calls the model twice per step,
  // PNDM once more than the steps). Integers for the alpha-based schedulers; float32 values
  // widened to double for Euler/Heun/LMS.
  const std::vector<double>& timesteps() const noexcept { return timesteps_; }
  int64_t size() const noexcept { return static_cast<int64_t>(timesteps_.size()); }
  // The scale of the initial noise: x_T = randn * init_noise_sigma().
  double init_noise_sigma() const noexcept { return init_noise_sigma_; }
  // The noise levels of sigma-based schedulers (one more than the model calls, ending in 0);
  // empty for DDIM, PNDM and LCM.
  const std::vector<float>& sigmas() const noexcept { return sigmas_; }
  // True when step() draws noise and so needs a generator.
  virtual bool stochastic() const noexcept { return false; }
  // Model calls per step (Heun: 2), as diffusers' `scheduler.order`.
  virtual int order() const noexcept { return 1; }

  // Image-to-image: the run starts at model call `index` (0 ≤ index < size()) instead of 0,
  // as diffusers' `set_begin_index(t_start * order)` after slicing the timesteps; the solver
  // history starts empty there (PNDM counts its calls from there too). Only on a fresh run.
  void set_begin_index(int64_t index);
  int64_t begin_index() const noexcept { return begin_; }
  // The clean sample `original` noised to the level of model call `index` (index == size():
  // the end of the schedule, noise level 0), exactly as the diffusers class's add_noise does
  // at that index: x + sigma·noise for the sigma-scaled schedulers, sqrt(ᾱ)·x + sqrt(1−ᾱ)·noise
  // (ᾱ of the call's timestep) for DDIM, PNDM and LCM, α_t·x + σ_t·noise for DPM-Solver/UniPC.
  virtual at::Tensor add_noise(const at::Tensor& original, const at::Tensor& noise, int64_t index) const = 0;

  // The noise level of model call i in variance-preserving form: the model input scaled by
  // c_in is alpha·x0 + sigma·eps (sigma-scaled schedulers: c_in = alpha = 1/sqrt(s²+1),
  // sigma = s/sqrt(s²+1); the others: c_in = 1, alpha² + sigma² = 1).
  struct NoiseLevel {
    double c_in = 1, alpha = 1, sigma = 0;
  };
  virtual NoiseLevel noise_level(int64_t i) const = 0;
  // The model output of call i (epsilon or v, as the config predicts) as the denoised sample
  // x0, and back: A1111's inpainting blends the denoised prediction on every call.
  at::Tensor denoised(const at::Tensor& model_output, const at::Tensor& sample, int64_t i) const;
  at::Tensor output_for(const at::Tensor& denoised, const at::Tensor& sample, int64_t i) const;

  // The model input for call i (identity except for the sigma-scaled schedulers).
  virtual at::Tensor scale_model_input(const at::Tensor& sample, int64_t i) const;
  // One update: calls must come in order i = 0, 1, ..., size()-1 (InvalidArgument otherwise).
  // The result has the sample's dtype; the arithmetic runs in float32 or wider.
  at::Tensor step(const at::Tensor& model_output, int64_t i, const at::Tensor& sample,
                  std::optional<at::Generator> generator = std::nullopt);
  // Forgets the run's state so the instance can run again from call 0.
  void reset();

 protected:
  Scheduler(std::string name, const SchedulerConfig& config, int steps);
  // The dtype diffusers draws step noise in: the model output's (DPM-Solver: float32).
  c10::ScalarType noise_dtype_ = c10::ScalarType::Float;
  virtual at::Tensor do_step(const at::Tensor& model_output, int64_t i, const at::Tensor& sample,
                             at::Generator* generator) = 0;
  virtual void do_reset() {}
  // Standard-normal noise shaped like `like`, drawn on the CPU in `dtype`, moved to like's device.
  static at::Tensor draw_noise(const at::Tensor& like, c10::ScalarType dtype, at::Generator* generator);

  std::string name_;
  SchedulerConfig config_;
  int steps_ = 0;
  std::vector<double> timesteps_;
  std::vector<float> sigmas_;
  double init_noise_sigma_ = 1.0;
  int64_t begin_ = 0;
  int64_t next_ = 0;
  // add_noise's index check (0..size()).
  void check_noise_index(int64_t index) const;
};

// The scheduler names gen knows, as users know them: ddim, euler, euler_a, heun, lms, pndm,
// dpmpp_2m, dpmpp_2m_sde, unipc, lcm. A "_karras" suffix (e.g. "dpmpp_2m_karras") turns on
// Karras sigmas, like config.use_karras_sigmas.
const std::vector<std::string>& scheduler_names();
bool scheduler_supports_karras(const std::string& name);

// Builds a scheduler for one run of `steps` steps. InvalidArgument for an unknown name (the
// message lists the valid ones), steps < 1 or > num_train_timesteps, Karras sigmas on a
// scheduler without them, or another option out of range.
std::unique_ptr<Scheduler> make_scheduler(const std::string& name, const SchedulerConfig& config,
                                          int steps);

namespace sched {  // shared pieces of the implementations (schedule.cpp)

// Training-schedule cumulative alphas, computed as diffusers does (float32 linspace/cumprod).
std::vector<float> alphas_cumprod(const SchedulerConfig& config);
// sqrt((1 - a) / a) of each cumulative alpha, in float32 (index = training timestep).
std::vector<float> train_sigmas(const std::vector<float>& alphas_cumprod);

// Timesteps (descending) of the DDIM-style spacing, used by DDIM, PNDM and (as floats) by
// Euler/Heun/LMS: linspace is rounded only when `round_linspace`.
std::vector<double> spaced_timesteps(TimestepSpacing spacing, int train, int steps, int offset,
                                     bool round_linspace);
// The spacing of the multistep solvers (DPM-Solver, UniPC): steps + 1 points, last dropped.
std::vector<double> multistep_timesteps(TimestepSpacing spacing, int train, int steps, int offset);
// numpy's interp of the training sigmas at fractional timesteps.
double interp_sigma(const std::vector<float>& train_sigmas, double t);
// Karras et al. (2022) noise levels, rho = 7, from sigma_max down to sigma_min.
std::vector<double> karras_sigmas(double sigma_min, double sigma_max, int steps);
// The fractional training timestep of a noise level (log-sigma interpolation).
double sigma_to_t(double sigma, const std::vector<float>& log_train_sigmas);
std::vector<float> log_of(const std::vector<float>& values);  // float32 log, as numpy does

// The concrete schedulers (one per file group); make_scheduler validates and dispatches.
std::unique_ptr<Scheduler> make_ddim(const SchedulerConfig& config, int steps);
std::unique_ptr<Scheduler> make_pndm(const SchedulerConfig& config, int steps);
std::unique_ptr<Scheduler> make_lcm(const SchedulerConfig& config, int steps);
std::unique_ptr<Scheduler> make_euler(const SchedulerConfig& config, int steps, bool ancestral);
std::unique_ptr<Scheduler> make_heun(const SchedulerConfig& config, int steps);
std::unique_ptr<Scheduler> make_lms(const SchedulerConfig& config, int steps);
std::unique_ptr<Scheduler> make_dpmpp_2m(const SchedulerConfig& config, int steps, bool sde);
std::unique_ptr<Scheduler> make_unipc(const SchedulerConfig& config, int steps);

}  // namespace sched
}  // namespace gen
