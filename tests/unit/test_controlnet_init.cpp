// gen controlnet init against the references (tools/controlnet_init_reference.py): diffusers'
// ControlNetModel.from_unet on the tiny SD 1.5 pipeline, and tool_add_control.py's rule over
// lllyasviel's cldm.ControlNet on the tiny SD 1.5 / 2.1 LDM files.
//   copied and zero tensors: equal bit for bit to the reference's, under the reference's names;
//   random tensors (the hint encoder's inner convolutions): the same names and shapes, every
//   value inside torch.nn.Conv2d's init bound ±1/sqrt(fan_in) (the bound the reference's own
//   values were checked against), and for the larger weights the mean and variance of that
//   uniform distribution within 5 standard errors; the same seed gives the same values.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "control/controlnet_files.hpp"
#include "gen/error.hpp"
#include "gen/training.hpp"
#include "models/key_map.hpp"
#include "models/model_files.hpp"
#include "tensor/tensor_file.hpp"
#include "training/controlnet_init.hpp"

namespace {

using gen::training::InitKind;
const std::string kData = GEN_TEST_DATA_DIR;

struct Case {
  std::string base;          // below tests/data/layouts
  std::string base_weights;  // the file the reference's "copied" tensors name (below layouts)
  std::string reference;
  bool diffusers_names;
};

nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  return nlohmann::json::parse(f);
}

std::string tmp_dir(const std::string& name) {
  const char* t = std::getenv("GEN_TMP");
  std::string d = std::string(t ? t : "/tmp") + "/controlnet_init_" + name;
  std::system(("rm -rf '" + d + "' && mkdir -p '" + d + "'").c_str());
  return d;
}

void compare_with_reference(const Case& c) {
  SCOPED_TRACE(c.reference);
  // An LDM file does not store the tiny model's group count (LDM: 32) nor its heads (which
  // change no weight): given as hints, as tests/unit/test_model_files.cpp does.
  gen::models::ModelFilesOptions opt;
  opt.hints.unet_norm_groups = 2;
  opt.hints.unet_heads = 2;
  opt.hints.text_heads = 2;
  opt.hints.vae_norm_groups = 2;
  const auto files = gen::models::ModelFiles::open(kData + "/layouts/" + c.base, opt);
  auto base = files.load_unet(at::kFloat, at::kCPU);
  auto net = gen::training::make_controlnet(*base, {16, 32, 96, 256}, 0);
  const auto kinds = gen::training::controlnet_init_kinds(*net);
  const auto base_tensors = gen::read_tensor_file(kData + "/layouts/" + c.base_weights).tensors;
  const auto ref = read_json(kData + "/training/init_" + c.reference + ".json")["tensors"];
  const auto map = gen::models::unet_key_map(net->config().unet, 6);
  std::set<std::string> seen;
  std::map<std::string, std::size_t> count;
  net->visit([&](const std::string& n, gen::models::Module::Param& p) {
    const std::string name = c.diffusers_names ? map(n) : "control_model." + n;
    seen.insert(name);
    if (!ref.contains(name)) {
      ADD_FAILURE() << "gen makes " << name << ", the reference does not";
      return;
    }
    const auto& r = ref[name];
    const auto want_kind = r["kind"].get<std::string>();
    const auto kind = kinds.at(n);
    const std::string got_kind = kind == InitKind::Copied ? "copied" : kind == InitKind::Zero ? "zero" : "random";
    EXPECT_EQ(got_kind, want_kind) << name;
    count[got_kind] += 1;
    EXPECT_EQ(p.value.sizes().vec(), r["shape"].get<std::vector<std::int64_t>>()) << name;
    EXPECT_EQ(p.value.scalar_type(), at::kFloat) << name;
    if (want_kind == "copied") {
      EXPECT_TRUE(at::equal(p.value, base_tensors.at(r["from"].get<std::string>()).to(at::kFloat))) << name;
    } else if (want_kind == "zero") {
      EXPECT_TRUE(p.value.eq(0).all().item<bool>()) << name;
    } else {
      const double b = r["bound"].get<double>();
      const bool weight = n.size() > 7 && n.compare(n.size() - 7, 7, ".weight") == 0;
      if (weight) EXPECT_NEAR(gen::training::conv_init_bound(p.shape), b, 1e-12) << name;
      EXPECT_LE(p.value.abs().max().item<double>(), b) << name;
      const auto n_el = static_cast<double>(p.value.numel());
      if (n_el >= 2000) {  // U(-b, b): mean 0, variance b²/3 (standard errors b/√(3n), 0.894·(b²/3)/√n)
        EXPECT_LT(std::abs(p.value.mean().item<double>()), 5 * b / std::sqrt(3 * n_el)) << name;
        EXPECT_NEAR(p.value.pow(2).mean().item<double>() / (b * b / 3), 1.0, 5 * 0.894 / std::sqrt(n_el)) << name;
      }
      // Not all at the bound's edge or constant: a spread of values.
      EXPECT_GT(p.value.std().item<double>(), 0.2 * b) << name;
    }
  });
  for (const auto& [name, r] : ref.items()) EXPECT_TRUE(seen.count(name)) << "the reference has " << name << ", gen does not";
  EXPECT_GT(count["copied"], 50u);
  EXPECT_GE(count["zero"], 12u);  // 4 skip zero-convs, the middle block's, the hint's last conv (weight + bias)
  EXPECT_GE(count["random"], 12u);
}

}  // namespace

