// UniControl against salesforce/UniControl's control model (v1.0 cldm_unicontrol.py, v1.1
// cldm_unicontrol_v11.py) on a tiny random configuration, fp32 on the CPU; fixtures made by
// tools/unicontrol_reference.py (tests/data/unicontrol). Tolerance: relative error (max abs
// difference over max abs reference) <= 1e-4 for every residual.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "control/controlnet.hpp"
#include "arch/classify.hpp"
#include "control/controlnet_files.hpp"
#include "model_fixtures.hpp"
#include "models/loader.hpp"
#include "safetensors_test_util.hpp"

using namespace gen;
using gen::test::read_json;
using gen::test::relative_error;

namespace {

constexpr double kTolerance = 1e-4;
const std::string kDir = std::string(GEN_TEST_DATA_DIR) + "/unicontrol/";

struct Fixture {
  nlohmann::json facts = read_json(kDir + "unicontrol_tiny.json");
  SafetensorsCheckpoint io = SafetensorsCheckpoint::open(kDir + "unicontrol_tiny_io.safetensors");
  at::Tensor operator[](const std::string& key) const {
    return load_tensor(io, key, io.info(key).dtype == DType::I64 ? at::kLong : at::kFloat, at::kCPU);
  }
};

// tools/unicontrol_reference.py weight_values: q × 2^-k, q = lowbias32(fnv1a(name) ^
// lowbias32(index)) mod 31 − 15, k the smallest with 15 × 2^-k <= gain / sqrt(fan_in).
std::uint32_t mix32(std::uint32_t x) {
  x ^= x >> 16;
  x *= 0x7FEB352Du;
  x ^= x >> 15;
  x *= 0x846CA68Bu;
  return x ^ (x >> 16);
}

std::uint32_t fnv1a32(const std::string& s) {
  std::uint32_t h = 0x811C9DC5u;
  for (unsigned char c : s) h = (h ^ c) * 0x01000193u;
  return h;
}

at::Tensor weight_values(const std::string& name, const std::vector<std::int64_t>& shape) {
  std::int64_t n = 1, fan_in = 1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    n *= shape[i];
    if (i > 0) fan_in *= shape[i];
  }
  if (shape.size() <= 1) fan_in = 4;
  const double gain = name.find("hint") != std::string::npos ? 4.0 : 1.7;
  int k = 0;
  while (15.0 * std::ldexp(1.0, -k) > gain / std::sqrt(static_cast<double>(fan_in))) ++k;
  const float scale = static_cast<float>(std::ldexp(1.0, -k));
  auto t = at::empty(shape, at::kFloat);
  auto* p = t.data_ptr<float>();
  const std::uint32_t seed = fnv1a32(name);
  for (std::int64_t i = 0; i < n; ++i)
    p[i] = static_cast<float>(static_cast<std::int64_t>(mix32(seed ^ mix32(static_cast<std::uint32_t>(i))) % 31u) - 15) * scale;
  return t;
}

control::ControlNetConfig tiny_config() {
  // The fixture's configuration (unicontrol_tiny.json "config"): SD 1.x rules, 32 channels.
  control::ControlNetConfig c;
  auto& u = c.unet;
  u.model_channels = 32;
  u.in_channels = u.out_channels = 4;
  u.block_channels = {32, 32};
  u.level_depth = {1, 1};
  u.attention_resolutions = {2};
  u.num_res_blocks = 1;
  u.context_dim = 16;
  u.mid_depth = u.transformer_depth = 1;
  c.unicontrol_tasks = 13;
  return c;
}

// name (with control_model.) → the reference's weight values, for every parameter of `net`.
std::map<std::string, at::Tensor> reference_weights(control::ControlNet& net) {
  std::map<std::string, at::Tensor> w;
  net.visit([&](const std::string& n, models::Module::Param& p) {
    w["control_model." + n] = weight_values("control_model." + n, p.shape);
  });
  return w;
}

std::unique_ptr<control::ControlNet> make_net(bool v11, const Fixture& f) {
  auto cfg = tiny_config();
  cfg.unicontrol_v11 = v11;
  auto net = std::make_unique<control::ControlNet>(cfg);
  auto w = reference_weights(*net);
  double sum = 0;
  for (const auto& [n, t] : w) sum += t.to(at::kDouble).pow(2).sum().item<double>();
  EXPECT_NEAR(sum, f.facts["weights_sum_of_squares"].get<double>(), 1e-9 * sum) << "weights differ from the script's";
  models::LoadOptions opt;
  opt.prefix = "control_model.";
  models::load_weights(*net, w, opt, "unicontrol_tiny");
  return net;
}

