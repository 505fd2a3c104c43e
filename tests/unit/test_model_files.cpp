// Loading models as they are shipped: LDM single files (fp32/fp16/bf16, EMA), diffusers
// folders (sharded, fp16 variant), VAE overrides; against diffusers' outputs for the same
// tiny models (tests/data/loading, made by tools/make_loading_fixtures.py).
//
// Tolerances (relative error = max|got - ref| / max|ref|): fp32 files 1e-4; files stored in
// fp16 / bf16 and computed in f32: 8 × the unit roundoff of the stored format (fp16 2^-11,
// bf16 2^-8), i.e. 3.9e-3 and 3.1e-2 (rounding the weights alone moves the tiny UNet's
// output by 8.9e-4 and 7.8e-3, about 2 units).
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <set>
#include <tuple>

#include "gen/error.hpp"
#include "models/key_map.hpp"
#include "models/model_files.hpp"
#include "safetensors_test_util.hpp"  // test_dir, make_dirs, read_file, write_file (POSIX, not std::filesystem)
#include "tensor/from_safetensors.hpp"

using namespace gen;
using namespace gen::models;
using gen_test::make_dirs;
using gen_test::read_file;
using gen_test::test_dir;
using gen_test::write_file;

namespace {

constexpr double kF32 = 1e-4;
constexpr double kF16 = 8.0 / 2048;  // 8 × 2^-11
constexpr double kBF16 = 8.0 / 256;  // 8 × 2^-8

std::string data(const std::string& name) { return std::string(GEN_TEST_DATA_DIR) + "/loading/" + name; }

nlohmann::json json_file(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

struct Refs {
  Refs() : ckpt(SafetensorsCheckpoint::open(data("refs.safetensors"))) {}
  at::Tensor operator[](const std::string& k) const {
    return load_tensor(ckpt, k, ckpt.info(k).dtype == DType::I64 ? at::kLong : at::kFloat, at::kCPU);
  }
  SafetensorsCheckpoint ckpt;
};

double rel(const at::Tensor& got, const at::Tensor& want) {
  EXPECT_EQ(got.sizes(), want.sizes());
  if (got.sizes() != want.sizes()) return 1e30;
  return (got.to(at::kFloat) - want).abs().max().item<double>() / want.abs().max().item<double>();
}

InferenceHints tiny_hints(bool sd2) {
  const auto h = json_file(data("hints.json"));
  InferenceHints out;
  out.unet_norm_groups = h["unet_norm_groups"];
  out.vae_norm_groups = h["vae_norm_groups"];
  out.text_heads = h["text_heads"];
  if (sd2) out.unet_head_channels = h["sd2_unet_head_channels"];
  return out;
}

ModelFilesOptions ldm_options(bool sd2 = false) {
  ModelFilesOptions o;
  o.hints = tiny_hints(sd2);
  return o;
}

void expect_same(const UNetConfig& a, const UNetConfig& b) {
  EXPECT_EQ(a.in_channels, b.in_channels);
  EXPECT_EQ(a.out_channels, b.out_channels);
  EXPECT_EQ(a.model_channels, b.model_channels);
  EXPECT_EQ(a.block_channels, b.block_channels);
  EXPECT_EQ(a.num_res_blocks, b.num_res_blocks);
  auto sorted = [](std::vector<std::int64_t> v) { return std::sort(v.begin(), v.end()), v; };
  EXPECT_EQ(sorted(a.attention_resolutions), sorted(b.attention_resolutions));
  // The same attention and depth everywhere, however each config spells it.
  for (std::size_t l = 0; l < a.levels() && l < b.levels(); ++l) {
    EXPECT_EQ(a.attention_at(l).heads, b.attention_at(l).heads) << "level " << l;
    EXPECT_EQ(a.attention_at(l).head_dim, b.attention_at(l).head_dim) << "level " << l;
    if (a.has_attention(l)) EXPECT_EQ(a.depth_down(l), b.depth_down(l)) << "level " << l;
    if (a.has_attention(l)) EXPECT_EQ(a.depth_up(l), b.depth_up(l)) << "level " << l;
  }
  EXPECT_EQ(a.attention_mid().heads, b.attention_mid().heads);
  EXPECT_EQ(a.depth_mid(), b.depth_mid());
  EXPECT_EQ(a.context_dim, b.context_dim);
  EXPECT_EQ(a.use_linear_in_transformer, b.use_linear_in_transformer);
  EXPECT_EQ(a.upcast_attention, b.upcast_attention);
  EXPECT_EQ(a.norm_groups, b.norm_groups);
}

void expect_same(const VaeConfig& a, const VaeConfig& b) {
  EXPECT_EQ(a.in_channels, b.in_channels);
  EXPECT_EQ(a.out_channels, b.out_channels);
  EXPECT_EQ(a.latent_channels, b.latent_channels);
  EXPECT_EQ(a.channels, b.channels);
  EXPECT_EQ(a.block_channels, b.block_channels);
  EXPECT_EQ(a.num_res_blocks, b.num_res_blocks);
  EXPECT_EQ(a.norm_groups, b.norm_groups);
  EXPECT_DOUBLE_EQ(a.scaling_factor, b.scaling_factor);
}

void expect_same(const ClipTextConfig& a, const ClipTextConfig& b, bool same_layers = true) {
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.max_positions, b.max_positions);
  EXPECT_EQ(a.width, b.width);
  if (same_layers) EXPECT_EQ(a.layers, b.layers);
  EXPECT_EQ(a.heads, b.heads);
  EXPECT_EQ(a.ff_dim, b.ff_dim);
  EXPECT_EQ(a.quick_gelu, b.quick_gelu);
  EXPECT_DOUBLE_EQ(a.eps, b.eps);
}

// The diffusers configs of a fixture pipeline folder.
UNetConfig diffusers_unet(const std::string& fam) {
  return UNetConfig::from_diffusers(json_file(data(fam + "/unet/config.json")), fam);
}
VaeConfig diffusers_vae(const std::string& fam) {
  auto c = VaeConfig::from_diffusers(json_file(data(fam + "/vae/config.json")), fam);
  return c;
}
ClipTextConfig diffusers_text(const std::string& fam) {
  return ClipTextConfig::from_transformers(json_file(data(fam + "/text_encoder/config.json")), fam);
}

// Runs the three parts on the reference inputs and compares with diffusers.
void check_outputs(const ModelFiles& m, const std::string& fam, double tol, const std::string& unet_ref = "",
                   const std::string& vae_ref = "vae.image") {
  Refs r;
  auto unet = m.load_unet(at::kFloat, at::kCPU);
  EXPECT_LE(rel(unet->forward(r["x"], r["t"], r["context"]), r[unet_ref.empty() ? fam + ".unet" : unet_ref]), tol);
  auto te = m.load_text_encoder(at::kFloat, at::kCPU);
  EXPECT_LE(rel(te->forward(r["ids"], m.default_clip_skip()), r[fam + ".text"]), tol);
  auto vae = m.load_vae(at::kFloat, at::kCPU);
  EXPECT_LE(rel(vae->decode(r["z"]), r[vae_ref]), tol);
}

std::string error_of(const std::function<void()>& f, ErrorCode want) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), want) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