TEST(ControlNetInit, EqualsDiffusersFromUnet) {
  compare_with_reference({"diffusers/tiny-sd15-pipeline",
                          "diffusers/tiny-sd15-pipeline/unet/diffusion_pytorch_model.safetensors", "diffusers_sd15", true});
}

TEST(ControlNetInit, EqualsToolAddControlSd15) { compare_with_reference({"tiny-sd15.safetensors", "tiny-sd15.safetensors", "cldm_sd15", false}); }

TEST(ControlNetInit, EqualsToolAddControlSd21) { compare_with_reference({"tiny-sd21.safetensors", "tiny-sd21.safetensors", "cldm_sd21", false}); }

TEST(ControlNetInit, SeedDecidesTheHintEncoder) {
  const auto files = gen::models::ModelFiles::open(kData + "/layouts/diffusers/tiny-sd15-pipeline");
  auto base = files.load_unet(at::kFloat, at::kCPU);
  auto a = gen::training::make_controlnet(*base, {16, 32, 96, 256}, 7);
  auto b = gen::training::make_controlnet(*base, {16, 32, 96, 256}, 7);
  auto c = gen::training::make_controlnet(*base, {16, 32, 96, 256}, 8);
  std::map<std::string, at::Tensor> va, vc;
  a->visit([&](const std::string& n, gen::models::Module::Param& p) { va[n] = p.value; });
  c->visit([&](const std::string& n, gen::models::Module::Param& p) { vc[n] = p.value; });
  b->visit([&](const std::string& n, gen::models::Module::Param& p) {
    EXPECT_TRUE(at::equal(p.value, va.at(n))) << n;
    if (n == "input_hint_block.0.weight") EXPECT_FALSE(at::equal(p.value, vc.at(n)));
  });
}

// The diffusers layout loads back through gen's ControlNet loader to the same tensors; the LDM
// file holds them under control_model.* (gen's loader would infer the tiny model's group count
// as LDM's 32, so it is read as tensors);
// the diffusers config.json equals from_unet's on every key from_unet writes.
TEST(ControlNetInit, WrittenLayoutsLoadBack) {
  const auto dir = tmp_dir("layouts");
  for (const std::string layout : {"diffusers", "ldm"}) {
    SCOPED_TRACE(layout);
    gen::ControlNetInitOptions o;
    o.base = kData + "/layouts/diffusers/tiny-sd15-pipeline";
    o.output = dir + "/cn-" + layout + (layout == "ldm" ? ".safetensors" : "");
    o.layout = layout;
    const auto s = gen::init_controlnet(o);
    EXPECT_EQ(s.family, "sd1");
    const auto files = gen::models::ModelFiles::open(o.base);
    auto base = files.load_unet(at::kFloat, at::kCPU);
    auto want = gen::training::make_controlnet(*base, o.hint_channels, o.seed);
    std::size_t zero = 0;
    for (const auto& [n, k] : gen::training::controlnet_init_kinds(*want)) zero += k == InitKind::Zero ? 1 : 0;
    EXPECT_EQ(s.zeroed, zero);
    EXPECT_EQ(s.copied + s.zeroed + s.random, gen::training::controlnet_init_kinds(*want).size());
    std::map<std::string, at::Tensor> w;
    want->visit([&](const std::string& n, gen::models::Module::Param& p) { w[n] = p.value; });
    if (layout == "diffusers") {
      auto got = gen::control::load_controlnet(o.output, *base, at::kFloat, at::kCPU);
      got->visit([&](const std::string& n, gen::models::Module::Param& p) { EXPECT_TRUE(at::equal(p.value, w.at(n))) << n; });
    } else {
      const auto got = gen::read_tensor_file(o.output).tensors;
      EXPECT_EQ(got.size(), w.size());
      for (const auto& [n, v] : w) {
        const auto it = got.find("control_model." + n);
        if (it == got.end()) ADD_FAILURE() << "missing control_model." << n;
        else EXPECT_TRUE(at::equal(it->second, v)) << n;
      }
    }
    try {
      gen::init_controlnet(o);
      ADD_FAILURE() << "an existing output was replaced";
    } catch (const gen::Error& e) {
      EXPECT_EQ(e.code(), gen::ErrorCode::InvalidArgument);
    }
  }
  const auto ours = read_json(dir + "/cn-diffusers/config.json");
  const auto ref = read_json(kData + "/training/init_diffusers_sd15.json")["config"];
  for (const auto& [k, v] : ref.items()) EXPECT_EQ(ours.value(k, nlohmann::json("<absent>")), v) << k;
}

TEST(ControlNetInit, BaseWithoutUNetIsRefused) {
  const auto dir = tmp_dir("refused");
  gen::ControlNetInitOptions o;
  o.base = kData + "/layouts/tiny-vae.safetensors";
  o.output = dir + "/cn";
  try {
    gen::init_controlnet(o);
    ADD_FAILURE() << "a VAE became a ControlNet";
  } catch (const gen::Error& e) {
    EXPECT_NE(std::string(e.what()).find("tiny-vae.safetensors"), std::string::npos) << e.what();
  }
  struct stat st {};
  EXPECT_NE(::stat(o.output.c_str(), &st), 0) << "a failed init left an output";
}
