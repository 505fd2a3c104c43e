// gen inspect: classification of every layout from the committed tiny fixtures
// (tests/data/layouts, written by tools/make_tiny_models.py --fixtures) and of
// synthetic key lists for the edge cases.
#include <ftw.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gen/error.hpp"
#include "io/inspect.hpp"

namespace fs = std::filesystem;
using gen::Family;
using gen::Layout;
using gen::ModelKind;

namespace {

const std::string kLayouts = std::string(GEN_TEST_DATA_DIR) + "/layouts/";

// A fresh folder for the current test. (No std::filesystem::remove_all: the copy
// exported by libtorch.so, which the test binary links, crashes.)
std::string scratch_dir() {
  const char* env = std::getenv("GEN_TMP");
  const std::string base = env && *env ? env : GEN_BINARY_DIR "/tests/tmp";
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string dir = base + "/inspect." + info->name();
  ::nftw(dir.c_str(), [](const char* p, const struct stat*, int, struct FTW*) { return ::remove(p); }, 16,
         FTW_DEPTH | FTW_PHYS);
  fs::create_directories(dir);
  return dir;
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

gen::ErrorCode code_of(const std::string& path) {
  try {
    gen::io::inspect_path(path);
  } catch (const gen::Error& e) {
    return e.code();
  }
  return gen::ErrorCode::Ok;
}

using Shapes = std::vector<gen::NamedShape>;

// SD-sized synthetic UNet keys under `p` (LDM names): context width, proj_in rank, XL embedding.
Shapes ldm_unet(const std::string& p, std::int64_t ctx, bool linear, bool xl, std::int64_t in_ch = 4) {
  Shapes s = {{p + "input_blocks.0.0.weight", {320, in_ch, 3, 3}},
              {p + "time_embed.0.weight", {1280, 320}},
              {p + "out.2.weight", {4, 320, 3, 3}},
              {p + "input_blocks.1.1.proj_in.weight", linear ? std::vector<std::int64_t>{320, 320}
                                                             : std::vector<std::int64_t>{320, 320, 1, 1}},
              {p + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight", {320, ctx}}};
  if (xl) s.push_back({p + "label_emb.0.0.weight", {1280, 2816}});
  return s;
}

Shapes ldm_vae(const std::string& p) {
  return {{p + "encoder.conv_in.weight", {128, 3, 3, 3}},
          {p + "encoder.down.0.block.0.conv1.weight", {128, 128, 3, 3}},
          {p + "encoder.conv_out.weight", {8, 512, 3, 3}},
          {p + "decoder.conv_in.weight", {512, 4, 3, 3}},
          {p + "decoder.up.0.block.0.conv1.weight", {128, 256, 3, 3}}};
}

Shapes operator+(Shapes a, const Shapes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

// ---- the committed fixtures ------------------------------------------------------

struct FixtureCase {
  const char* path;
  ModelKind kind;
  Family family;
  Layout layout;
  std::vector<std::string> parts;
};

TEST(Inspect, ClassifiesEveryFixtureLayout) {
  const std::vector<FixtureCase> cases = {
      {"tiny-sd15.safetensors", ModelKind::SD1Checkpoint, Family::SD1, Layout::LDM, {"unet", "vae", "text_encoder"}},
      {"tiny-sd21.safetensors", ModelKind::SD2Checkpoint, Family::SD2, Layout::LDM, {"unet", "vae", "text_encoder"}},
      {"tiny-sdxl.safetensors", ModelKind::SDXLCheckpoint, Family::SDXL, Layout::LDM,
       {"unet", "vae", "text_encoder", "text_encoder_2"}},
      {"tiny-unet.safetensors", ModelKind::UNet, Family::SD1, Layout::LDM, {"unet"}},
      {"tiny-vae.safetensors", ModelKind::VAE, Family::Unknown, Layout::LDM, {"vae"}},
      {"tiny-text-encoder.safetensors", ModelKind::TextEncoder, Family::SD1, Layout::HFClip, {"text_encoder"}},
      {"tiny-control-sd15-full.safetensors", ModelKind::ControlNet, Family::SD1, Layout::ControlNet10Full,
       {"controlnet", "unet", "vae", "text_encoder"}},
      {"tiny-control-v11.safetensors", ModelKind::ControlNet, Family::SD1, Layout::ControlModelPrefixed, {"controlnet"}},
      {"tiny-control-v11-stripped-fp16.safetensors", ModelKind::ControlNet, Family::SD1, Layout::PrefixStripped,
       {"controlnet"}},
      {"tiny-control-difference.safetensors", ModelKind::ControlNet, Family::SD1, Layout::Difference, {"controlnet"}},
      {"tiny-lora-kohya.safetensors", ModelKind::LoRA, Family::SD1, Layout::LoraKohya, {"unet", "text_encoder"}},
      {"tiny-lora-peft.safetensors", ModelKind::LoRA, Family::SD1, Layout::LoraPeft, {"unet", "text_encoder"}},
      {"tiny-vae.ckpt", ModelKind::VAE, Family::Unknown, Layout::LDM, {"vae"}},
      {"diffusers/tiny-controlnet", ModelKind::ControlNet, Family::SD1, Layout::Diffusers, {"controlnet"}},
      {"diffusers/tiny-sharded", ModelKind::VAE, Family::Unknown, Layout::Diffusers, {"vae"}},
      {"diffusers/tiny-sd15-pipeline/unet", ModelKind::UNet, Family::SD1, Layout::Diffusers, {"unet"}},
      {"diffusers/tiny-sd15-pipeline/text_encoder", ModelKind::TextEncoder, Family::Unknown, Layout::HFClip,
       {"text_encoder"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.path);
    const gen::io::InspectReport r = gen::io::inspect_path(kLayouts + c.path);
    EXPECT_EQ(gen::kind_id(r.model.kind), std::string(gen::kind_id(c.kind)));
    EXPECT_EQ(gen::family_id(r.model.family), std::string(gen::family_id(c.family)));
    EXPECT_EQ(gen::layout_id(r.model.layout), std::string(gen::layout_id(c.layout)));
    EXPECT_EQ(r.model.parts, c.parts);
    EXPECT_FALSE(r.model.summary.empty());
    EXPECT_GT(r.parameters, 0u);
    EXPECT_GT(r.bytes, r.parameters);  // fp16 at least 2 bytes per element
    EXPECT_EQ(r.tensor_count, r.tensors.size());
    EXPECT_TRUE(std::is_sorted(r.tensors.begin(), r.tensors.end(),
                               [](const auto& a, const auto& b) { return a.name < b.name; }));
  }
}

TEST(Inspect, ReportsPrefixesFactsAndNotes) {
  auto v11 = gen::io::inspect_path(kLayouts + "tiny-control-v11.safetensors");
  EXPECT_EQ(v11.model.prefix, "control_model.");
  EXPECT_EQ(v11.model.facts.at("hint_channels"), 3);
  EXPECT_EQ(v11.model.facts.at("in_channels"), 4);
  auto diff = gen::io::inspect_path(kLayouts + "tiny-control-difference.safetensors");
  ASSERT_FALSE(diff.model.notes.empty());
  EXPECT_NE(diff.model.notes[0].find("add the base"), std::string::npos);
  auto fp16 = gen::io::inspect_path(kLayouts + "tiny-control-v11-stripped-fp16.safetensors");
  EXPECT_EQ(fp16.dtypes.size(), 1u);
  EXPECT_EQ(fp16.dtypes.count("F16"), 1u);
  EXPECT_EQ(fp16.bytes, 2 * fp16.parameters);
  auto sd15 = gen::io::inspect_path(kLayouts + "tiny-sd15.safetensors");
  EXPECT_EQ(sd15.dtypes.at("I64"), 1u);  // position_ids, as in the real SD 1.x files
  ASSERT_EQ(sd15.groups.size(), 3u);
  EXPECT_EQ(sd15.groups[0].prefix, "cond_stage_model.transformer");
  EXPECT_EQ(sd15.groups[1].prefix, "first_stage_model");
  EXPECT_EQ(sd15.groups[2].prefix, "model.diffusion_model");
  std::uint64_t sum = 0;
  for (const auto& g : sd15.groups) sum += g.tensors;
  EXPECT_EQ(sum, sd15.tensor_count);
  auto kohya = gen::io::inspect_path(kLayouts + "tiny-lora-kohya.safetensors");
  EXPECT_EQ(kohya.model.facts.at("lora_rank"), 2);
  EXPECT_EQ(kohya.metadata.at("ss_network_module"), "networks.lora");
}

TEST(Inspect, PickledCheckpointReadWithoutExecuting) {
  const auto r = gen::io::inspect_path(kLayouts + "tiny-vae.ckpt");
  EXPECT_EQ(r.format, "torch-pickle");
  const auto st = gen::io::inspect_path(kLayouts + "tiny-vae.safetensors");
  EXPECT_EQ(r.tensor_count, st.tensor_count);
  EXPECT_EQ(r.parameters, st.parameters);
  ASSERT_EQ(r.tensors.size(), st.tensors.size());
  for (std::size_t i = 0; i < r.tensors.size(); ++i) {
    EXPECT_EQ(r.tensors[i].name, st.tensors[i].name);
    EXPECT_EQ(r.tensors[i].shape, st.tensors[i].shape);
  }
  bool wrapper = false;
  for (const auto& n : r.model.notes) wrapper |= n.find("state_dict") != std::string::npos;
  EXPECT_TRUE(wrapper);
}

TEST(Inspect, DiffusersPipelineFolder) {
  const auto r = gen::io::inspect_path(kLayouts + "diffusers/tiny-sd15-pipeline");
  EXPECT_EQ(r.format, "diffusers-pipeline");
  EXPECT_EQ(r.model.kind, ModelKind::Pipeline);
  EXPECT_EQ(r.model.family, Family::SD1);
  EXPECT_EQ(r.class_name, "StableDiffusionPipeline");
  EXPECT_EQ(r.model.parts, (std::vector<std::string>{"text_encoder", "unet", "vae"}));
  std::uint64_t tensors = 0, params = 0;
  bool saw_scheduler = false, saw_tokenizer = false;
  for (const auto& c : r.components) {
    tensors += c.tensor_count;
    params += c.parameters;
    if (c.name == "scheduler") {
      saw_scheduler = true;
      EXPECT_EQ(c.format, "config-only");
      EXPECT_EQ(c.class_name, "DDIMScheduler");
    }
    if (c.name == "tokenizer") {
      saw_tokenizer = true;
      EXPECT_EQ(c.status, "not-included");
    }
    if (c.name == "unet") {
      EXPECT_EQ(c.model.kind, ModelKind::UNet);
      EXPECT_EQ(c.class_name, "UNet2DConditionModel");
    }
    if (c.name == "vae") EXPECT_EQ(c.model.kind, ModelKind::VAE);
    if (c.name == "text_encoder") EXPECT_EQ(c.model.kind, ModelKind::TextEncoder);
  }
  EXPECT_TRUE(saw_scheduler);
  EXPECT_TRUE(saw_tokenizer);
  EXPECT_EQ(tensors, r.tensor_count);
  EXPECT_EQ(params, r.parameters);
  // The model_index.json path itself names the same folder.
  EXPECT_EQ(gen::io::inspect_path(kLayouts + "diffusers/tiny-sd15-pipeline/model_index.json").model.kind,
            ModelKind::Pipeline);
}

TEST(Inspect, ShardedFolderAndIndex) {
  const auto dir = gen::io::inspect_path(kLayouts + "diffusers/tiny-sharded");
  EXPECT_EQ(dir.format, "diffusers-model");
  EXPECT_EQ(dir.class_name, "AutoencoderKL");
  EXPECT_GT(dir.files.size(), 1u);
  const auto idx =
      gen::io::inspect_path(kLayouts + "diffusers/tiny-sharded/diffusion_pytorch_model.safetensors.index.json");
  EXPECT_EQ(idx.format, "safetensors-sharded");
  EXPECT_EQ(idx.model.kind, ModelKind::VAE);
  EXPECT_EQ(idx.tensor_count, dir.tensor_count);
  EXPECT_EQ(idx.bytes, dir.bytes);
}

TEST(Inspect, JsonDocument) {
  const auto r = gen::io::inspect_path(kLayouts + "tiny-control-v11.safetensors");
  const auto j = nlohmann::json::parse(gen::io::inspect_json(r, true));
  EXPECT_EQ(j.at("schema"), "gen.inspect/1");
  EXPECT_EQ(j.at("kind"), "controlnet");
  EXPECT_EQ(j.at("layout"), "control-model-prefixed");
  EXPECT_EQ(j.at("tensors").size(), r.tensors.size());
  EXPECT_EQ(j.at("tensors")[0].at("name"), r.tensors[0].name);
  EXPECT_TRUE(j.at("tensors")[0].at("shape").is_array());
  const auto short_doc = nlohmann::json::parse(gen::io::inspect_json(r, false, -1));
  EXPECT_FALSE(short_doc.contains("tensors"));
  EXPECT_EQ(short_doc.at("tensor_count"), r.tensors.size());
  const auto pipe = nlohmann::json::parse(gen::io::inspect_json(gen::io::inspect_path(kLayouts + "diffusers/tiny-sd15-pipeline"), false));
  EXPECT_EQ(pipe.at("kind"), "pipeline");
  EXPECT_GE(pipe.at("components").size(), 4u);
}

// ---- errors -------------------------------------------------------------------

TEST(Inspect, ErrorsNameTheProblem) {
  const std::string dir = scratch_dir();
  EXPECT_EQ(code_of(dir + "/missing.safetensors"), gen::ErrorCode::NotFound);
  write_file(dir + "/corrupt.safetensors", "this is not a safetensors file at all");
  EXPECT_EQ(code_of(dir + "/corrupt.safetensors"), gen::ErrorCode::InvalidFormat);
  write_file(dir + "/zero.safetensors", "");
  EXPECT_EQ(code_of(dir + "/zero.safetensors"), gen::ErrorCode::InvalidFormat);
  write_file(dir + "/model.ckpt", std::string("\x80\x02}q\x00.", 6));  // a bare pickle, not torch.save
  EXPECT_EQ(code_of(dir + "/model.ckpt"), gen::ErrorCode::Unsupported);
  write_file(dir + "/zipped.pth", std::string("PK\x03\x04rest", 8));  // a broken ZIP
  EXPECT_EQ(code_of(dir + "/zipped.pth"), gen::ErrorCode::InvalidFormat);
  write_file(dir + "/model.gguf", "GGUF\x03\x00\x00\x00");
  EXPECT_EQ(code_of(dir + "/model.gguf"), gen::ErrorCode::Unsupported);
  fs::create_directories(dir + "/notes");
  write_file(dir + "/notes/readme.txt", "hello");
  try {
    gen::io::inspect_path(dir + "/notes");
    FAIL() << "a folder without weights was accepted";
  } catch (const gen::Error& e) {
    EXPECT_EQ(e.code(), gen::ErrorCode::NotFound);
    EXPECT_NE(std::string(e.what()).find("not a model folder"), std::string::npos) << e.what();
  }
  fs::create_directories(dir + "/badpipe");
  write_file(dir + "/badpipe/model_index.json", "{not json");
  EXPECT_EQ(code_of(dir + "/badpipe"), gen::ErrorCode::InvalidFormat);
}

TEST(Inspect, EmptyFileHasNoTensors) {
  const std::string dir = scratch_dir();
  // The smallest valid safetensors file: header "{}" padded to 8 bytes.
  std::string bytes(8, '\0');
  bytes[0] = 8;
  write_file(dir + "/empty.safetensors", bytes + "{}      ");
  const auto r = gen::io::inspect_path(dir + "/empty.safetensors");
  EXPECT_EQ(r.model.kind, ModelKind::Empty);
  EXPECT_EQ(r.tensor_count, 0u);
  EXPECT_EQ(r.parameters, 0u);
}

// ---- synthetic key lists ------------------------------------------------------

TEST(InspectClassify, EmptyAndUnknown) {
  EXPECT_EQ(gen::classify({}).kind, ModelKind::Empty);
  const auto r = gen::classify({{"weight", {3, 3}}, {"bias", {3}}, {"encoder.fc.weight", {2, 2}}});
  EXPECT_EQ(r.kind, ModelKind::Unknown);
  EXPECT_EQ(r.family, Family::Unknown);
  EXPECT_FALSE(r.summary.empty());
}

TEST(InspectClassify, FamilyFromContextWidth) {
  EXPECT_EQ(gen::classify(ldm_unet("model.diffusion_model.", 768, false, false)).family, Family::SD1);
  EXPECT_EQ(gen::classify(ldm_unet("model.diffusion_model.", 1024, true, false)).family, Family::SD2);
  EXPECT_EQ(gen::classify(ldm_unet("model.diffusion_model.", 2048, true, true)).family, Family::SDXL);
  // The width wins over structure; unknown widths fall back to it.
  EXPECT_EQ(gen::classify(ldm_unet("model.diffusion_model.", 768, true, false)).family, Family::SD1);
  EXPECT_EQ(gen::classify(ldm_unet("model.diffusion_model.", 1280, true, true)).family, Family::SDXL);
  EXPECT_EQ(gen::classify(ldm_unet("model.diffusion_model.", 64, true, false)).family, Family::SD2);
  EXPECT_EQ(gen::classify(ldm_unet("model.diffusion_model.", 64, false, false)).family, Family::SD1);
  const auto r = gen::classify(ldm_unet("model.diffusion_model.", 768, false, false));
  EXPECT_EQ(r.kind, ModelKind::UNet);
  EXPECT_EQ(r.facts.at("context_dim"), 768);
}

TEST(InspectClassify, CheckpointWithoutVae) {
  const auto r = gen::classify(ldm_unet("model.diffusion_model.", 768, false, false) +
                               Shapes{{"cond_stage_model.transformer.text_model.embeddings.token_embedding.weight",
                                       {49408, 768}}});
  EXPECT_EQ(r.kind, ModelKind::SD1Checkpoint);
  EXPECT_EQ(r.parts, (std::vector<std::string>{"unet", "text_encoder"}));
  bool noted = false;
  for (const auto& n : r.notes) noted |= n.find("no VAE") != std::string::npos;
  EXPECT_TRUE(noted);
}

TEST(InspectClassify, InpaintingNote) {
  const auto r = gen::classify(ldm_unet("model.diffusion_model.", 768, false, false, 9) + ldm_vae("first_stage_model."));
  EXPECT_EQ(r.kind, ModelKind::SD1Checkpoint);
  EXPECT_EQ(r.facts.at("in_channels"), 9);
  ASSERT_FALSE(r.notes.empty());
  EXPECT_NE(r.notes[0].find("inpainting"), std::string::npos);
}

TEST(InspectClassify, LoneVae) {
  const auto ldm = gen::classify(ldm_vae(""));
  EXPECT_EQ(ldm.kind, ModelKind::VAE);
  EXPECT_EQ(ldm.layout, Layout::LDM);
  EXPECT_EQ(ldm.facts.at("latent_channels"), 4);
  const auto prefixed = gen::classify(ldm_vae("first_stage_model."));
  EXPECT_EQ(prefixed.kind, ModelKind::VAE);
  EXPECT_EQ(prefixed.prefix, "first_stage_model.");
  const auto diffusers = gen::classify({{"encoder.conv_in.weight", {128, 3, 3, 3}},
                                        {"encoder.down_blocks.0.resnets.0.conv1.weight", {128, 128, 3, 3}},
                                        {"decoder.conv_in.weight", {512, 16, 3, 3}},
                                        {"decoder.up_blocks.0.resnets.0.conv1.weight", {512, 512, 3, 3}}});
  EXPECT_EQ(diffusers.kind, ModelKind::VAE);
  EXPECT_EQ(diffusers.layout, Layout::Diffusers);
  EXPECT_EQ(diffusers.facts.at("latent_channels"), 16);
}

TEST(InspectClassify, EmaKeys) {
  Shapes s = ldm_unet("model.diffusion_model.", 768, false, false) + ldm_vae("first_stage_model.");
  s.push_back({"model_ema.decay", {}});
  s.push_back({"model_ema.num_updates", {}});
  s.push_back({"model_ema.diffusion_modelinput_blocks00weight", {320, 4, 3, 3}});
  const auto r = gen::classify(s);
  EXPECT_EQ(r.kind, ModelKind::SD1Checkpoint);
  EXPECT_EQ(r.ema_tensors, 3u);
  bool noted = false;
  for (const auto& n : r.notes) noted |= n.find("EMA") != std::string::npos;
  EXPECT_TRUE(noted);
  EXPECT_EQ(gen::classify(ldm_unet("model.diffusion_model.", 768, false, false)).ema_tensors, 0u);
}

TEST(InspectClassify, TextEncoders) {
  const auto open = gen::classify({{"cond_stage_model.model.token_embedding.weight", {49408, 1024}},
                                   {"cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight", {3072, 1024}},
                                   {"cond_stage_model.model.transformer.resblocks.1.attn.in_proj_weight", {3072, 1024}}});
  EXPECT_EQ(open.kind, ModelKind::TextEncoder);
  EXPECT_EQ(open.layout, Layout::OpenClip);
  EXPECT_EQ(open.family, Family::SD2);
  EXPECT_EQ(open.facts.at("text_layers"), 2);
  const auto hf = gen::classify({{"text_model.embeddings.token_embedding.weight", {49408, 1024}},
                                 {"text_model.encoder.layers.0.self_attn.q_proj.weight", {1024, 1024}}});
  EXPECT_EQ(hf.kind, ModelKind::TextEncoder);
  EXPECT_EQ(hf.layout, Layout::HFClip);
  EXPECT_EQ(hf.family, Family::SD2);  // 1024 wide: OpenCLIP ViT-H in transformers names
  // XL refiner: only the OpenCLIP encoder, as embedders.0.
  const auto refiner = gen::classify(ldm_unet("model.diffusion_model.", 1280, true, true) +
                                     Shapes{{"conditioner.embedders.0.model.token_embedding.weight", {49408, 1280}}});
  EXPECT_EQ(refiner.kind, ModelKind::SDXLCheckpoint);
  EXPECT_EQ(refiner.parts, (std::vector<std::string>{"unet", "text_encoder_2"}));
}

TEST(InspectClassify, LoraStyles) {
  const auto xl = gen::classify(
      {{"lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k.lora_down.weight", {8, 2048}},
       {"lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k.lora_up.weight", {640, 8}},
       {"lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k.alpha", {}},
       {"lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight", {8, 768}},
       {"lora_te2_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight", {8, 1280}}});
  EXPECT_EQ(xl.kind, ModelKind::LoRA);
  EXPECT_EQ(xl.layout, Layout::LoraKohya);
  EXPECT_EQ(xl.family, Family::SDXL);
  EXPECT_EQ(xl.parts, (std::vector<std::string>{"unet", "text_encoder", "text_encoder_2"}));
  EXPECT_EQ(xl.facts.at("lora_rank"), 8);
  EXPECT_EQ(xl.facts.at("lora_modules"), 3);
  const auto peft = gen::classify(
      {{"unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.lora_A.weight", {4, 1024}},
       {"unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.lora_B.weight", {320, 4}}});
  EXPECT_EQ(peft.layout, Layout::LoraPeft);
  EXPECT_EQ(peft.family, Family::SD2);
  const auto legacy = gen::classify(
      {{"unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.processor.to_k_lora.down.weight", {4, 768}},
       {"unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.processor.to_k_lora.up.weight", {320, 4}}});
  EXPECT_EQ(legacy.layout, Layout::LoraDiffusersLegacy);
  EXPECT_EQ(legacy.family, Family::SD1);
}

TEST(InspectClassify, LoraFamilyFromKohyaMetadata) {
  std::vector<gen::io::TensorEntry> t = {{"lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight",
                                      gen::DType::F16, {4, 32}, 128, 256}};
  const auto r = gen::io::make_report("x.safetensors", t, {{"ss_base_model_version", "sd_v2"}});
  EXPECT_EQ(r.model.kind, ModelKind::LoRA);
  EXPECT_EQ(r.model.family, Family::SD2);
  EXPECT_EQ(r.parameters, 128u);
  EXPECT_EQ(r.bytes, 256u);
  EXPECT_EQ(r.groups.at(0).prefix, "lora_te");
}

TEST(InspectClassify, StableIds) {
  EXPECT_STREQ(gen::kind_id(ModelKind::SDXLCheckpoint), "sdxl-checkpoint");
  EXPECT_STREQ(gen::kind_id(ModelKind::TextEncoder), "text-encoder");
  EXPECT_STREQ(gen::layout_id(Layout::ControlNet10Full), "controlnet-1.0-full");
  EXPECT_STREQ(gen::layout_id(Layout::ControlModelPrefixed), "control-model-prefixed");
  EXPECT_STREQ(gen::family_id(Family::SD2), "sd2");
}