// A copy of an LDM fixture with `edit` applied to its tensor list.
std::string edited_copy(const std::string& name, const std::string& dir, const std::string& out_name,
                        const std::function<void(std::vector<TensorData>&)>& edit) {
  auto ckpt = SafetensorsCheckpoint::open(data(name));
  std::vector<TensorData> tensors;
  for (const auto& n : ckpt.names()) {
    const auto& info = ckpt.info(n);
    tensors.push_back({n, info.dtype, info.shape, ckpt.data(n), static_cast<std::size_t>(info.nbytes())});
  }
  edit(tensors);
  const auto path = dir + "/" + out_name + ".safetensors";
  write_safetensors(path, tensors);
  return path;
}

}  // namespace

TEST(ModelFiles, Sd1LdmFileFp32InfersTheDiffusersConfigsAndMatches) {
  auto m = ModelFiles::open(data("sd1.safetensors"), ldm_options());
  EXPECT_EQ(m.layout(), ModelFiles::Layout::LdmSingleFile);
  EXPECT_EQ(m.family(), ModelFamily::SD1);
  expect_same(m.unet_config(), diffusers_unet("sd1"));
  expect_same(m.vae_config(), diffusers_vae("sd1"));
  expect_same(m.text_config(), diffusers_text("sd1"));
  EXPECT_EQ(m.text_config().layout, ClipTextConfig::Layout::HuggingFace);
  EXPECT_EQ(m.default_clip_skip(), 0);
  EXPECT_EQ(m.prediction_type(), "epsilon");
  EXPECT_FALSE(m.prediction_type_known());
  EXPECT_FALSE(m.uses_ema());
  EXPECT_TRUE(m.scheduler_config().is_null());
  check_outputs(m, "sd1", kF32);
}

