// LoRA files and their application (src/adapters): the one reader's checks, the names of every
// layout reaching the same layer, A1111's prompt tags, merging with bit-exact restore, the
// on-the-fly bypass against merging, OpenCLIP's fused in-projection and the inpainting conv_in.
// Parity of whole images with diffusers + PEFT: tests/cli/test_lora_parity.sh.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <filesystem>
#include <map>
#include <string>

#include "adapters/adapter_delta.hpp"
#include "adapters/adapter_file.hpp"
#include "adapters/lora_apply.hpp"
#include "adapters/lora_names.hpp"
#include "adapters/lora_targets.hpp"
#include "core/sha256.hpp"
#include "gen/error.hpp"
#include "gen/safetensors.hpp"
#include "tensor/from_safetensors.hpp"
#include "control/controlnet.hpp"
#include "models/clip_text.hpp"
#include "models/model_files.hpp"
#include "models/unet.hpp"
#include "pipeline/model_cache.hpp"
#include "tiny_models.hpp"

using namespace gen::adapters;
using gen::test::tiny_models;

namespace {

gen::ErrorCode code_of(const std::function<void()>& f, std::string* message = nullptr) {
  try {
    f();
  } catch (const gen::Error& e) {
    if (message) *message = e.what();
    return e.code();
  }
  return gen::ErrorCode::Ok;
}

using Tensors = std::map<std::string, at::Tensor>;

gen::pipeline::ModelCache& cache() {
  static gen::pipeline::ModelCache c(3);
  return c;
}

gen::pipeline::BaseModel& base_model(const std::string& path) {
  gen::Request r;
  r.model = path;
  int loaded = 0;
  return cache().base(r, gen::pipeline::LoadSettings{}, loaded);
}

std::map<std::string, at::Tensor> snapshot(gen::models::Module& m) {
  std::map<std::string, at::Tensor> out;
  m.visit([&](const std::string& name, gen::models::Module::Param& p) { out[name] = p.value.clone(); });
  return out;
}

bool same(gen::models::Module& m, const std::map<std::string, at::Tensor>& before, std::string* first_diff) {
  bool ok = true;
  m.visit([&](const std::string& name, gen::models::Module::Param& p) {
    if (ok && !at::equal(p.value, before.at(name))) {
      ok = false;
      *first_diff = name;
    }
  });
  return ok;
}

}  // namespace

