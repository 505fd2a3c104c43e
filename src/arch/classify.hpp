// What a set of tensors is, from their names and shapes alone: the one classifier of gen.
// `gen inspect` reports it (io/inspect.hpp) and the loaders act on it (io/model_plan.hpp):
// which parts a file holds, under which prefixes, in which layout, of which family.
// Torch-free, no file access.
//
// Parts are found by their name prefixes (LDM single files) or by marker tensors (files
// holding one model). The family: a single file's text encoder decides (CLIP
// `cond_stage_model.transformer.` → SD 1.x, OpenCLIP `cond_stage_model.model.` → SD 2.x,
// `conditioner.embedders.` → XL); without one, the UNet's (or ControlNet's) cross-attention
// context width (768 / 1024 / 2048) when it is one of those, else its structure: XL has an
// additional (label / add) embedding, SD 2.x and XL use linear proj_in / proj_out where
// SD 1.x uses 1×1 convolutions.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace gen {

enum class ModelKind {
  Unknown,         // "unknown": tensors gen does not recognise
  Empty,           // "empty": no tensors at all
  SD1Checkpoint,   // "sd1-checkpoint": single file holding a SD 1.x UNet (+ VAE, text encoder)
  SD2Checkpoint,   // "sd2-checkpoint"
  SDXLCheckpoint,  // "sdxl-checkpoint"
  Checkpoint,      // "checkpoint": a single-file checkpoint of unknown family
  UNet,            // "unet": a denoising UNet alone
  VAE,             // "vae": an autoencoder alone
  TextEncoder,     // "text-encoder": one CLIP / OpenCLIP text encoder alone
  ControlNet,      // "controlnet"
  LoRA,            // "lora"
  Pipeline,        // "pipeline": a diffusers pipeline folder (model_index.json)
  Upscaler,        // "upscaler": an ESRGAN-family RRDBNet (upscalers/esrgan_arch.hpp)
  Annotator,       // "annotator": a preprocessor's network (annotators/annotator_files.hpp)
  T2IAdapter,      // "t2i-adapter": a T2I-Adapter (control/t2i_adapter_arch.hpp)
};

enum class Family { Unknown, SD1, SD2, SDXL };  // "unknown", "sd1", "sd2", "sdxl"

enum class Layout {
  Unknown,               // "unknown"
  LDM,                   // "ldm": original CompVis / Stability names
  Diffusers,             // "diffusers"
  ControlModelPrefixed,  // "control-model-prefixed": ControlNet 1.1 `control_model.*`
  PrefixStripped,        // "prefix-stripped": ControlNet LDM names without `control_model.`
  Difference,            // "difference": ControlNet minus its base UNet, with a `difference` key
  ControlNet10Full,      // "controlnet-1.0-full": a whole ControlLDM (ControlNet + SD)
  LoraKohya,             // "lora-kohya": lora_unet_* / lora_te* with lora_down / lora_up / alpha
  LoraPeft,              // "lora-peft": diffusers / PEFT lora_A / lora_B
  LoraDiffusersLegacy,   // "lora-diffusers-legacy": attention-processor *_lora.down / up
  HFClip,                // "hf-clip": transformers CLIPTextModel names
  OpenClip,              // "open-clip": OpenCLIP names (fused in_proj)
  DiffusersPipeline,     // "diffusers-pipeline"
  EsrganOld,             // "esrgan-old": ESRGAN's model.N / model.1.sub.N.RDBk names
  EsrganBasicSR,         // "basicsr": BasicSR / Real-ESRGAN conv_first / body.N.rdbk names
  EsrganBsrgan,          // "bsrgan": BSRGAN / RealSR conv_first / RRDB_trunk.N.RDBk names
  Original,              // "original": an annotator's names as its original release saves them
  Transformers,          // "transformers": an annotator saved by transformers (Depth Anything's -hf repositories)
};

const char* kind_id(ModelKind kind) noexcept;
const char* family_id(Family family) noexcept;
const char* layout_id(Layout layout) noexcept;

// The input of `classify`: one tensor's name and shape.
struct NamedShape {
  std::string name;
  std::vector<std::int64_t> shape;
};

struct PartLocation {
  std::string prefix;
  Layout layout = Layout::Unknown;
};

struct ModelReport {
  ModelKind kind = ModelKind::Unknown;
  Family family = Family::Unknown;
  Layout layout = Layout::Unknown;
  // What a single file holds, in this order: "unet", "vae", "text_encoder",
  // "text_encoder_2", "controlnet" (LoRA: the models it patches).
  std::vector<std::string> parts;
  std::string prefix;         // the stripped prefix of the main model, e.g. "control_model."
  std::size_t ema_tensors = 0;  // `model_ema.*` tensors (LDM EMA copy)
  // Numbers read from shapes: context_dim, in_channels, model_channels, hint_channels,
  // latent_channels, text_width, text_layers, text2_width, lora_rank, lora_modules; upscalers:
  // scale, features, blocks, growth_channels, in_channels, out_channels, pixel_unshuffle;
  // annotators: width (Depth Anything's ViT width). An annotator's `parts` is its file kind
  // ("hed", "depth_anything", "openpose_body", ...: annotators/annotator_files.hpp).
  std::map<std::string, std::int64_t> facts;
  std::vector<std::string> notes;  // caveats, e.g. how to use a difference ControlNet
  std::string summary;             // one human sentence
  // Where each of `parts` is: the prefix of its tensors and their layout (a text encoder's
  // prefix includes transformers' `text_model.` when the file has it). gen's loaders read
  // the parts from here (io/model_plan.hpp).
  std::map<std::string, PartLocation> locations;
};

// Classifies a set of tensors from names and shapes alone. Never throws on odd input.
ModelReport classify(const std::vector<NamedShape>& tensors);

namespace arch {

// Prefixes of the parts of an LDM single-file checkpoint.
inline constexpr const char* kLdmUNetPrefix = "model.diffusion_model.";
inline constexpr const char* kLdmEmaPrefix = "model_ema.";
inline constexpr const char* kLdmVaePrefix = "first_stage_model.";
inline constexpr const char* kLdmClipPrefix = "cond_stage_model.transformer.text_model.";  // SD 1.x
inline constexpr const char* kLdmClipOldPrefix = "cond_stage_model.transformer.";          // older SD 1.x files
inline constexpr const char* kLdmOpenClipPrefix = "cond_stage_model.model.";              // SD 2.x
inline constexpr const char* kLdmControlPrefix = "control_model.";
// A UniControl's control model (control/unicontrol.hpp) has this tensor (under
// kLdmControlPrefix or bare) and per-task hint blocks in place of `input_hint_block`.
inline constexpr const char* kUniControlMarker = "task_id_hypernet.0.weight";
// A ControlNet Union / ProMax (control/controlnet_union.hpp) has this tensor, [types, width].
inline constexpr const char* kUnionMarker = "task_embedding";
// transformers 4's CLIPTextModel wraps the HF names in `text_model.` (5 does not).
inline constexpr const char* kTransformersTextPrefix = "text_model.";

// The name of an LDM UNet parameter (without kLdmUNetPrefix) in the EMA copy,
// without kLdmEmaPrefix: "diffusion_model" + the name with its dots removed.
std::string ldm_ema_name(const std::string& ldm_name);

}  // namespace arch
}  // namespace gen