TEST(ModelFiles, Sd1LdmFileFp16AndBf16) {
  for (auto [file, tol, dtype] : {std::tuple{"sd1-fp16.safetensors", kF16, at::kHalf},
                                  std::tuple{"sd1-bf16.safetensors", kBF16, at::kBFloat16}}) {
    SCOPED_TRACE(file);
    auto m = ModelFiles::open(data(file), ldm_options());
    expect_same(m.unet_config(), diffusers_unet("sd1"));
    check_outputs(m, "sd1", tol);
    EXPECT_NE(m.summary().find(dtype == at::kHalf ? "(F16)" : "(BF16)"), std::string::npos) << m.summary();
    // Loaded in the stored dtype, the weights are the file's bits.
    auto unet = m.load_unet(dtype, at::kCPU);
    auto ckpt = SafetensorsCheckpoint::open(data(file));
    unet->visit([&](const std::string& name, Module::Param& p) {
      ASSERT_EQ(p.value.scalar_type(), dtype) << name;
      if (name == "out.2.weight")
        EXPECT_TRUE(at::equal(p.value, view_tensor(ckpt, "model.diffusion_model." + name)));
    });
  }
}

TEST(ModelFiles, SixteenBitWeightsKeptNarrowGiveTheF32ResultsBitForBit) {
  // keep_16bit (the CPU's fp32 path): F16/BF16 weights stay 16-bit in memory and the layers
  // widen them on use. Widening is exact, so every output equals, bit for bit, that of the
  // same weights loaded as F32.
  Refs r;
  for (auto [file, dtype] : {std::pair{"sd1-fp16.safetensors", at::kHalf}, std::pair{"sd1-bf16.safetensors", at::kBFloat16}}) {
    SCOPED_TRACE(file);
    auto m = ModelFiles::open(data(file), ldm_options());
    auto unet = m.load_unet(at::kFloat, at::kCPU), unet16 = m.load_unet(at::kFloat, at::kCPU, true);
    auto te = m.load_text_encoder(at::kFloat, at::kCPU), te16 = m.load_text_encoder(at::kFloat, at::kCPU, true);
    auto vae = m.load_vae(at::kFloat, at::kCPU), vae16 = m.load_vae(at::kFloat, at::kCPU, true);
    for (Module* narrow : std::initializer_list<Module*>{unet16.get(), te16.get(), vae16.get()})
      narrow->visit([&](const std::string& name, Module::Param& p) { ASSERT_EQ(p.value.scalar_type(), dtype) << name; });
    const auto u = unet->forward(r["x"], r["t"], r["context"]), u16 = unet16->forward(r["x"], r["t"], r["context"]);
    EXPECT_EQ(u16.scalar_type(), at::kFloat);
    EXPECT_TRUE(at::equal(u, u16));
    const auto t = te->forward(r["ids"], 0), t16 = te16->forward(r["ids"], 0, at::kFloat);
    EXPECT_EQ(t16.scalar_type(), at::kFloat);
    EXPECT_TRUE(at::equal(t, t16));
    EXPECT_TRUE(at::equal(vae->decode(r["z"]), vae16->decode(r["z"])));
    auto [mean, logvar] = vae->encode(r["vae.image"]);
    auto [mean16, logvar16] = vae16->encode(r["vae.image"]);
    EXPECT_TRUE(at::equal(mean, mean16));
    EXPECT_TRUE(at::equal(logvar, logvar16));
    // An F32 file is loaded as F32 either way.
    auto wide = ModelFiles::open(data("sd1.safetensors"), ldm_options()).load_vae(at::kFloat, at::kCPU, true);
    wide->visit([&](const std::string& name, Module::Param& p) { EXPECT_EQ(p.value.scalar_type(), at::kFloat) << name; });
  }
}

