// Schedulers against diffusers trajectories (tests/data/schedulers, written by
// tools/make_scheduler_fixtures.py), plus option validation.
//
// Tolerance: at every model call, the scaled model input and the sample after the step must
// match diffusers with relative error <= 1e-4, measured as max|ours - theirs| / max|theirs| over
// the tensor (fp32, CPU). The C++ run is free-running: it feeds its own samples forward, never
// diffusers', so errors would compound rather than be reset.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gen/error.hpp"
#include "gen/safetensors.hpp"
#include "safetensors_test_util.hpp"
#include "schedulers/scheduler.hpp"

using gen::ErrorCode;
using gen::SchedulerConfig;

namespace {

constexpr double kTolerance = 1e-4;

std::string fixture_dir() { return std::string(GEN_TEST_DATA_DIR) + "/schedulers"; }

nlohmann::json load_index() {
  std::ifstream in(fixture_dir() + "/index.json");
  if (!in) return nlohmann::json();
  return nlohmann::json::parse(in);
}

// A tensor of the fixture, copied out of the mapping (F32 or F64).
at::Tensor fixture_tensor(const gen::SafetensorsFile& f, const std::string& name) {
  const gen::TensorInfo& info = f.info(name);
  at::ScalarType type = info.dtype == gen::DType::F64 ? at::kDouble : at::kFloat;
  EXPECT_TRUE(info.dtype == gen::DType::F64 || info.dtype == gen::DType::F32) << name;
  return at::from_blob(f.data(info), info.shape, type).clone();
}

double rel_error(const at::Tensor& ours, const at::Tensor& theirs) {
  const double scale = theirs.abs().max().item<double>();
  const double diff = (ours.to(at::kDouble) - theirs.to(at::kDouble)).abs().max().item<double>();
  return scale > 0 ? diff / scale : diff;
}

struct Case {
  std::string label;
  nlohmann::json entry;
};

std::vector<Case> load_cases() {
  std::vector<Case> cases;
  nlohmann::json index = load_index();
  if (!index.is_object()) return cases;
  for (const auto& e : index["cases"]) {
    std::string label = e["case"].get<std::string>();
    for (char& ch : label)
      if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
    cases.push_back({label, e});
  }
  return cases;
}

// Worst relative error seen per scheduler name, printed at the end of the suite.
std::map<std::string, double>& worst() {
  static std::map<std::string, double> w;
  return w;
}

class SchedulerTrajectory : public ::testing::TestWithParam<Case> {
 public:
  static void TearDownTestSuite() {
    for (const auto& [name, err] : worst())
      std::cout << "[ schedulers ] " << name << ": max relative error " << err << "\n";
  }
};

TEST_P(SchedulerTrajectory, MatchesDiffusers) {
  const nlohmann::json& e = GetParam().entry;
  const nlohmann::json index = load_index();
  nlohmann::json cfg = index["base_config"];
  for (const auto& [k, v] : e["overrides"].items()) cfg[k] = v;
  const std::string name = e["scheduler"].get<std::string>();
  SchedulerConfig config = SchedulerConfig::from_json(cfg, name, "fixture config");
  config.eta = e["eta"].get<double>();
  auto s = gen::make_scheduler(name, config, e["steps"].get<int>());

  const auto f = gen::SafetensorsFile::open(fixture_dir() + "/" + e["file"].get<std::string>());
  const at::Tensor timesteps = fixture_tensor(f, "timesteps");
  const at::Tensor samples = fixture_tensor(f, "samples");
  const at::Tensor latent_noise = fixture_tensor(f, "latent_noise");
  const at::Tensor model_noise = fixture_tensor(f, "model_noise");
  const bool identity_scale = e["identity_scale"].get<bool>();
  const at::Tensor inputs = identity_scale ? at::Tensor() : fixture_tensor(f, "model_inputs");

  ASSERT_EQ(s->size(), timesteps.numel());
  ASSERT_EQ(s->size(), e["num_model_calls"].get<int64_t>());
  for (int64_t i = 0; i < s->size(); ++i) {
    const double want = timesteps[i].item<double>();
    EXPECT_LE(std::fabs(s->timesteps()[i] - want), kTolerance * std::max(1.0, std::fabs(want)))
        << "timestep " << i << ": " << s->timesteps()[i] << " vs " << want;
  }
  if (f.contains("sigmas")) {
    const at::Tensor sigmas = fixture_tensor(f, "sigmas");
    ASSERT_EQ(static_cast<int64_t>(s->sigmas().size()), sigmas.numel());
    at::Tensor ours = at::from_blob(const_cast<float*>(s->sigmas().data()), {sigmas.numel()}, at::kFloat);
    EXPECT_LE(rel_error(ours, sigmas), kTolerance);
  }
  const double want_sigma = e["init_noise_sigma"].get<double>();
  EXPECT_LE(std::fabs(s->init_noise_sigma() - want_sigma), kTolerance * want_sigma);

  at::Tensor x = latent_noise * s->init_noise_sigma();
  at::Generator g = at::detail::createCPUGenerator(e["noise_seed"].get<uint64_t>());
  double max_err = 0;
  for (int64_t i = 0; i < s->size(); ++i) {
    at::Tensor x_in = s->scale_model_input(x, i);
    if (identity_scale) {
      EXPECT_TRUE(x_in.equal(x)) << "call " << i;
    } else {
      const double err = rel_error(x_in, inputs[i]);
      max_err = std::max(max_err, err);
      EXPECT_LE(err, kTolerance) << "model input of call " << i;
    }
    const double t = s->timesteps()[i];
    at::Tensor out = 0.3 * x_in + model_noise * (0.5 + t / 1000.0);
    x = s->step(out, i, x, g);
    const double err = rel_error(x, samples[i]);
    max_err = std::max(max_err, err);
    EXPECT_LE(err, kTolerance) << "sample after call " << i << " (t=" << t << ")";
  }
  worst()[name] = std::max(worst()[name], max_err);
  RecordProperty("max_relative_error", std::to_string(max_err));
}

INSTANTIATE_TEST_SUITE_P(Schedulers, SchedulerTrajectory, ::testing::ValuesIn(load_cases()),
                         [](const ::testing::TestParamInfo<Case>& info) { return info.param.label; });

// ---------------------------------------------------------------------------------------------

template <typename F>
ErrorCode code_of(F&& f, std::string* message = nullptr) {
  try {
    f();
  } catch (const gen::Error& e) {
    if (message) *message = e.what();
    return e.code();
  }
  return ErrorCode::Ok;
}

// Timesteps, sigmas and init_noise_sigma at realistic step counts, every spacing and Karras
// setting: integer timesteps must be equal, float ones and sigmas within the tolerance.
TEST(SchedulerSchedules, MatchDiffusersAt20To50Steps) {
  const nlohmann::json index = load_index();
  ASSERT_TRUE(index.is_object());
  ASSERT_GE(index["schedules"].size(), 100u);
  for (const auto& e : index["schedules"]) {
    nlohmann::json cfg = index["base_config"];
    for (const auto& [k, v] : e["overrides"].items()) cfg[k] = v;
    const std::string name = e["scheduler"].get<std::string>();
    const std::string what = name + " " + e["overrides"].dump() + " steps " + std::to_string(e["steps"].get<int>());
    auto s = gen::make_scheduler(name, SchedulerConfig::from_json(cfg, name), e["steps"].get<int>());
    const auto want_t = e["timesteps"].get<std::vector<double>>();
    ASSERT_EQ(s->timesteps().size(), want_t.size()) << what;
    for (size_t i = 0; i < want_t.size(); ++i)
      EXPECT_LE(std::fabs(s->timesteps()[i] - want_t[i]), kTolerance * std::max(1.0, std::fabs(want_t[i])))
          << what << " timestep " << i;
    if (e.contains("sigmas")) {
      const auto want_s = e["sigmas"].get<std::vector<double>>();
      ASSERT_EQ(s->sigmas().size(), want_s.size()) << what;
      for (size_t i = 0; i < want_s.size(); ++i)
        EXPECT_LE(std::fabs(s->sigmas()[i] - want_s[i]), kTolerance * std::max(1e-3, std::fabs(want_s[i])))
            << what << " sigma " << i;
    } else {
      EXPECT_TRUE(s->sigmas().empty()) << what;
    }
    const double want_init = e["init_noise_sigma"].get<double>();
    EXPECT_LE(std::fabs(s->init_noise_sigma() - want_init), kTolerance * want_init) << what;
  }
}

TEST(SchedulerFixtures, ArePresent) {
  const auto cases = load_cases();
  EXPECT_GE(cases.size(), 50u);
  std::map<std::string, int> per_name;
  for (const auto& c : cases) per_name[c.entry["scheduler"].get<std::string>()]++;
  for (const auto& name : gen::scheduler_names()) EXPECT_GT(per_name[name], 0) << name;
}

TEST(SchedulerOptions, ZeroOrTooManyStepsAreRejected) {
  for (const auto& name : gen::scheduler_names()) {
    EXPECT_EQ(code_of([&] { gen::make_scheduler(name, {}, 0); }), ErrorCode::InvalidArgument) << name;
    EXPECT_EQ(code_of([&] { gen::make_scheduler(name, {}, -3); }), ErrorCode::InvalidArgument) << name;
    EXPECT_EQ(code_of([&] { gen::make_scheduler(name, {}, 1001); }), ErrorCode::InvalidArgument) << name;
  }
  SchedulerConfig small;
  small.num_train_timesteps = 100;
  EXPECT_EQ(code_of([&] { gen::make_scheduler("euler", small, 101); }), ErrorCode::InvalidArgument);
  // LCM cannot take more steps than its distillation schedule.
  EXPECT_EQ(code_of([&] { gen::make_scheduler("lcm", {}, 51); }), ErrorCode::InvalidArgument);
}

TEST(SchedulerOptions, UnknownNameListsTheValidOnes) {
  std::string msg;
  EXPECT_EQ(code_of([&] { gen::make_scheduler("dpm++", {}, 10); }, &msg), ErrorCode::InvalidArgument);
  for (const auto& name : gen::scheduler_names()) EXPECT_NE(msg.find(name), std::string::npos) << msg;
  EXPECT_EQ(code_of([&] { gen::make_scheduler("", {}, 10); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of([&] { gen::make_scheduler("_karras", {}, 10); }), ErrorCode::InvalidArgument);
}

TEST(SchedulerOptions, KarrasOnlyWhereSupported) {
  SchedulerConfig karras;
  karras.use_karras_sigmas = true;
  for (const char* name : {"ddim", "euler_a", "pndm", "lcm"}) {
    EXPECT_EQ(code_of([&] { gen::make_scheduler(name, karras, 10); }), ErrorCode::InvalidArgument) << name;
    EXPECT_EQ(code_of([&] { gen::make_scheduler(std::string(name) + "_karras", {}, 10); }),
              ErrorCode::InvalidArgument)
        << name;
  }
  for (const char* name : {"euler", "heun", "lms", "dpmpp_2m", "dpmpp_2m_sde", "unipc"}) {
    auto a = gen::make_scheduler(std::string(name) + "_karras", {}, 8);
    auto b = gen::make_scheduler(name, karras, 8);
    EXPECT_EQ(a->timesteps(), b->timesteps()) << name;
    EXPECT_EQ(a->sigmas(), b->sigmas()) << name;
    auto plain = gen::make_scheduler(name, {}, 8);
    EXPECT_NE(a->sigmas(), plain->sigmas()) << name;
  }
}

TEST(SchedulerOptions, OtherBadOptions) {
  SchedulerConfig c;
  c.eta = -0.5;
  EXPECT_EQ(code_of([&] { gen::make_scheduler("ddim", c, 10); }), ErrorCode::InvalidArgument);
  c = {};
  c.solver_order = 4;
  EXPECT_EQ(code_of([&] { gen::make_scheduler("unipc", c, 10); }), ErrorCode::InvalidArgument);
  c = {};
  c.beta_end = c.beta_start / 2;
  EXPECT_EQ(code_of([&] { gen::make_scheduler("euler", c, 10); }), ErrorCode::InvalidArgument);
  c = {};
  c.skip_prk_steps = false;
  EXPECT_EQ(code_of([&] { gen::make_scheduler("pndm", c, 10); }), ErrorCode::Unsupported);
}

TEST(SchedulerOptions, StepsMustComeInOrderAndStochasticOnesNeedAGenerator) {
  auto s = gen::make_scheduler("euler", {}, 4);
  at::Tensor x = at::zeros({1, 4, 2, 2});
  EXPECT_EQ(code_of([&] { s->step(x, 1, x); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of([&] { s->step(x, 0, at::zeros({1, 4, 2, 3})); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of([&] { s->scale_model_input(x, 4); }), ErrorCode::InvalidArgument);
  s->step(x, 0, x);
  EXPECT_EQ(code_of([&] { s->step(x, 0, x); }), ErrorCode::InvalidArgument);
  for (const char* name : {"euler_a", "dpmpp_2m_sde", "lcm"}) {
    auto a = gen::make_scheduler(name, {}, 4);
    EXPECT_TRUE(a->stochastic()) << name;
    EXPECT_EQ(code_of([&] { a->step(x, 0, x); }), ErrorCode::InvalidArgument) << name;
  }
  SchedulerConfig eta;
  eta.eta = 1.0;
  EXPECT_TRUE(gen::make_scheduler("ddim", eta, 4)->stochastic());
  EXPECT_FALSE(gen::make_scheduler("ddim", {}, 4)->stochastic());
}

// The same inputs give the same outputs: two instances, and one instance after reset().
TEST(SchedulerPurity, RunsRepeatExactly) {
  at::Generator init = at::detail::createCPUGenerator(5);
  const at::Tensor noise = at::randn({1, 4, 4, 4}, init);
  const at::Tensor model_noise = at::randn({1, 4, 4, 4}, init);
  for (const auto& name : gen::scheduler_names()) {
    auto run = [&](gen::Scheduler& s) {
      s.reset();
      at::Generator g = at::detail::createCPUGenerator(11);
      at::Tensor x = noise * s.init_noise_sigma();
      for (int64_t i = 0; i < s.size(); ++i) {
        at::Tensor in = s.scale_model_input(x, i);
        x = s.step(0.3 * in + model_noise * (0.5 + s.timesteps()[i] / 1000.0), i, x, g);
      }
      return x;
    };
    auto a = gen::make_scheduler(name, {}, 6);
    auto b = gen::make_scheduler(name, {}, 6);
    const at::Tensor first = run(*a);
    EXPECT_TRUE(first.isfinite().all().item<bool>()) << name;
    EXPECT_TRUE(first.equal(run(*b))) << name;
    EXPECT_TRUE(first.equal(run(*a))) << name;
  }
}

TEST(SchedulerConfigJson, ReadsSd15AndRefusesWhatItCannotDo) {
  const nlohmann::json sd15 = nlohmann::json::parse(R"({
    "_class_name": "PNDMScheduler", "_diffusers_version": "0.6.0", "beta_end": 0.012,
    "beta_schedule": "scaled_linear", "beta_start": 0.00085, "num_train_timesteps": 1000,
    "set_alpha_to_one": false, "skip_prk_steps": true, "steps_offset": 1, "trained_betas": null,
    "clip_sample": false})");
  SchedulerConfig c = SchedulerConfig::from_json(sd15, "ddim");
  EXPECT_EQ(c.num_train_timesteps, 1000);
  EXPECT_EQ(c.beta_schedule, gen::BetaSchedule::ScaledLinear);
  EXPECT_EQ(c.steps_offset, 1);
  EXPECT_FALSE(c.set_alpha_to_one);
  EXPECT_EQ(c.timestep_spacing, gen::TimestepSpacing::Leading);  // DDIMScheduler's default
  EXPECT_EQ(c.prediction_type, gen::Prediction::Epsilon);
  // SD 1.5's folder (a PNDMScheduler config without timestep_spacing): Euler takes its own
  // linspace, as EulerDiscreteScheduler.from_config(pipe.scheduler.config) does (diffusers drops
  // the defaults PNDM filled in, `_use_default_values`).
  EXPECT_EQ(SchedulerConfig::from_json(sd15, "euler").timestep_spacing, gen::TimestepSpacing::Linspace);

  nlohmann::json v = sd15;
  v["prediction_type"] = "v_prediction";
  v["timestep_spacing"] = "trailing";
  c = SchedulerConfig::from_json(v, "ddim");
  EXPECT_EQ(c.prediction_type, gen::Prediction::VPrediction);
  EXPECT_EQ(c.timestep_spacing, gen::TimestepSpacing::Trailing);

  auto code_for = [&](const char* scheduler, const char* key, nlohmann::json value) {
    nlohmann::json j = sd15;
    j[key] = value;
    return code_of([&] { SchedulerConfig::from_json(j, scheduler); });
  };
  EXPECT_EQ(code_for("ddim", "thresholding", true), ErrorCode::Unsupported);
  EXPECT_EQ(code_for("ddim", "rescale_betas_zero_snr", true), ErrorCode::Unsupported);
  EXPECT_EQ(code_for("ddim", "trained_betas", nlohmann::json::array({0.1, 0.2})), ErrorCode::Unsupported);
  EXPECT_EQ(code_for("ddim", "prediction_type", "sample"), ErrorCode::Unsupported);
  EXPECT_EQ(code_for("ddim", "beta_schedule", "squaredcos_cap_v2"), ErrorCode::Unsupported);
  EXPECT_EQ(code_for("euler", "final_sigmas_type", "sigma_min"), ErrorCode::Unsupported);
  EXPECT_EQ(code_for("euler", "interpolation_type", "log_linear"), ErrorCode::Unsupported);
  EXPECT_EQ(code_for("dpmpp_2m", "use_lu_lambdas", true), ErrorCode::Unsupported);
  EXPECT_EQ(code_for("dpmpp_2m", "solver_type", "heun"), ErrorCode::Unsupported);
  EXPECT_EQ(code_for("dpmpp_2m", "lambda_min_clipped", -5.1), ErrorCode::Unsupported);
  EXPECT_EQ(code_for("unipc", "solver_p", "DDIMScheduler"), ErrorCode::Unsupported);
  EXPECT_EQ(code_for("ddim", "steps_offset", "one"), ErrorCode::InvalidFormat);
  EXPECT_EQ(code_for("ddim", "timestep_spacing", "evenly"), ErrorCode::InvalidFormat);
  // A key the class does not read is ignored, as diffusers' from_config ignores it.
  EXPECT_EQ(code_for("ddim", "final_sigmas_type", "sigma_min"), ErrorCode::Ok);
  EXPECT_EQ(code_for("euler", "thresholding", true), ErrorCode::Ok);
  // Each class maps the other's solver names onto its own.
  EXPECT_EQ(code_for("unipc", "solver_type", "heun"), ErrorCode::Ok);
  EXPECT_EQ(code_for("dpmpp_2m", "solver_type", "bh2"), ErrorCode::Ok);
  EXPECT_EQ(code_of([] { SchedulerConfig::from_json(nlohmann::json::array(), "ddim"); }), ErrorCode::InvalidFormat);
  EXPECT_EQ(code_of([] { SchedulerConfig::from_file("/nonexistent/scheduler_config.json", "ddim"); }),
            ErrorCode::NotFound);
}

// gen's table of each scheduler class's config keys and defaults is diffusers' (written from
// the classes' __init__ signatures by tools/make_scheduler_fixtures.py --class-defaults), and
// every key of every class is one gen reads (honours, or refuses by name).
TEST(SchedulerConfigJson, ClassDefaultsAreDiffusers) {
  std::ifstream in(fixture_dir() + "/class_defaults.json");
  ASSERT_TRUE(in) << "tests/data/schedulers/class_defaults.json";
  const nlohmann::json doc = nlohmann::json::parse(in);
  ASSERT_EQ(doc["classes"].size(), gen::scheduler_names().size());
  const auto& known = gen::scheduler_config_keys();
  for (const auto& name : gen::scheduler_names()) {
    ASSERT_TRUE(doc["classes"].contains(name)) << name;
    const auto& want = doc["classes"][name];
    EXPECT_EQ(gen::scheduler_class_of(name), want["class"].get<std::string>()) << name;
    EXPECT_EQ(gen::scheduler_class_defaults(name), want["defaults"]) << name;
    for (const auto& [key, value] : want["defaults"].items())
      EXPECT_NE(std::find(known.begin(), known.end(), key), known.end()) << name << ": " << key;
    // The class's own defaults parse (nothing refused), and absent keys take them.
    const SchedulerConfig c = SchedulerConfig::from_json(nlohmann::json::object(), name);
    const auto& d = want["defaults"];
    EXPECT_EQ(c.num_train_timesteps, d["num_train_timesteps"].get<int>()) << name;
    EXPECT_EQ(c.beta_start, d["beta_start"].get<double>()) << name;
    EXPECT_EQ(c.beta_end, d["beta_end"].get<double>()) << name;
    EXPECT_EQ(c.beta_schedule == gen::BetaSchedule::Linear, d["beta_schedule"] == "linear") << name;
    EXPECT_EQ(c.steps_offset, d["steps_offset"].get<int>()) << name;
    if (d.contains("set_alpha_to_one")) EXPECT_EQ(c.set_alpha_to_one, d["set_alpha_to_one"].get<bool>()) << name;
    if (d.contains("clip_sample")) EXPECT_EQ(c.clip_sample, d["clip_sample"].get<bool>()) << name;
    if (d.contains("solver_order")) EXPECT_EQ(c.solver_order, d["solver_order"].get<int>()) << name;
    if (d.contains("original_inference_steps"))
      EXPECT_EQ(c.original_inference_steps, d["original_inference_steps"].get<int>()) << name;
    const auto spacing = d["timestep_spacing"].get<std::string>();
    EXPECT_EQ(c.timestep_spacing, spacing == "leading"    ? gen::TimestepSpacing::Leading
                                  : spacing == "trailing" ? gen::TimestepSpacing::Trailing
                                                          : gen::TimestepSpacing::Linspace)
        << name;
  }
  // The case of issue 16: DDIM from a config without set_alpha_to_one takes DDIM's true.
  EXPECT_TRUE(SchedulerConfig::from_json(nlohmann::json{{"beta_schedule", "scaled_linear"}}, "ddim").set_alpha_to_one);
  EXPECT_FALSE(SchedulerConfig::from_json(nlohmann::json{{"beta_schedule", "scaled_linear"}}, "pndm").set_alpha_to_one);
  // The class the config names does not matter (diffusers drops the defaults it filled in).
  const auto from_pndm = SchedulerConfig::from_json(nlohmann::json{{"_class_name", "PNDMScheduler"}}, "ddim");
  EXPECT_TRUE(from_pndm.set_alpha_to_one);
  EXPECT_TRUE(from_pndm.clip_sample);
  const auto heun = SchedulerConfig::from_json(nlohmann::json{{"_class_name", "EulerDiscreteScheduler"}}, "heun");
  EXPECT_EQ(heun.beta_start, 0.00085);
  EXPECT_EQ(heun.beta_schedule, gen::BetaSchedule::Linear);
}

// A folder's sigma choice is read only by the classes that have the key; exponential and beta
// sigmas are read (so --scheduler auto knows the folder asked for them) and refused on use.
TEST(SchedulerConfigJson, SigmaOptionsFollowTheClass) {
  const nlohmann::json karras = {{"use_karras_sigmas", true}};
  EXPECT_TRUE(SchedulerConfig::from_json(karras, "dpmpp_2m").use_karras_sigmas);
  EXPECT_FALSE(SchedulerConfig::from_json(karras, "ddim").use_karras_sigmas);
  const auto expo = SchedulerConfig::from_json(nlohmann::json{{"use_exponential_sigmas", true}}, "euler");
  EXPECT_TRUE(expo.use_exponential_sigmas);
  EXPECT_EQ(code_of([&] { gen::make_scheduler("euler", expo, 10); }), ErrorCode::Unsupported);
}

// diffusers writes DPMSolverMultistepScheduler's lambda_min_clipped as a bare -Infinity.
TEST(SchedulerConfigJson, ReadsPythonInfinity) {
  const std::string path = gen_test::test_dir() + "/scheduler_config.json";
  std::ofstream(path) << R"({"_class_name": "DPMSolverMultistepScheduler", "lambda_min_clipped": -Infinity,
    "use_karras_sigmas": true, "beta_schedule": "scaled_linear", "note": "NaN in a string"})";
  const auto c = SchedulerConfig::from_file(path, "dpmpp_2m");
  EXPECT_TRUE(c.use_karras_sigmas);
}

}  // namespace