TEST(Adapters, Sha256MatchesTheFipsVectors) {
  gen::Sha256 a;
  a.update("abc", 3);
  EXPECT_EQ(a.hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  gen::Sha256 e;
  EXPECT_EQ(e.hex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const std::string m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";  // two blocks
  gen::Sha256 b;
  b.update(m.data(), m.size());
  EXPECT_EQ(b.hex(), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Adapters, EveryLayoutsNameOfALayerReachesTheSameKey) {
  const std::string q = "unet:down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q";
  EXPECT_EQ(lookup_key("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q", AdapterLayout::Kohya), q);
  EXPECT_EQ(lookup_key("unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q", AdapterLayout::Peft), q);
  EXPECT_EQ(lookup_key("base_model.model.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q", AdapterLayout::Peft), q);
  EXPECT_EQ(lookup_key("unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor.to_q_lora",
                       AdapterLayout::DiffusersOld), q);
  const std::string out = "unet:mid_block_attentions_0_transformer_blocks_0_attn2_to_out_0";
  EXPECT_EQ(lookup_key("lora_unet_mid_block_attentions_0_transformer_blocks_0_attn2_to_out_0", AdapterLayout::Kohya), out);
  EXPECT_EQ(lookup_key("unet.mid_block.attentions.0.transformer_blocks.0.attn2.processor.to_out_lora",
                       AdapterLayout::DiffusersOld), out);
  const std::string te = "te:text_model_encoder_layers_3_self_attn_k_proj";
  EXPECT_EQ(lookup_key("lora_te_text_model_encoder_layers_3_self_attn_k_proj", AdapterLayout::Kohya), te);
  EXPECT_EQ(lookup_key("lora_te1_text_model_encoder_layers_3_self_attn_k_proj", AdapterLayout::Kohya), te);
  EXPECT_EQ(lookup_key("text_encoder.text_model.encoder.layers.3.self_attn.k_proj", AdapterLayout::Peft), te);
  EXPECT_EQ(lookup_key("text_encoder.text_model.encoder.layers.3.self_attn.k_proj.lora_linear_layer",
                       AdapterLayout::DiffusersOld), te);
  EXPECT_EQ(lookup_key("lora_te2_text_model_encoder_layers_3_mlp_fc1", AdapterLayout::Kohya).rfind("te2:", 0), 0u);
  EXPECT_EQ(lookup_key("lora_controlnet_controlnet_cond_embedding_conv_in", AdapterLayout::Kohya),
            "cn:controlnet_cond_embedding_conv_in");
  EXPECT_EQ(lookup_key("something_else", AdapterLayout::Kohya), "");
}

TEST(Adapters, PromptTagsAreTakenOutAsA1111Does) {
  std::vector<PromptTag> tags;
  EXPECT_EQ(take_prompt_tags("a cat <lora:style:0.5>, <lora:b:te=0.2:unet=0.9> <hypernet:h:1> end", &tags, "prompt"),
            "a cat ,   end");
  ASSERT_EQ(tags.size(), 3u);
  EXPECT_EQ(tags[0].type, "lora");
  EXPECT_EQ(tags[0].name, "style");
  EXPECT_DOUBLE_EQ(tags[0].te, 0.5);
  EXPECT_DOUBLE_EQ(tags[0].unet, 0.5);  // the UNet multiplier defaults to the TE one
  EXPECT_DOUBLE_EQ(tags[1].te, 0.2);
  EXPECT_DOUBLE_EQ(tags[1].unet, 0.9);
  EXPECT_EQ(tags[2].type, "hypernet");
  tags.clear();
  take_prompt_tags("<lora:x> <lyco:y:0.3:1.5>", &tags, "prompt");
  ASSERT_EQ(tags.size(), 2u);
  EXPECT_DOUBLE_EQ(tags[0].te, 1.0);
  EXPECT_DOUBLE_EQ(tags[1].te, 0.3);
  EXPECT_DOUBLE_EQ(tags[1].unet, 1.5);
  std::string msg;
  EXPECT_EQ(code_of([&] { take_prompt_tags("<lora:x:abc>", &tags, "prompt"); }, &msg), gen::ErrorCode::InvalidArgument);
  EXPECT_NE(msg.find("abc"), std::string::npos) << msg;
  EXPECT_EQ(code_of([&] { take_prompt_tags("<lora:x:nan>", &tags, "prompt"); }), gen::ErrorCode::InvalidArgument);
}

TEST(Adapters, TheReaderRefusesBrokenModulesNamingThem) {
  const auto r = [](int64_t a, int64_t b) { return at::randn({a, b}); };
  std::string msg;
  // up and down of different ranks
  EXPECT_EQ(code_of([&] { parse_adapter_tensors("f", {{"lora_unet_x.lora_down.weight", r(4, 8)},
                                                      {"lora_unet_x.lora_up.weight", r(6, 3)}}, {}); }, &msg),
            gen::ErrorCode::InvalidFormat);
  EXPECT_NE(msg.find("lora_unet_x"), std::string::npos) << msg;
  EXPECT_NE(msg.find("rank"), std::string::npos) << msg;
  // a factor without its partner
  EXPECT_EQ(code_of([&] { parse_adapter_tensors("f", {{"lora_unet_x.lora_down.weight", r(4, 8)}}, {}); }, &msg),
            gen::ErrorCode::InvalidFormat);
  EXPECT_NE(msg.find("lora_up"), std::string::npos) << msg;
  // NaN
  auto nan = r(4, 8);
  nan[1][2] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(code_of([&] { parse_adapter_tensors("f", {{"lora_unet_x.lora_down.weight", nan},
                                                      {"lora_unet_x.lora_up.weight", r(6, 4)}}, {}); }, &msg),
            gen::ErrorCode::InvalidFormat);
  EXPECT_NE(msg.find("NaN"), std::string::npos) << msg;
  // an alpha that is not one number
  EXPECT_EQ(code_of([&] { parse_adapter_tensors("f", {{"lora_unet_x.lora_down.weight", r(4, 8)},
                                                      {"lora_unet_x.lora_up.weight", r(6, 4)},
                                                      {"lora_unet_x.alpha", r(2, 2)}}, {}); }),
            gen::ErrorCode::InvalidFormat);
  // nothing an adapter has
  EXPECT_EQ(code_of([&] { parse_adapter_tensors("f", {{"model.weight", r(2, 2)}}, {}); }, &msg),
            gen::ErrorCode::InvalidFormat);
  EXPECT_NE(msg.find("no adapter module"), std::string::npos) << msg;
  // half a LoHa
  EXPECT_EQ(code_of([&] { parse_adapter_tensors("f", {{"lora_unet_x.hada_w1_a", r(6, 2)}, {"lora_unet_x.hada_w1_b", r(2, 8)}}, {}); }),
            gen::ErrorCode::InvalidFormat);
  // PEFT's DoRA: one magnitude per output feature, beside lora_A / lora_B
  EXPECT_EQ(code_of([&] { parse_adapter_tensors("f", {{"unet.x.lora_A.weight", r(4, 8)}, {"unet.x.lora_B.weight", r(6, 4)},
                                                      {"unet.x.lora_magnitude_vector", r(6, 1)}}, {}); }),
            gen::ErrorCode::Ok);
  EXPECT_EQ(code_of([&] { parse_adapter_tensors("f", {{"unet.x.lora_A.weight", r(4, 8)}, {"unet.x.lora_B.weight", r(6, 4)},
                                                      {"unet.x.lora_magnitude_vector", r(5, 1)}}, {}); }, &msg),
            gen::ErrorCode::InvalidFormat);
  EXPECT_NE(msg.find("lora_magnitude_vector"), std::string::npos) << msg;
  EXPECT_EQ(code_of([&] { parse_adapter_tensors("f", {{"unet.x.lora_magnitude_vector", r(6, 1)}}, {}); }),
            gen::ErrorCode::InvalidFormat);
}

TEST(Adapters, ScaleIsAlphaOverRankAndOneWithoutAlpha) {
  const auto f = parse_adapter_tensors("f", {{"lora_unet_a.lora_down.weight", at::randn({4, 8})},
                                             {"lora_unet_a.lora_up.weight", at::randn({6, 4})},
                                             {"lora_unet_a.alpha", at::scalar_tensor(2, at::kLong)},  // diffusers' int64
                                             {"lora_unet_b.lora_down.weight", at::randn({3, 8})},
                                             {"lora_unet_b.lora_up.weight", at::randn({6, 3})},
                                             {"lora_unet_b.extra", at::randn({1})}},
                                       {});
  EXPECT_EQ(f.layout, AdapterLayout::Kohya);
  ASSERT_EQ(f.modules.size(), 2u);
  EXPECT_EQ(f.modules[0].rank, 4);
  EXPECT_DOUBLE_EQ(f.modules[0].scale(), 0.5);
  EXPECT_DOUBLE_EQ(f.modules[1].scale(), 1.0);  // A1111: no alpha means alpha = rank
  EXPECT_EQ(f.unknown, std::vector<std::string>{"lora_unet_b.extra"});
  // PEFT: lora_alpha from diffusers' metadata, alpha_pattern per module, rsLoRA.
  const std::string meta = R"({"unet.lora_alpha": 8, "unet.r": 4, "unet.alpha_pattern": {"attn2.to_k": 2},
                               "text_encoder.lora_alpha": 4, "text_encoder.use_rslora": true})";
  const auto p = parse_adapter_tensors("p", {{"unet.m.attn1.to_k.lora_A.weight", at::randn({4, 8})},
                                             {"unet.m.attn1.to_k.lora_B.weight", at::randn({6, 4})},
                                             {"unet.m.attn2.to_k.lora_A.weight", at::randn({4, 8})},
                                             {"unet.m.attn2.to_k.lora_B.weight", at::randn({6, 4})},
                                             {"text_encoder.q.lora_A.weight", at::randn({4, 8})},
                                             {"text_encoder.q.lora_B.weight", at::randn({6, 4})}},
                                       {{"lora_adapter_metadata", meta}});
  EXPECT_EQ(p.layout, AdapterLayout::Peft);
  std::map<std::string, double> scales;
  for (const auto& m : p.modules) scales[m.key] = m.scale();
  EXPECT_DOUBLE_EQ(scales.at("unet.m.attn1.to_k"), 2.0);
  EXPECT_DOUBLE_EQ(scales.at("unet.m.attn2.to_k"), 0.5);
  EXPECT_DOUBLE_EQ(scales.at("text_encoder.q"), 2.0);  // 4 / sqrt(4)
}

TEST(Adapters, EveryModuleOfTheTinyLorasFindsItsLayerInEveryModelLayout) {
  for (const std::string model : {"/diffusers/tiny-sd15-pipeline"}) {
    auto& base = base_model(tiny_models() + model);
    TargetIndex index;
    index.add_unet(*base.unet);
    index.add_text(*base.text);
    for (const std::string lora : {"/tiny-lora-kohya.safetensors", "/tiny-lora-peft.safetensors"}) {
      auto file = std::make_shared<const AdapterFile>(read_adapter_file(tiny_models() + lora));
      const auto plan = plan_loras({LoraUse{file, "tiny"}}, index);
      EXPECT_TRUE(plan.unmatched.empty()) << model << " " << lora << ": " << plan.unmatched.front();
      EXPECT_EQ(plan.items.size(), file->modules.size()) << model << " " << lora;
      if (lora.find("kohya") != std::string::npos) EXPECT_EQ(adapter_family(*file), "sd1");  // its metadata says
    }
  }
}

TEST(Adapters, MergingRestoresBitForBitAndOnTheFlyGivesTheMergedOutputs) {
  auto& base = base_model(tiny_models() + "/diffusers/tiny-sd15-pipeline");
  TargetIndex index;
  index.add_unet(*base.unet);
  index.add_text(*base.text);
  auto file = std::make_shared<const AdapterFile>(read_adapter_file(tiny_models() + "/tiny-lora-kohya.safetensors"));
  const auto plan = plan_loras({LoraUse{file, "tiny", 0.7, 0.4}}, index);
  const auto unet0 = snapshot(*base.unet), text0 = snapshot(*base.text);
  // Outputs of every layer the file touches, merged.
  at::manual_seed(3);
  std::vector<at::Tensor> inputs, merged;
  AppliedAdapters applied;
  applied.apply(plan, LoraStrategy::Merge, at::kFloat);
  EXPECT_EQ(applied.merged_weights(), plan.items.size());
  EXPECT_GT(applied.backup_bytes(), 0u);
  std::string diff;
  EXPECT_FALSE(same(*base.unet, unet0, &diff));
  EXPECT_FALSE(same(*base.text, text0, &diff));
  for (const auto& item : plan.items) {
    const auto& t = *item.target;
    at::Tensor x = t.linear ? at::randn({2, t.shape()[1]}) : at::randn({1, t.shape()[1], 6, 6});
    inputs.push_back(x);
    merged.push_back(t.linear ? (*t.linear)(x) : (*t.conv)(x));
  }
  applied.restore();
  EXPECT_TRUE(same(*base.unet, unet0, &diff)) << diff;
  EXPECT_TRUE(same(*base.text, text0, &diff)) << diff;
  applied.apply(plan, LoraStrategy::OnTheFly, at::kFloat);
  EXPECT_EQ(applied.merged_weights(), 0u);
  EXPECT_TRUE(same(*base.unet, unet0, &diff)) << diff;  // the weights stay as loaded
  for (std::size_t i = 0; i < plan.items.size(); ++i) {
    const auto& t = *plan.items[i].target;
    const auto y = t.linear ? (*t.linear)(inputs[i]) : (*t.conv)(inputs[i]);
    EXPECT_TRUE(at::allclose(y, merged[i], 1e-4, 1e-5)) << t.name << " " << (y - merged[i]).abs().max().item<float>();
  }
  applied.restore();
  for (const auto& item : plan.items) {
    const auto& t = *item.target;
    EXPECT_TRUE(t.linear ? t.linear->bypass.empty() : t.conv->bypass.empty()) << t.name;
  }
}

TEST(Adapters, OpenClipInProjectionTakesTheQkvLorasAsItsSlices) {
  // The same tiny SD 2.x in the LDM layout (fused in_proj) and the diffusers layout (q/k/v).
  gen::models::ModelFilesOptions opt;
  opt.hints.text_heads = 2;  // the head count does not change the weights compared here
  opt.hints.unet_heads = 2;
  const auto ldm_text = gen::models::ModelFiles::open(tiny_models() + "/tiny-sd21.safetensors", opt)
                            .load_text_encoder(at::kFloat, at::kCPU);
  auto& hf = base_model(tiny_models() + "/diffusers/tiny-sd21-pipeline");
  TargetIndex li, hi;
  li.add_text(*ldm_text);
  hi.add_text(*hf.text);
  const std::string layer = "lora_te_text_model_encoder_layers_0_self_attn_";
  const Target* q = hi.find(layer + "q_proj", AdapterLayout::Kohya);
  ASSERT_TRUE(q);
  const auto width = q->shape()[0];
  at::manual_seed(5);
  Tensors t;
  for (const char* p : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
    t[layer + p + ".lora_down.weight"] = at::randn({2, width}) * 0.1;
    t[layer + p + ".lora_up.weight"] = at::randn({width, 2}) * 0.1;
    t[layer + p + ".alpha"] = at::scalar_tensor(1.0);
  }
  auto file = std::make_shared<const AdapterFile>(parse_adapter_tensors("f", t, {}));
  AppliedAdapters a, b;
  const auto lp = plan_loras({LoraUse{file, "f", 1.0, 0.8}}, li);
  ASSERT_TRUE(lp.unmatched.empty()) << lp.unmatched.front();
  a.apply(lp, LoraStrategy::OnTheFly, at::kFloat);  // slices are merged either way
  b.apply(plan_loras({LoraUse{file, "f", 1.0, 0.8}}, hi), LoraStrategy::Merge, at::kFloat);
  // On the fly, the fused in-projection's slices are merged (it is no layer of its own), out_proj
  // runs beside its layer; merged, all four equal the separate q/k/v/out weights merged.
  EXPECT_EQ(a.merged_weights(), 1u);
  EXPECT_EQ(a.bypassed_layers(), 1u);
  for (int pass = 0; pass < 2; ++pass) {
    if (pass == 1) a.apply(lp, LoraStrategy::Merge, at::kFloat);
    for (const char* p : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
      const Target* lt = li.find(layer + p, AdapterLayout::Kohya);
      const Target* ht = hi.find(layer + p, AdapterLayout::Kohya);
      ASSERT_TRUE(lt && ht) << p;
      if (pass == 0 && lt->slice < 0) continue;
      at::Tensor lw = *lt->weight;
      if (lt->slice >= 0) lw = lw.slice(0, lt->slice * width, (lt->slice + 1) * width);
      EXPECT_TRUE(at::allclose(lw, *ht->weight, 1e-6, 1e-7)) << p;
    }
  }
  EXPECT_EQ(a.merged_weights(), 2u);
}

TEST(Adapters, AnInpaintingConvInTakesTheFourChannelDeltaZeroPadded) {
  at::manual_seed(9);
  at::Tensor w = at::randn({6, 9, 3, 3});
  const at::Tensor w0 = w.clone();
  Target t;
  t.name = "input_blocks.0.0.weight";
  t.weight = &w;
  Tensors tensors{{"lora_unet_conv_in.lora_down.weight", at::randn({2, 4, 3, 3})},
                  {"lora_unet_conv_in.lora_up.weight", at::randn({6, 2, 1, 1})},
                  {"lora_unet_conv_in.alpha", at::scalar_tensor(1.0)}};
  const auto file = parse_adapter_tensors("f", tensors, {});
  LoraPlan plan;
  plan.items.push_back({&t, &file.modules[0], 0.5});
  AppliedAdapters a;
  a.apply(plan, LoraStrategy::Merge, at::kFloat);
  const auto delta = at::matmul(tensors.at("lora_unet_conv_in.lora_up.weight").reshape({6, 2}),
                                tensors.at("lora_unet_conv_in.lora_down.weight").reshape({2, 36}))
                         .reshape({6, 4, 3, 3}) * (1.0 / 2) * 0.5;
  EXPECT_TRUE(at::allclose(w.slice(1, 0, 4), w0.slice(1, 0, 4) + delta, 1e-6, 1e-6));
  EXPECT_TRUE(at::equal(w.slice(1, 4, 9), w0.slice(1, 4, 9)));
  a.restore();
  EXPECT_TRUE(at::equal(w, w0));
}

// LoCon / LoHa / LoKr / DoRA weight deltas against lycoris-lora 4.1.3 (tests/data/adapters, made
// by tools/lycoris_reference.py deltas from the package's own modules): ΔW, the weight merged at
// multiplier 1 and 0.5. Tolerance: max |gen − lycoris| ≤ 1e-6 · max |lycoris| (relative).
TEST(Adapters, LycorisDeltasMatchTheReferencePackage) {
  const std::string dir = GEN_TEST_DATA_DIR "/adapters";
  int cases = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string path = entry.path().string();
    if (entry.path().filename().string().rfind("lyco-", 0) != 0) continue;
    ++cases;
    const auto file = read_adapter_file(path);
    ASSERT_EQ(file.modules.size(), 1u) << path;
    const auto& m = file.modules[0];
    EXPECT_EQ(m.key, "lora_unet_m") << path;
    const auto ckpt = gen::SafetensorsCheckpoint::open(path);
    const auto expect = [&](const char* name) { return gen::view_tensor(ckpt, std::string("expected.") + name).to(at::kFloat); };
    const auto close = [&](const at::Tensor& got, const at::Tensor& want, const char* what) {
      ASSERT_EQ(got.sizes(), want.sizes()) << path << " " << what;
      const double err = (got - want).abs().max().item<double>(), ref = want.abs().max().item<double>();
      EXPECT_LE(err, 1e-6 * ref) << path << " " << what << ": max error " << err << " of " << ref;
    };
    const auto w = expect("weight");
    SCOPED_TRACE(path);
    close(delta_weight(m, w.sizes()), expect("delta"), "delta");
    close(merged_weight(m, w, 1.0), expect("merged"), "merged");
    close(merged_weight(m, w, 0.5), expect("merged_half"), "merged at 0.5");
  }
  EXPECT_GE(cases, 16);
}