TEST(ModelFiles, LoadingCastsEachTensorToTheTargetDtype) {
  auto m = ModelFiles::open(data("sd1.safetensors"), ldm_options());
  auto unet = m.load_unet(at::kBFloat16, at::kCPU);
  std::int64_t n = 0;
  unet->visit([&](const std::string& name, Module::Param& p) {
    ++n;
    EXPECT_EQ(p.value.scalar_type(), at::kBFloat16) << name;
  });
  EXPECT_GT(n, 0);
  auto vae = m.load_vae(at::kHalf, at::kCPU);
  vae->visit([&](const std::string& name, Module::Param& p) { EXPECT_EQ(p.value.scalar_type(), at::kHalf) << name; });
}

TEST(ModelFiles, Sd1EmaAndNonEmaWeights) {
  auto plain = ModelFiles::open(data("sd1-ema.safetensors"), ldm_options());
  EXPECT_FALSE(plain.uses_ema());  // both present: non-EMA by default
  EXPECT_NE(plain.summary().find("non-EMA weights (EMA also present"), std::string::npos) << plain.summary();
  check_outputs(plain, "sd1", kF32);

  auto opt = ldm_options();
  opt.use_ema = true;
  auto ema = ModelFiles::open(data("sd1-ema.safetensors"), opt);
  EXPECT_TRUE(ema.uses_ema());
  expect_same(ema.unet_config(), diffusers_unet("sd1"));
  EXPECT_NE(ema.summary().find("EMA weights"), std::string::npos) << ema.summary();
  check_outputs(ema, "sd1", kF32, "sd1_ema.unet");

  auto msg = error_of([&] { ModelFiles::open(data("sd1.safetensors"), opt); }, ErrorCode::NotFound);
  EXPECT_NE(msg.find("no EMA weights"), std::string::npos) << msg;
}

TEST(ModelFiles, Sd1DiffusersFolderShardedAndFp16Variant) {
  auto m = ModelFiles::open(data("sd1"));
  EXPECT_EQ(m.layout(), ModelFiles::Layout::DiffusersFolder);
  EXPECT_EQ(m.family(), ModelFamily::SD1);
  expect_same(m.unet_config(), diffusers_unet("sd1"));
  EXPECT_EQ(m.prediction_type(), "epsilon");
  EXPECT_TRUE(m.prediction_type_known());
  EXPECT_EQ(m.scheduler_config().value("_class_name", ""), "DDIMScheduler");
  EXPECT_EQ(m.tokenizer_dir(), data("sd1/tokenizer"));
  EXPECT_NE(m.summary().find("diffusion_pytorch_model.safetensors.index.json"), std::string::npos) << m.summary();
  EXPECT_GT(m.unet_source().checkpoint->files().size(), 1u);
  check_outputs(m, "sd1", kF32);

  ModelFilesOptions o;
  o.variant = "fp16";
  auto h = ModelFiles::open(data("sd1"), o);
  EXPECT_NE(h.summary().find("diffusion_pytorch_model.fp16.safetensors (F16)"), std::string::npos) << h.summary();
  check_outputs(h, "sd1", kF16);
}