void expect_matches(const control::ControlNet& net, const Fixture& f, const std::string& key,
                    const control::UniControlMix& mix) {
  const auto task = net.task_modulation(f["task_feature"], mix);
  const auto hint = net.embed_hint(f["hint"], &task);
  const auto r = net.forward(f["x"], f["t"], f["context"], hint, &task);
  ASSERT_EQ(r.down.size(), f.facts["downs"].get<std::size_t>());
  double worst = 0;
  for (std::size_t i = 0; i < r.down.size(); ++i) {
    const double e = relative_error(r.down[i], f[key + ".down." + std::to_string(i)]);
    EXPECT_LE(e, kTolerance) << key << " residual " << i;
    worst = std::max(worst, e);
  }
  const double e = relative_error(r.middle, f[key + ".mid"]);
  EXPECT_LE(e, kTolerance) << key << " middle";
  std::printf("%s: worst relative error %.2e\n", key.c_str(), std::max(worst, e));
}

}  // namespace

TEST(UniControl, FixtureConfigurationIsTheOneTested) {
  Fixture f;
  const auto& c = f.facts["config"];
  EXPECT_EQ(c["model_channels"], 32);
  EXPECT_EQ(c["channel_mult"], nlohmann::json::array({1, 1}));
  EXPECT_EQ(c["attention_resolutions"], nlohmann::json::array({2}));
  EXPECT_EQ(c["num_res_blocks"], 1);
  EXPECT_EQ(c["context_dim"], 16);
  control::ControlNet net(tiny_config());
  EXPECT_EQ(net.parameter_count(), f.facts["parameters"].get<std::int64_t>());
}

TEST(UniControl, V10MatchesTheReferencePerTask) {
  Fixture f;
  auto net = make_net(false, f);
  for (const auto& name : f.facts["tasks"])
    expect_matches(*net, f, "v10." + name.get<std::string>(), control::parse_unicontrol_task(name, "test"));
}

TEST(UniControl, V11MatchesTheReferencePerTask) {
  Fixture f;
  auto net = make_net(true, f);
  for (const auto& name : f.facts["tasks"])
    expect_matches(*net, f, "v11." + name.get<std::string>(), control::parse_unicontrol_task(name, "test"));
}

TEST(UniControl, TaskMixingWeighsThePerTaskAdapterOutputs) {
  // The fixture's mix: sum of weight × adapter output (weights summing to 1), the rest unchanged.
  Fixture f;
  std::string spec;
  for (const auto& [name, w] : f.facts["mix"].items())
    spec += (spec.empty() ? "" : ",") + name + ":" + std::to_string(w.get<double>());
  for (bool v11 : {false, true}) {
    auto net = make_net(v11, f);
    expect_matches(*net, f, v11 ? "v11.mix" : "v10.mix", control::parse_unicontrol_task(spec, "test"));
    // Weights are relative: canny:3,depth:2 is canny:0.6,depth:0.4.
    expect_matches(*net, f, v11 ? "v11.mix" : "v10.mix", control::parse_unicontrol_task("depth:2,canny:3", "test"));
  }
}

TEST(UniControl, TaskNamesAndWeightsAreChecked) {
  const auto mix = control::parse_unicontrol_task("canny:0.6,depth:0.4", "--control-task");
  ASSERT_EQ(mix.size(), 2u);
  EXPECT_EQ(mix[0].first, 1);
  EXPECT_EQ(mix[1].first, 3);
  EXPECT_DOUBLE_EQ(mix[1].second, 0.4);
  EXPECT_EQ(control::parse_unicontrol_task("inpainting", "x").front().first, 12);
  auto message = [](const std::string& spec) {
    try {
      control::parse_unicontrol_task(spec, "--control-task");
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::InvalidArgument) << spec;
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message("sketch"), "--control-task: unknown UniControl task 'sketch' (known: hed, canny, seg, depth, "
                               "normal, openpose, hedsketch, bbox, outpainting, grayscale, blur, inpainting)");
  EXPECT_NE(message("canny:0.5,depth:-0.5").find("sum to 0.000000, not a positive number"), std::string::npos);
  EXPECT_NE(message("canny:x").find("is not a number"), std::string::npos);
  EXPECT_NE(message("canny,canny").find("given twice"), std::string::npos);
}

TEST(UniControl, TaskRequiredExactlyForUniControl) {
  Fixture f;
  auto uni = make_net(true, f);
  EXPECT_THROW(uni->embed_hint(f["hint"]), Error);
  control::ControlNetConfig plain_cfg = tiny_config();
  plain_cfg.unicontrol_tasks = 0;
  control::ControlNet plain(plain_cfg);
  EXPECT_THROW(plain.task_modulation(f["task_feature"], {{1, 1.0}}), Error);
}

namespace {
// Writes `w` (plus `extra`) as a safetensors file with names under `prefix` ("control_model." stripped first).
void write_weights(const std::string& path, const std::map<std::string, at::Tensor>& w, const std::string& prefix,
                   const std::map<std::string, at::Tensor>& extra = {}) {
  std::vector<TensorData> out;
  auto put = [&](const std::string& n, const at::Tensor& t) {
    out.push_back({n, DType::F32, t.sizes().vec(), t.data_ptr(), static_cast<std::size_t>(t.nbytes())});
  };
  for (const auto& [n, t] : w) put(prefix + n.substr(std::string("control_model.").size()), t);
  for (const auto& [n, t] : extra) put(n, t);
  write_safetensors(path, out);
}
}  // namespace