TEST(Adapters, ControlNetModulesReachTheControlNetByTheirDiffusersNames) {
  auto& base = base_model(tiny_models() + "/diffusers/tiny-sd15-pipeline");
  gen::ControlRequest c;
  c.model = tiny_models() + "/diffusers/tiny-controlnet";
  int loaded = 0;
  auto& net = cache().controlnet(base, c, 4, 0, loaded);
  TargetIndex index;
  index.add_unet(*base.unet);
  index.add_controlnet(net);
  at::manual_seed(4);
  Tensors t;
  for (const std::string name : {"controlnet_cond_embedding_conv_in", "controlnet_down_blocks_0", "controlnet_mid_block",
                                 "down_blocks_0_attentions_0_proj_in", "mid_block_resnets_0_conv1"}) {
    const std::string key = "lora_controlnet_" + name;
    const Target* target = index.find(key, AdapterLayout::Kohya);
    ASSERT_TRUE(target) << key;
    EXPECT_EQ(target->part, Part::ControlNet) << key;
    const auto s = target->shape();
    const auto in = s.size() == 4 ? std::vector<int64_t>{2, s[1], s[2], s[3]} : std::vector<int64_t>{2, s[1]};
    const auto out = s.size() == 4 ? std::vector<int64_t>{s[0], 2, 1, 1} : std::vector<int64_t>{s[0], 2};
    t[key + ".lora_down.weight"] = at::randn(in);
    t[key + ".lora_up.weight"] = at::randn(out);
  }
  // The same UNet module name without the ControlNet prefix stays the UNet's.
  EXPECT_EQ(index.find("lora_unet_down_blocks_0_attentions_0_proj_in", AdapterLayout::Kohya)->part, Part::UNet);
  auto file = std::make_shared<const AdapterFile>(parse_adapter_tensors("cn", t, {}));
  const auto plan = plan_loras({LoraUse{file, "cn", 0.5, 1.0}}, index);
  EXPECT_TRUE(plan.unmatched.empty());
  ASSERT_EQ(plan.items.size(), 5u);
  const auto before = snapshot(net);
  AppliedAdapters a;
  a.apply(plan, LoraStrategy::Merge, at::kFloat);
  std::string diff;
  EXPECT_FALSE(same(net, before, &diff));
  for (const auto& item : plan.items) EXPECT_DOUBLE_EQ(item.multiplier, 0.5);  // the UNet multiplier
  a.restore();
  EXPECT_TRUE(same(net, before, &diff)) << diff;
}