TEST(ModelFiles, Sd2LdmFileOpenClipPenultimateLayer) {
  auto m = ModelFiles::open(data("sd2.safetensors"), ldm_options(true));
  EXPECT_EQ(m.family(), ModelFamily::SD2);
  expect_same(m.unet_config(), diffusers_unet("sd2"));  // incl. linear projections and upcast
  expect_same(m.vae_config(), diffusers_vae("sd2"));
  auto te = diffusers_text("sd2");
  expect_same(m.text_config(), te, false);
  EXPECT_EQ(m.text_config().layout, ClipTextConfig::Layout::OpenClip);
  EXPECT_EQ(m.text_config().layers, te.layers + 1);  // all layers stored, the last one skipped
  EXPECT_EQ(m.default_clip_skip(), 1);
  EXPECT_FALSE(m.prediction_type_known());
  check_outputs(m, "sd2", kF32);

  auto o = ldm_options(true);
  o.prediction_type = "v_prediction";
  EXPECT_EQ(ModelFiles::open(data("sd2.safetensors"), o).prediction_type(), "v_prediction");
}

TEST(ModelFiles, Sd2DiffusersFolder) {
  auto m = ModelFiles::open(data("sd2"));
  EXPECT_EQ(m.family(), ModelFamily::SD2);
  EXPECT_EQ(m.prediction_type(), "v_prediction");
  EXPECT_TRUE(m.prediction_type_known());
  EXPECT_EQ(m.text_config().layout, ClipTextConfig::Layout::HuggingFace);
  EXPECT_FALSE(m.text_config().quick_gelu);
  EXPECT_EQ(m.default_clip_skip(), 0);
  check_outputs(m, "sd2", kF32);
}

TEST(ModelFiles, InferenceRulesOnRealArchitectures) {
  auto shapes = [](Module& m) {
    ShapeMap s;
    m.visit([&](const std::string& n, Module::Param& p) { s[n] = p.shape; });
    return s;
  };
  UNet u15(UNetConfig::sd15()), u21(UNetConfig::sd21());
  expect_same(infer_unet_config(shapes(u15), ModelFamily::SD1, {}, "sd15"), UNetConfig::sd15());
  auto sd21 = UNetConfig::sd21();
  sd21.upcast_attention = true;  // the SD 2.x rule
  expect_same(infer_unet_config(shapes(u21), ModelFamily::SD2, {}, "sd21"), sd21);
  ClipTextModel t15(ClipTextConfig::sd15()), t21(ClipTextConfig::sd21());
  expect_same(infer_text_config(shapes(t15), ClipTextConfig::Layout::HuggingFace, ModelFamily::SD1, {}, "te"),
              ClipTextConfig::sd15());
  expect_same(infer_text_config(shapes(t21), ClipTextConfig::Layout::OpenClip, ModelFamily::SD2, {}, "te"),
              ClipTextConfig::sd21());
  Vae v(VaeConfig::sd());
  expect_same(infer_vae_config(shapes(v), {}, "vae"), VaeConfig::sd());
}