TEST(UniControl, LoadsEveryLayoutAndTellsTheVersionFromTheWeights) {
  // The control part alone (with and without control_model.), and a full LDM dict (a UNet
  // beside it, ignored); v1.1 weights run the `.1` branch, v1.0 files (zero `.1`) do not.
  Fixture f;
  control::ControlNet shape_net(tiny_config());
  auto w = reference_weights(shape_net);
  const auto dir = gen_test::test_dir();
  models::UNet base(tiny_config().unet);
  const std::map<std::string, at::Tensor> unet_extra = {
      {"model.diffusion_model.input_blocks.0.0.weight", at::zeros({32, 4, 3, 3})}};
  write_weights(dir + "/v11.safetensors", w, "control_model.");
  write_weights(dir + "/v11_stripped.safetensors", w, "");
  write_weights(dir + "/v11_full.safetensors", w, "control_model.", unet_extra);
  auto w10 = w;
  for (const auto* n : {"input_hint_block_zeroconv_0.1.", "input_hint_block_zeroconv_1.1."})
    for (const auto* leaf : {"weight", "bias"}) {
      auto& t = w10["control_model." + std::string(n) + leaf];
      t = at::zeros_like(t);
    }
  write_weights(dir + "/v10.safetensors", w10, "control_model.");
  for (const auto* name : {"v11", "v11_stripped", "v11_full", "v10"}) {
    const std::string path = dir + "/" + name + ".safetensors";
    const auto d = control::describe_controlnet(path);
    EXPECT_EQ(d.config.unicontrol_tasks, 13) << name;
    EXPECT_EQ(d.config.unicontrol_feature_dim, 768) << name;
    EXPECT_EQ(d.config.hint_channels, 3) << name;
    auto net = control::load_controlnet(path, base, at::kFloat, at::kCPU);
    ASSERT_TRUE(net->is_unicontrol());
    const bool v10 = std::string(name) == "v10";
    EXPECT_EQ(net->unicontrol()->v11_branch(), !v10) << name;
    // v1.0 files: the reference v1.0 results (their `.1` weights differ, unused).
    expect_matches(*net, f, v10 ? "v10.depth" : "v11.depth", control::parse_unicontrol_task("depth", "t"));
  }
  const auto r = gen::classify([&] {
    std::vector<NamedShape> v;
    auto ck = SafetensorsCheckpoint::open(dir + "/v11_full.safetensors");
    for (const auto& n : ck.names()) v.push_back({n, ck.info(n).shape});
    return v;
  }());
  EXPECT_EQ(r.kind, ModelKind::ControlNet);
  EXPECT_EQ(r.facts.at("unicontrol_tasks"), 13);
  EXPECT_NE(r.summary.find("UniControl"), std::string::npos) << r.summary;
}

TEST(UniControl, TaskVectorIsTheTextEncodersPositionZeroWhateverTheInstruction) {
  // CLIP's causal mask: position 0 sees only the start token (the script checks the same on a
  // random transformers CLIPTextModel: clip_position0_equal).
  Fixture f;
  EXPECT_TRUE(f.facts["clip_position0_equal"].get<bool>());
  auto cfg = models::ClipTextConfig::from_transformers(read_json(gen::test::model_fixture("te_sd1.json")), "te_sd1");
  models::ClipTextModel te(cfg);
  auto ck = SafetensorsCheckpoint::open(gen::test::model_fixture("te_sd1.safetensors"));
  models::load_weights(te, ck, models::LoadOptions{}, "te_sd1");
  gen::test::Io io("te_sd1");
  const auto ids = io["ids"].slice(0, 0, 1);
  auto other = ids.clone();
  other.slice(1, 1) = (other.slice(1, 1) + 1) % cfg.vocab_size;
  const auto a = control::unicontrol_task_feature(te, ids);
  const auto b = control::unicontrol_task_feature(te, other);
  EXPECT_LE(relative_error(a, io["last"].slice(0, 0, 1).select(1, 0)), kTolerance);
  EXPECT_LE((a - b).abs().max().item<double>(), 1e-6);
  EXPECT_GT((te.forward(ids).select(1, 1) - te.forward(other).select(1, 1)).abs().max().item<double>(), 1e-3);
}

TEST(UniControl, FullSizeControlModelHasTheReferenceParameterCount) {
  // sum(p.numel()) and len(state_dict()) of the reference ControlNet built from
  // models/cldm_v15_unicontrol.yaml's control_stage_config
  // (tools/unicontrol_reference.py --full-count): 377,414,640 parameters in 450 tensors.
  auto cfg = control::ControlNetConfig::sd15();
  cfg.unicontrol_tasks = 13;
  control::ControlNet net(cfg);
  EXPECT_EQ(net.parameter_count(), 377414640);
  int tensors = 0;
  net.visit([&](const std::string&, models::Module::Param&) { ++tensors; });
  EXPECT_EQ(tensors, 450);
}
