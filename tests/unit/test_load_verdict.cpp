// `gen inspect` and the loaders agree: for every weight file and folder of
// tools/make_tiny_models.py (made here) and of the committed fixtures (tests/data/layouts,
// tests/data/loading), inspect's "load" verdict is what loading it does — the engine's
// ModelFiles::open + load_unet/load_vae/load_text_encoder for a model, load_controlnet for a
// ControlNet, a --vae override for a VAE: it loads, or it fails with the same code and
// message. A loaded model has the family inspect reports.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <set>

#include "control/controlnet_files.hpp"
#include "gen/error.hpp"
#include "io/inspect.hpp"
#include "models/model_files.hpp"
#include "safetensors_test_util.hpp"  // list_dir, test_dir, read_file, write_file
#include "tiny_models.hpp"

using namespace gen;

namespace {

bool ends_with(const std::string& s, const std::string& t) {
  return s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
}
bool is_dir(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Every checkpoint under `dir`: weight files (not the shards of a sharded one, which hold
// part of a model) and folders with a model_index.json or config.json.
void collect(const std::string& dir, std::vector<std::string>& out) {
  for (const auto& name : gen_test::list_dir(dir)) {
    const auto path = dir + "/" + name;
    if (is_dir(path)) {
      if (gen_test::path_exists(path + "/model_index.json") || gen_test::path_exists(path + "/config.json"))
        out.push_back(path);
      collect(path, out);
    } else if ((ends_with(name, ".safetensors") || ends_with(name, ".ckpt") || ends_with(name, ".index.json")) &&
               name.find("-of-") == std::string::npos) {
      out.push_back(path);
    }
  }
}

struct Outcome {
  bool ok = false;
  ErrorCode code = ErrorCode::Ok;
  std::string reason;
  std::string family;  // models that load: ModelFiles::family()
};

// A model with a UNet and text encoder but no VAE, so that a --vae override is loaded with
// its own (or inferred) config: tests/data/loading/sd1.safetensors without first_stage_model.*.
std::string base_without_vae(const std::string& dir) {
  auto ckpt = SafetensorsCheckpoint::open(std::string(GEN_TEST_DATA_DIR) + "/loading/sd1.safetensors");
  std::vector<TensorData> tensors;
  for (const auto& n : ckpt.names()) {
    if (n.rfind("first_stage_model.", 0) == 0) continue;
    const auto& info = ckpt.info(n);
    tensors.push_back({n, info.dtype, info.shape, ckpt.data(n), static_cast<std::size_t>(info.nbytes())});
  }
  const auto path = dir + "/no-vae.safetensors";
  write_safetensors(path, tensors);
  return path;
}

// What gen does with `path` as `as`.
Outcome load(const std::string& as, const std::string& path, const std::string& no_vae) {
  Outcome o;
  try {
    if (as == "model") {  // as pipeline/engine.cpp loads the base model
      const auto files = models::ModelFiles::open(path);
      files.load_unet(at::kFloat, at::kCPU);
      files.load_vae(at::kFloat, at::kCPU);
      if (files.refiner())  // an SDXL refiner has the second (bigG) text encoder only
        files.load_text_encoder_2(at::kFloat, at::kCPU);
      else
        files.load_text_encoder(at::kFloat, at::kCPU);
      o.family = models::family_name(files.family());
    } else if (as == "controlnet") {
      // The base UNet's values are only added to "difference" files; unloaded ones are skipped.
      static const models::UNet base(models::UNetConfig::sd15());
      control::load_controlnet(path, base, at::kFloat, at::kCPU);
    } else {
      models::ModelFilesOptions opt;
      opt.vae_path = path;
      opt.hints.unet_norm_groups = opt.hints.vae_norm_groups = 4;  // tests/data/loading/hints.json
      opt.hints.text_heads = 2;
      models::ModelFiles::open(no_vae, opt).load_vae(at::kFloat, at::kCPU);
    }
    o.ok = true;
  } catch (const Error& e) {
    o.code = e.code();
    o.reason = e.what();
  }
  return o;
}

// `roles`: the roles and outcomes that must occur ("model ok", "vae refused", ...).
void expect_agreement(const std::vector<std::string>& roots, std::size_t at_least, const std::set<std::string>& roles_seen) {
  const std::string no_vae = base_without_vae(gen_test::test_dir());
  std::vector<std::string> paths;
  for (const auto& r : roots) collect(r, paths);
  EXPECT_GE(paths.size(), at_least);
  std::set<std::string> roles;
  int loaded = 0;
  for (const auto& path : paths) {
    SCOPED_TRACE(path);
    const gen::io::InspectReport r = gen::io::inspect_path(path);
    const std::string want_as = r.model.kind == ModelKind::ControlNet ? "controlnet"
                                : r.model.kind == ModelKind::VAE      ? "vae"
                                                                      : "model";
    EXPECT_EQ(r.load.as, want_as) << kind_id(r.model.kind);
    const Outcome o = load(r.load.as, r.path, no_vae);
    EXPECT_EQ(r.load.ok, o.ok) << "inspect: " << (r.load.ok ? "loads" : r.load.reason)
                               << "\nloader:  " << (o.ok ? "loads" : o.reason);
    EXPECT_EQ(code_name(r.load.code), std::string(code_name(o.code)));
    EXPECT_EQ(r.load.reason, o.reason);
    if (o.ok && r.load.as == "model") EXPECT_EQ(family_id(r.model.family), o.family) << kind_id(r.model.kind);
    roles.insert(r.load.as + (o.ok ? " ok" : " refused"));
    loaded += o.ok;
  }
  EXPECT_GT(loaded, 0);
  EXPECT_EQ(roles, roles_seen);
}

}  // namespace

TEST(LoadVerdict, InspectSaysWhatTheLoadersDoOnTheCommittedFixtures) {
  const std::string data = GEN_TEST_DATA_DIR;
  expect_agreement({data + "/layouts", data + "/loading"}, 30,
                   {"model ok", "model refused", "controlnet ok", "controlnet refused", "vae ok", "vae refused"});
}

TEST(LoadVerdict, InspectSaysWhatTheLoadersDoOnEveryTinyModelLayout) {
  expect_agreement({gen::test::tiny_models()}, 25, {"model ok", "model refused", "controlnet ok", "vae ok"});
}

TEST(LoadVerdict, TinySingleFileIsRefusedForTheLoadersReason) {
  // The case that used to disagree: inspect called tools/make_tiny_models.py's single file a
  // valid SD 1.x checkpoint, which the loader refuses (its text encoder is 32 wide).
  const auto path = gen::test::tiny_models() + "/tiny-sd15.safetensors";
  const gen::io::InspectReport r = gen::io::inspect_path(path);
  EXPECT_EQ(r.model.kind, ModelKind::SD1Checkpoint);
  EXPECT_EQ(r.load.as, "model");
  EXPECT_FALSE(r.load.ok);
  EXPECT_EQ(r.load.code, ErrorCode::ModelMismatch);
  EXPECT_EQ(r.load.reason, path + ": text width 32 is not a multiple of 64, so its head count is not known: give it "
                              "in the model's .yaml (gen: {text_heads: N}; docs/formats.md#single-files-and-their-yaml)");
  const auto doc = nlohmann::json::parse(gen::io::inspect_json(r, false));
  EXPECT_EQ(doc.at("load").at("as"), "model");
  EXPECT_EQ(doc.at("load").at("ok"), false);
  EXPECT_EQ(doc.at("load").at("code"), "model-mismatch");
  EXPECT_EQ(doc.at("load").at("reason"), r.load.reason);
  // A pipeline folder loads; its components are not judged on their own.
  const auto pipe = gen::io::inspect_path(gen::test::tiny_models() + "/diffusers/tiny-sd15-pipeline");
  EXPECT_TRUE(pipe.load.ok);
  for (const auto& c : pipe.components) EXPECT_TRUE(c.load.as.empty()) << c.name;
  const auto pipe_doc = nlohmann::json::parse(gen::io::inspect_json(pipe, false));
  EXPECT_EQ(pipe_doc.at("load"), nlohmann::json({{"as", "model"}, {"ok", true}}));
  EXPECT_FALSE(pipe_doc.at("components")[0].contains("load"));
}