TEST(ModelFiles, KeyMapRenamesAndRoundTrips) {
  const auto cfg = UNetConfig::sd15();
  const auto map = unet_key_map(cfg, 6);
  EXPECT_EQ(map("input_blocks.4.0.in_layers.0.weight"), "down_blocks.1.resnets.0.norm1.weight");
  EXPECT_EQ(map("input_blocks.4.1.proj_in.weight"), "down_blocks.1.attentions.0.proj_in.weight");
  EXPECT_EQ(map("input_blocks.9.0.op.weight"), "down_blocks.2.downsamplers.0.conv.weight");
  EXPECT_EQ(map("output_blocks.2.1.conv.weight"), "up_blocks.0.upsamplers.0.conv.weight");  // no attention
  EXPECT_EQ(map("output_blocks.5.2.conv.bias"), "up_blocks.1.upsamplers.0.conv.bias");
  EXPECT_EQ(map("output_blocks.11.1.transformer_blocks.0.attn2.to_k.weight"),
            "up_blocks.3.attentions.2.transformer_blocks.0.attn2.to_k.weight");
  EXPECT_EQ(map("middle_block.2.skip_connection.weight"), "mid_block.resnets.1.conv_shortcut.weight");
  EXPECT_EQ(map("out.2.weight"), "conv_out.weight");
  EXPECT_EQ(map("zero_convs.11.0.weight"), "controlnet_down_blocks.11.weight");
  EXPECT_EQ(map("input_hint_block.12.bias"), "controlnet_cond_embedding.blocks.5.bias");
  EXPECT_EQ(map("input_hint_block.14.weight"), "controlnet_cond_embedding.conv_out.weight");
  EXPECT_EQ(map("middle_block_out.0.weight"), "controlnet_mid_block.weight");
  const auto vmap = vae_key_map(VaeConfig::sd());
  EXPECT_EQ(vmap("decoder.up.1.block.0.nin_shortcut.weight"), "decoder.up_blocks.2.resnets.0.conv_shortcut.weight");
  EXPECT_EQ(vmap("encoder.mid.attn_1.q.weight"), "encoder.mid_block.attentions.0.to_q.weight");
  EXPECT_EQ(vmap.candidates("decoder.mid.attn_1.proj_out.bias"),
            (std::vector<std::string>{"decoder.mid_block.attentions.0.to_out.0.bias",
                                      "decoder.mid_block.attentions.0.proj_attn.bias"}));
  EXPECT_EQ(vmap("quant_conv.weight"), "quant_conv.weight");
  EXPECT_EQ(ldm_ema_name("input_blocks.0.0.weight"), "diffusion_modelinput_blocks00weight");
  // Every parameter maps to a distinct name and back.
  UNet unet(cfg);
  std::set<std::string> seen;
  unet.visit([&](const std::string& n, Module::Param&) {
    const auto d = map(n);
    EXPECT_TRUE(seen.insert(d).second) << d;
    EXPECT_EQ(map.to_ldm(d), n);
  });
  Vae vae(VaeConfig::sd());
  vae.visit([&](const std::string& n, Module::Param&) {
    for (const auto& d : vmap.candidates(n)) EXPECT_EQ(vmap.to_ldm(d), n);
  });
}

TEST(ModelFiles, VaeOverride) {
  // Bare LDM names.
  auto o = ldm_options();
  o.vae_path = data("vae-other.safetensors");
  auto m = ModelFiles::open(data("sd1.safetensors"), o);
  EXPECT_TRUE(m.vae_overridden());
  EXPECT_NE(m.summary().find("override"), std::string::npos) << m.summary();
  Refs r;
  EXPECT_LE(rel(m.load_vae(at::kFloat, at::kCPU)->decode(r["z"]), r["vae_other.image"]), kF32);
  // A diffusers-named file, a diffusers vae folder, a diffusers pipeline folder.
  for (auto path : {data("sd1/vae/diffusion_pytorch_model.safetensors"), data("sd1/vae"), data("sd1")}) {
    SCOPED_TRACE(path);
    o.vae_path = path;
    auto d = ModelFiles::open(data("sd1-fp16.safetensors"), o);
    EXPECT_LE(rel(d.load_vae(at::kFloat, at::kCPU)->decode(r["z"]), r["vae.image"]), kF32);
  }
  // Onto a diffusers folder.
  ModelFilesOptions fo;
  fo.vae_path = data("vae-other.safetensors");
  auto f = ModelFiles::open(data("sd1"), fo);
  EXPECT_LE(rel(f.load_vae(at::kFloat, at::kCPU)->decode(r["z"]), r["vae_other.image"]), kF32);
}

