// gen inspect: what a weight file or folder is, from its tensor names and shapes.
// Torch-free. `classify` looks at names + shapes only; `inspect_path` opens a
// .safetensors file, a sharded index, a diffusers model or pipeline folder, and
// classifies each set of weights it finds. See docs/inspect.md for the JSON schema.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "gen/safetensors.hpp"

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
};

const char* kind_id(ModelKind kind) noexcept;
const char* family_id(Family family) noexcept;
const char* layout_id(Layout layout) noexcept;

// The input of `classify`: one tensor's name and shape.
struct NamedShape {
  std::string name;
  std::vector<std::int64_t> shape;
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
  // latent_channels, text_width, text_layers, text2_width, lora_rank, lora_modules.
  std::map<std::string, std::int64_t> facts;
  std::vector<std::string> notes;  // caveats, e.g. how to use a difference ControlNet
  std::string summary;             // one human sentence
};

// Classifies a set of tensors from names and shapes alone. Never throws on odd input.
ModelReport classify(const std::vector<NamedShape>& tensors);

struct TensorEntry {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  std::uint64_t numel = 0;
  std::uint64_t nbytes = 0;
};

// Tensors summed per top-level prefix ("model.diffusion_model", "lora_unet", ...).
struct TensorGroup {
  std::string prefix;
  std::uint64_t tensors = 0, parameters = 0, bytes = 0;
};

struct InspectReport {
  std::string path;
  // "safetensors", "safetensors-sharded", "torch-pickle", "diffusers-model",
  // "diffusers-pipeline", "config-only" (a pipeline component without weights, e.g.
  // the scheduler) or "none" (a component without a folder).
  std::string format;
  std::string name;        // component name inside a pipeline ("unet"), else empty
  std::string library;     // from model_index.json: "diffusers", "transformers"
  std::string class_name;  // from model_index.json / config.json: "UNet2DConditionModel"
  std::string status = "ok";  // pipeline components: "ok", "missing", "not-included"
  ModelReport model;
  std::vector<std::string> files;         // weight files read
  std::vector<TensorEntry> tensors;       // sorted by name
  std::vector<TensorGroup> groups;        // sorted by prefix
  std::map<std::string, std::string> metadata;
  std::map<std::string, std::uint64_t> dtypes;  // dtype name → tensor count
  std::uint64_t tensor_count = 0;  // tensors (components included)
  std::uint64_t parameters = 0;  // elements of all tensors (components included)
  std::uint64_t bytes = 0;       // bytes of tensor data (components included)
  std::vector<InspectReport> components;  // pipeline folders
};

// Inspects a file or folder (torch.save files through the non-executing reader).
// Throws gen::Error: NotFound (missing path, folder without weights), InvalidFormat
// (corrupt file or JSON), Unsupported (bare / legacy pickle, GGUF), UnsafeContent.
InspectReport inspect_path(const std::string& path);

// Builds a report from tensor entries (exposed for tests): sorts, sums, groups, classifies.
InspectReport make_report(const std::string& path, std::vector<TensorEntry> tensors,
                          std::map<std::string, std::string> metadata = {});

// The JSON document of docs/inspect.md ("schema": "gen.inspect/1"); with_tensors adds
// the per-tensor list. `indent` < 0 writes one line.
std::string inspect_json(const InspectReport& report, bool with_tensors, int indent = 2);

}  // namespace gen