// PEFT's DoRA (lora_magnitude_vector) on the tiny SD 1.5, after a plain LoRA on the same layers:
// merged, the weights change (and differ from the plain LoRA's alone) and come back bit for bit;
// on the fly (each layer's change of both files as one ΔW beside it) the layers give the merged
// outputs. Image parity with PEFT's forward and fuse_lora: tests/cli/test_lora_parity.sh.
TEST(Adapters, PeftDoraMergesRestoresBitForBitAndRunsOnTheFly) {
  auto& base = base_model(tiny_models() + "/diffusers/tiny-sd15-pipeline");
  TargetIndex index;
  index.add_unet(*base.unet);
  index.add_text(*base.text);
  const std::string path = tiny_models() + "/tiny-lora-peft.safetensors";
  auto plain = std::make_shared<const AdapterFile>(read_adapter_file(path));
  Tensors t;
  at::manual_seed(11);
  for (const auto& m : plain->modules) {
    t[m.key + ".lora_A.weight"] = m.tensors.at("lora_down");
    t[m.key + ".lora_B.weight"] = m.tensors.at("lora_up");
    t[m.key + ".lora_magnitude_vector"] = at::rand({m.tensors.at("lora_up").size(0)}) + 0.5;
  }
  auto dora = std::make_shared<const AdapterFile>(parse_adapter_tensors("dora", t, {}));
  ASSERT_EQ(dora->modules.size(), plain->modules.size());
  for (const auto& m : dora->modules) ASSERT_TRUE(m.peft_dora()) << m.key;
  const auto plan = plan_loras({LoraUse{plain, "plain", 0.6, 0.6}, LoraUse{dora, "dora", 0.8, 0.5}}, index);
  ASSERT_TRUE(plan.unmatched.empty()) << plan.unmatched.front();
  const auto plain_plan = plan_loras({LoraUse{plain, "plain", 0.6, 0.6}}, index);
  const auto unet0 = snapshot(*base.unet), text0 = snapshot(*base.text);
  AppliedAdapters applied;
  applied.apply(plain_plan, LoraStrategy::Merge, at::kFloat);
  std::vector<at::Tensor> plain_weights;
  for (const auto& item : plan.items) plain_weights.push_back(item.target->weight->clone());
  applied.apply(plan, LoraStrategy::Merge, at::kFloat);
  at::manual_seed(3);
  std::vector<at::Tensor> inputs, merged;
  std::size_t changed_by_dora = 0;
  for (std::size_t i = 0; i < plan.items.size(); ++i) {
    const auto& tg = *plan.items[i].target;
    if (!at::equal(*tg.weight, plain_weights[i])) ++changed_by_dora;
    if (!tg.linear && !tg.conv) continue;
    at::Tensor x = tg.linear ? at::randn({2, tg.shape()[1]}) : at::randn({1, tg.shape()[1], 6, 6});
    inputs.push_back(x);
    merged.push_back(tg.linear ? (*tg.linear)(x) : (*tg.conv)(x));
  }
  EXPECT_EQ(changed_by_dora, plan.items.size());
  applied.restore();
  std::string diff;
  EXPECT_TRUE(same(*base.unet, unet0, &diff)) << diff;
  EXPECT_TRUE(same(*base.text, text0, &diff)) << diff;
  applied.apply(plan, LoraStrategy::OnTheFly, at::kFloat);
  EXPECT_TRUE(same(*base.unet, unet0, &diff)) << diff;  // the weights stay as loaded
  std::size_t k = 0;
  for (const auto& item : plan.items) {
    const auto& tg = *item.target;
    if (!tg.linear && !tg.conv) continue;
    const auto y = tg.linear ? (*tg.linear)(inputs[k]) : (*tg.conv)(inputs[k]);
    EXPECT_TRUE(at::allclose(y, merged[k], 1e-4, 1e-5)) << tg.name << " " << (y - merged[k]).abs().max().item<float>();
    ++k;
  }
  applied.restore();
  EXPECT_TRUE(same(*base.unet, unet0, &diff)) << diff;
}