TEST(ModelFiles, VaeOverrideWithWrongShapesIsListed) {
  auto o = ldm_options();
  o.vae_path = data("vae-wrong.safetensors");
  auto m = ModelFiles::open(data("sd1.safetensors"), o);
  auto msg = error_of([&] { m.load_vae(at::kFloat, at::kCPU); }, ErrorCode::ModelMismatch);
  EXPECT_NE(msg.find("vae-wrong.safetensors: tensors do not match"), std::string::npos) << msg;
  EXPECT_NE(msg.find("mis-shaped"), std::string::npos) << msg;
  EXPECT_NE(msg.find("first_stage_model.encoder.down.1.block.0.conv1.weight [8, 4, 3, 3] (expected [4, 4, 3, 3])"),
            std::string::npos)
      << msg;
}

TEST(ModelFiles, MissingExtraAndMisshapedTensorsAreListed) {
  const auto dir = test_dir();
  const std::string gone = "model.diffusion_model.out.2.bias";
  auto missing = edited_copy("sd1.safetensors", dir, "missing", [&](std::vector<TensorData>& t) {
    t.erase(std::remove_if(t.begin(), t.end(), [&](const TensorData& d) { return d.name == gone; }), t.end());
  });
  auto m1 = ModelFiles::open(missing, ldm_options());
  auto msg = error_of([&] { m1.load_unet(at::kFloat, at::kCPU); }, ErrorCode::ModelMismatch);
  EXPECT_NE(msg.find("1 missing: " + gone), std::string::npos) << msg;

  static const float extra_value[2] = {1, 2};
  auto extra = edited_copy("sd1.safetensors", dir, "extra", [&](std::vector<TensorData>& t) {
    t.push_back({"model.diffusion_model.extra.weight", DType::F32, {2}, extra_value, sizeof extra_value});
  });
  auto m2 = ModelFiles::open(extra, ldm_options());
  msg = error_of([&] { m2.load_unet(at::kFloat, at::kCPU); }, ErrorCode::ModelMismatch);
  EXPECT_NE(msg.find("1 unexpected: model.diffusion_model.extra.weight"), std::string::npos) << msg;
  // The other parts of the same file are fine; unrelated top-level keys are ignored.
  EXPECT_NO_THROW(m2.load_vae(at::kFloat, at::kCPU));

  auto misshaped = edited_copy("sd1.safetensors", dir, "misshaped", [&](std::vector<TensorData>& t) {
    for (auto& d : t)
      if (d.name == "model.diffusion_model.time_embed.2.bias") d.shape = {d.shape[0] / 2, 2};
  });
  auto m3 = ModelFiles::open(misshaped, ldm_options());
  msg = error_of([&] { m3.load_unet(at::kFloat, at::kCPU); }, ErrorCode::ModelMismatch);
  EXPECT_NE(msg.find("1 mis-shaped: model.diffusion_model.time_embed.2.bias [16, 2] (expected [32])"),
            std::string::npos)
      << msg;
}

TEST(ModelFiles, FolderWithoutModelIndexIsRefused) {
  auto msg = error_of([] { ModelFiles::open(data("sd1/unet")); }, ErrorCode::NotFound);
  EXPECT_NE(msg.find("no model_index.json"), std::string::npos) << msg;
  error_of([] { ModelFiles::open(data("no-such-model.safetensors")); }, ErrorCode::NotFound);
}

TEST(ModelFiles, BinOnlyComponentAsksForConversion) {
  const auto dir = test_dir();
  write_file(dir + "/model_index.json", read_file(data("sd1/model_index.json")));
  make_dirs(dir + "/unet");
  write_file(dir + "/unet/config.json", read_file(data("sd1/unet/config.json")));
  write_file(dir + "/unet/diffusion_pytorch_model.bin", "not really a pickle");
  auto msg = error_of([&] { ModelFiles::open(dir); }, ErrorCode::Unsupported);
  EXPECT_NE(msg.find("diffusion_pytorch_model.bin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("gen convert"), std::string::npos) << msg;
}
