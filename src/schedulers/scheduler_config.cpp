// gen — reading a diffusers scheduler_config.json for one of gen's schedulers, as
// `Class.from_config(config)` reads it (also when a loaded pipeline's scheduler is swapped:
// `Class.from_config(pipe.scheduler.config)` drops the defaults the folder's class filled in):
// the keys the diffusers class behind the scheduler name reads, each from the config or, when
// absent, the class's own __init__ default (not Stable Diffusion's); keys the class does not
// read are ignored, as diffusers ignores them. Every key a
// class reads is either honoured or refused by name when its value asks for something gen does
// not implement (docs/formats.md lists them).
#include <cmath>
#include <limits>
#include <map>

#include <nlohmann/json.hpp>

#include "core/fail.hpp"
#include "core/json.hpp"
#include "schedulers/scheduler.hpp"

namespace gen {
namespace {

using nlohmann::json;

struct ClassDefaults {
  const char* diffusers_class;
  const char* defaults;  // JSON: every __init__ key of the class with its default
};

// The diffusers class of each scheduler name and its __init__ defaults, as
// tools/make_scheduler_fixtures.py --class-defaults reads them from diffusers
// (tests/data/schedulers/class_defaults.json; test_schedulers.cpp compares the two).
const std::map<std::string, ClassDefaults>& class_table() {
  static const std::map<std::string, ClassDefaults> table = {
    {"ddim", {"DDIMScheduler", R"({"beta_end":0.02,"beta_schedule":"linear","beta_start":0.0001,"clip_sample":true,"clip_sample_range":1.0,"dynamic_thresholding_ratio":0.995,"num_train_timesteps":1000,"prediction_type":"epsilon","rescale_betas_zero_snr":false,"sample_max_value":1.0,"set_alpha_to_one":true,"steps_offset":0,"thresholding":false,"timestep_spacing":"leading","trained_betas":null})"}},
    {"dpmpp_2m", {"DPMSolverMultistepScheduler", R"({"algorithm_type":"dpmsolver++","beta_end":0.02,"beta_schedule":"linear","beta_start":0.0001,"dynamic_thresholding_ratio":0.995,"euler_at_final":false,"final_sigmas_type":"zero","flow_shift":1.0,"lambda_min_clipped":"-inf","lower_order_final":true,"num_train_timesteps":1000,"prediction_type":"epsilon","rescale_betas_zero_snr":false,"sample_max_value":1.0,"solver_order":2,"solver_type":"midpoint","steps_offset":0,"thresholding":false,"time_shift_type":"exponential","timestep_spacing":"linspace","trained_betas":null,"use_beta_sigmas":false,"use_dynamic_shifting":false,"use_exponential_sigmas":false,"use_flow_sigmas":false,"use_karras_sigmas":false,"use_lu_lambdas":false,"variance_type":null})"}},
    {"dpmpp_2m_sde", {"DPMSolverMultistepScheduler", R"({"algorithm_type":"dpmsolver++","beta_end":0.02,"beta_schedule":"linear","beta_start":0.0001,"dynamic_thresholding_ratio":0.995,"euler_at_final":false,"final_sigmas_type":"zero","flow_shift":1.0,"lambda_min_clipped":"-inf","lower_order_final":true,"num_train_timesteps":1000,"prediction_type":"epsilon","rescale_betas_zero_snr":false,"sample_max_value":1.0,"solver_order":2,"solver_type":"midpoint","steps_offset":0,"thresholding":false,"time_shift_type":"exponential","timestep_spacing":"linspace","trained_betas":null,"use_beta_sigmas":false,"use_dynamic_shifting":false,"use_exponential_sigmas":false,"use_flow_sigmas":false,"use_karras_sigmas":false,"use_lu_lambdas":false,"variance_type":null})"}},
    {"euler", {"EulerDiscreteScheduler", R"({"beta_end":0.02,"beta_schedule":"linear","beta_start":0.0001,"final_sigmas_type":"zero","interpolation_type":"linear","num_train_timesteps":1000,"prediction_type":"epsilon","rescale_betas_zero_snr":false,"sigma_max":null,"sigma_min":null,"steps_offset":0,"timestep_spacing":"linspace","timestep_type":"discrete","trained_betas":null,"use_beta_sigmas":false,"use_exponential_sigmas":false,"use_karras_sigmas":false})"}},
    {"euler_a", {"EulerAncestralDiscreteScheduler", R"({"beta_end":0.02,"beta_schedule":"linear","beta_start":0.0001,"num_train_timesteps":1000,"prediction_type":"epsilon","rescale_betas_zero_snr":false,"steps_offset":0,"timestep_spacing":"linspace","trained_betas":null})"}},
    {"heun", {"HeunDiscreteScheduler", R"({"beta_end":0.012,"beta_schedule":"linear","beta_start":0.00085,"clip_sample":false,"clip_sample_range":1.0,"num_train_timesteps":1000,"prediction_type":"epsilon","steps_offset":0,"timestep_spacing":"linspace","trained_betas":null,"use_beta_sigmas":false,"use_exponential_sigmas":false,"use_karras_sigmas":false})"}},
    {"lcm", {"LCMScheduler", R"({"beta_end":0.012,"beta_schedule":"scaled_linear","beta_start":0.00085,"clip_sample":false,"clip_sample_range":1.0,"dynamic_thresholding_ratio":0.995,"num_train_timesteps":1000,"original_inference_steps":50,"prediction_type":"epsilon","rescale_betas_zero_snr":false,"sample_max_value":1.0,"set_alpha_to_one":true,"steps_offset":0,"thresholding":false,"timestep_scaling":10.0,"timestep_spacing":"leading","trained_betas":null})"}},
    {"lms", {"LMSDiscreteScheduler", R"({"beta_end":0.02,"beta_schedule":"linear","beta_start":0.0001,"num_train_timesteps":1000,"prediction_type":"epsilon","steps_offset":0,"timestep_spacing":"linspace","trained_betas":null,"use_beta_sigmas":false,"use_exponential_sigmas":false,"use_karras_sigmas":false})"}},
    {"pndm", {"PNDMScheduler", R"({"beta_end":0.02,"beta_schedule":"linear","beta_start":0.0001,"num_train_timesteps":1000,"prediction_type":"epsilon","set_alpha_to_one":false,"skip_prk_steps":false,"steps_offset":0,"timestep_spacing":"leading","trained_betas":null})"}},
    {"unipc", {"UniPCMultistepScheduler", R"({"beta_end":0.02,"beta_schedule":"linear","beta_start":0.0001,"disable_corrector":[],"dynamic_thresholding_ratio":0.995,"final_sigmas_type":"zero","flow_shift":1.0,"lower_order_final":true,"num_train_timesteps":1000,"predict_x0":true,"prediction_type":"epsilon","rescale_betas_zero_snr":false,"sample_max_value":1.0,"shift_terminal":null,"sigma_max":null,"sigma_min":null,"solver_order":2,"solver_p":null,"solver_type":"bh2","steps_offset":0,"thresholding":false,"time_shift_type":"exponential","timestep_spacing":"linspace","trained_betas":null,"use_beta_sigmas":false,"use_dynamic_shifting":false,"use_exponential_sigmas":false,"use_flow_sigmas":false,"use_karras_sigmas":false})"}},
  };
  return table;
}

const json* field(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return nullptr;
  return &*it;
}

double get_number(const json& j, const char* key, const std::string& subject) {
  const json* v = field(j, key);
  if (!v || !v->is_number()) fail(ErrorCode::InvalidFormat, subject, std::string(key) + " must be a number");
  return v->get<double>();
}

int get_int(const json& j, const char* key, const std::string& subject) {
  const json* v = field(j, key);
  if (!v || (!v->is_number_integer() && !(v->is_number_float() && std::floor(v->get<double>()) == v->get<double>())))
    fail(ErrorCode::InvalidFormat, subject, std::string(key) + " must be an integer");
  double d = v->get<double>();
  if (d < std::numeric_limits<int>::min() || d > std::numeric_limits<int>::max())
    fail(ErrorCode::InvalidFormat, subject, std::string(key) + " is out of range");
  return static_cast<int>(d);
}

bool get_bool(const json& j, const char* key, const std::string& subject) {
  const json* v = field(j, key);
  if (!v || !v->is_boolean()) fail(ErrorCode::InvalidFormat, subject, std::string(key) + " must be true or false");
  return v->get<bool>();
}

std::optional<std::string> get_string(const json& j, const char* key, const std::string& subject) {
  const json* v = field(j, key);
  if (!v) return std::nullopt;
  if (!v->is_string()) fail(ErrorCode::InvalidFormat, subject, std::string(key) + " must be a string");
  return v->get<std::string>();
}

[[noreturn]] void unsupported(const std::string& subject, const std::string& what) {
  fail(ErrorCode::Unsupported, subject, what + " is not supported by gen's schedulers");
}

// The class name without a "_karras" suffix.
std::string base_name(const std::string& name) {
  const std::string suffix = "_karras";
  if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
    return name.substr(0, name.size() - suffix.size());
  return name;
}

}  // namespace

const std::vector<std::string>& scheduler_config_keys() {
  static const std::vector<std::string> keys = {
      "num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "trained_betas", "prediction_type",
      "timestep_spacing", "steps_offset", "set_alpha_to_one", "clip_sample", "clip_sample_range",
      "use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas", "solver_order", "lower_order_final",
      "solver_type", "original_inference_steps", "timestep_scaling", "skip_prk_steps", "algorithm_type",
      "thresholding", "dynamic_thresholding_ratio", "sample_max_value", "rescale_betas_zero_snr",
      "euler_at_final", "use_lu_lambdas", "use_flow_sigmas", "flow_shift", "use_dynamic_shifting",
      "time_shift_type", "shift_terminal", "final_sigmas_type", "interpolation_type", "timestep_type",
      "variance_type", "sigma_min", "sigma_max", "lambda_min_clipped", "predict_x0", "disable_corrector",
      "solver_p"};
  return keys;
}

std::string scheduler_class_of(const std::string& name) {
  auto it = class_table().find(base_name(name));
  if (it == class_table().end()) fail(ErrorCode::InvalidArgument, "scheduler \"" + name + "\"", "unknown scheduler");
  return it->second.diffusers_class;
}

nlohmann::json scheduler_class_defaults(const std::string& name) {
  auto it = class_table().find(base_name(name));
  if (it == class_table().end()) fail(ErrorCode::InvalidArgument, "scheduler \"" + name + "\"", "unknown scheduler");
  return json::parse(it->second.defaults);
}

SchedulerConfig SchedulerConfig::from_json(const nlohmann::json& j, const std::string& scheduler,
                                           const std::string& subject) {
  if (!j.is_object()) fail(ErrorCode::InvalidFormat, subject, "a scheduler config must be a JSON object");
  // The keys the class reads: the config's value, else the class's own default. (diffusers
  // does the same when a pipeline's scheduler is swapped: the defaults the folder's class filled
  // in are listed in `_use_default_values` and dropped by `from_config`.)
  json e = scheduler_class_defaults(scheduler);
  for (auto& [key, value] : e.items())
    if (j.contains(key)) value = j[key];
  const auto has = [&](const char* key) { return e.contains(key); };
  SchedulerConfig c;
  c.num_train_timesteps = get_int(e, "num_train_timesteps", subject);
  // Real schedules have 1000; the tables gen builds are this long (2e9 would take GBs).
  if (c.num_train_timesteps < 1 || c.num_train_timesteps > 100000)
    fail(ErrorCode::InvalidFormat, subject,
         "num_train_timesteps = " + std::to_string(c.num_train_timesteps) +
             " is out of range (1 to 100000; no real model goes beyond)");
  c.beta_start = get_number(e, "beta_start", subject);
  c.beta_end = get_number(e, "beta_end", subject);
  if (auto s = get_string(e, "beta_schedule", subject)) {
    if (*s == "linear") c.beta_schedule = BetaSchedule::Linear;
    else if (*s == "scaled_linear") c.beta_schedule = BetaSchedule::ScaledLinear;
    else unsupported(subject, "beta_schedule \"" + *s + "\"");
  }
  if (field(e, "trained_betas")) unsupported(subject, "trained_betas");
  if (auto s = get_string(e, "prediction_type", subject)) {
    if (*s == "epsilon") c.prediction_type = Prediction::Epsilon;
    else if (*s == "v_prediction") c.prediction_type = Prediction::VPrediction;
    else unsupported(subject, "prediction_type \"" + *s + "\"");
  }
  if (auto s = get_string(e, "timestep_spacing", subject)) {
    if (*s == "leading") c.timestep_spacing = TimestepSpacing::Leading;
    else if (*s == "trailing") c.timestep_spacing = TimestepSpacing::Trailing;
    else if (*s == "linspace") c.timestep_spacing = TimestepSpacing::Linspace;
    else fail(ErrorCode::InvalidFormat, subject, "timestep_spacing must be leading, trailing or linspace");
  }
  c.steps_offset = get_int(e, "steps_offset", subject);
  if (has("set_alpha_to_one")) c.set_alpha_to_one = get_bool(e, "set_alpha_to_one", subject);
  if (has("clip_sample")) {
    c.clip_sample = get_bool(e, "clip_sample", subject);
    c.clip_sample_range = get_number(e, "clip_sample_range", subject);
  }
  if (has("use_karras_sigmas")) {
    c.use_karras_sigmas = get_bool(e, "use_karras_sigmas", subject);
    c.use_exponential_sigmas = get_bool(e, "use_exponential_sigmas", subject);
    c.use_beta_sigmas = get_bool(e, "use_beta_sigmas", subject);
  }
  if (has("solver_order")) {
    c.solver_order = get_int(e, "solver_order", subject);
    c.lower_order_final = get_bool(e, "lower_order_final", subject);
  }
  if (auto s = get_string(e, "solver_type", subject)) {
    // Each class maps the other's names onto its own (diffusers' __init__): DPM-Solver takes
    // logrho/bh1/bh2 as midpoint, UniPC takes midpoint/heun/logrho as bh2.
    const bool unipc = has("predict_x0");
    if (unipc) {
      if (*s == "bh1") c.unipc_bh1 = true;
      else if (*s == "bh2" || *s == "midpoint" || *s == "heun" || *s == "logrho") c.unipc_bh1 = false;
      else unsupported(subject, "solver_type \"" + *s + "\"");
    } else if (*s == "heun") {
      unsupported(subject, "solver_type \"heun\"");
    } else if (*s != "midpoint" && *s != "logrho" && *s != "bh1" && *s != "bh2") {
      unsupported(subject, "solver_type \"" + *s + "\"");
    }
  }
  if (has("original_inference_steps")) {
    c.original_inference_steps = get_int(e, "original_inference_steps", subject);
    c.timestep_scaling = get_number(e, "timestep_scaling", subject);
  }
  // PNDM: only the PLMS-only variant SD uses is implemented ("pndm" refuses false).
  if (has("skip_prk_steps")) c.skip_prk_steps = get_bool(e, "skip_prk_steps", subject);
  // DPM-Solver: the sampler name (dpmpp_2m or dpmpp_2m_sde) sets the algorithm; diffusers
  // reads "deis" as dpmsolver++; the first-order-data "dpmsolver" variants are not implemented.
  if (auto s = get_string(e, "algorithm_type", subject);
      s && *s != "dpmsolver++" && *s != "sde-dpmsolver++" && *s != "deis")
    unsupported(subject, "algorithm_type \"" + *s + "\"");

  // Switches that would change the algorithm in ways not implemented: refused, never ignored.
  // (dynamic_thresholding_ratio and sample_max_value act only with thresholding; flow_shift,
  // time_shift_type only with flow sigmas or dynamic shifting: inert while those are off.)
  for (const char* key : {"thresholding", "rescale_betas_zero_snr", "euler_at_final", "use_lu_lambdas",
                          "use_flow_sigmas", "use_dynamic_shifting"})
    if (has(key) && get_bool(e, key, subject)) unsupported(subject, std::string(key) + " true");
  if (auto s = get_string(e, "final_sigmas_type", subject); s && *s != "zero")
    unsupported(subject, "final_sigmas_type \"" + *s + "\"");
  if (auto s = get_string(e, "interpolation_type", subject); s && *s != "linear")
    unsupported(subject, "interpolation_type \"" + *s + "\"");
  if (auto s = get_string(e, "timestep_type", subject); s && *s != "discrete")
    unsupported(subject, "timestep_type \"" + *s + "\"");
  if (auto s = get_string(e, "variance_type", subject); s && (*s == "learned" || *s == "learned_range"))
    unsupported(subject, "variance_type \"" + *s + "\"");
  for (const char* key : {"sigma_min", "sigma_max", "solver_p", "shift_terminal"})
    if (field(e, key)) unsupported(subject, std::string(key) + " (set, not null)");
  if (const json* v = field(e, "lambda_min_clipped");
      v && !(v->is_string() && (v->get<std::string>() == "-inf" || v->get<std::string>() == "-Infinity")))
    unsupported(subject, "a finite lambda_min_clipped");
  if (has("predict_x0") && !get_bool(e, "predict_x0", subject)) unsupported(subject, "predict_x0 false");
  if (const json* d = field(e, "disable_corrector"); d && !(d->is_array() && d->empty()))
    unsupported(subject, "disable_corrector");
  return c;
}

SchedulerConfig SchedulerConfig::from_file(const std::string& path, const std::string& scheduler) {
  return from_json(core::read_json_file(path, core::kMaxConfigFile, "scheduler config"), scheduler, path);
}

}  // namespace gen