// SDXL: kohya's lora_te1_ / lora_te2_ and PEFT's text_encoder_2. reach the first and the second
// text encoder, sgm (LDM) and diffusers UNet names the same layer, on the diffusers folder and
// the single file (OpenCLIP's fused in-projection for the second encoder).
TEST(Adapters, SdxlNamesReachBothTextEncodersAndTheUNet) {
  for (const std::string model : {"/diffusers/tiny-sdxl-pipeline", "/tiny-sdxl.safetensors"}) {
    SCOPED_TRACE(model);
    auto& base = base_model(tiny_models() + model);
    ASSERT_TRUE(base.text && base.text2);
    TargetIndex index;
    index.add_unet(*base.unet);
    index.add_text(*base.text);
    index.add_text(*base.text2, /*second=*/true);
    const Target* one = index.find("lora_te1_text_model_encoder_layers_0_self_attn_q_proj", AdapterLayout::Kohya);
    const Target* two = index.find("lora_te2_text_model_encoder_layers_0_self_attn_q_proj", AdapterLayout::Kohya);
    const Target* two_peft = index.find("text_encoder_2.text_model.encoder.layers.0.self_attn.q_proj", AdapterLayout::Peft);
    const Target* fc = index.find("lora_te2_text_model_encoder_layers_1_mlp_fc2", AdapterLayout::Kohya);
    ASSERT_TRUE(one && two && two_peft && fc);
    EXPECT_EQ(two, two_peft);
    EXPECT_NE(one, two);
    EXPECT_EQ(one->part, Part::TextEncoder);
    EXPECT_EQ(two->part, Part::TextEncoder);
    EXPECT_EQ(one->shape()[1], base.text->config().width);
    EXPECT_EQ(two->shape()[1], base.text2->config().width);
    const Target* sgm = index.find("lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k", AdapterLayout::Kohya);
    const Target* dif = index.find("lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k", AdapterLayout::Kohya);
    ASSERT_TRUE(sgm && dif);
    EXPECT_EQ(sgm, dif);
    EXPECT_EQ(sgm->shape()[1], base.text->config().width + base.text2->config().width);
  }
}
