// gen — what gen's loaders make of a weight file or folder, torch-free: where each part's
// tensors are and the configs to build it (arch/infer.hpp), or the error the loader gives.
// A single file is read through classify() (arch/classify.hpp): the loaders take its parts,
// prefixes and family from there. models::ModelFiles, control::load_controlnet and
// `gen inspect` (its "load" verdict) all go through these functions, so that inspect says
// exactly what the loaders do.
//
// Loaders and what they read:
//   plan_model       `gen -m`: an LDM single file (parts at the LDM prefixes, key_map.hpp)
//                    or a diffusers pipeline folder (model_index.json)
//   plan_vae         `--vae`: an LDM file (first_stage_model. or bare names), a
//                    diffusers-named file, a diffusers vae folder or pipeline folder
//   plan_controlnet  `--control`: the ControlNet layouts of control/controlnet_files.hpp
// Only names, shapes and config files are read here; the tensors themselves are matched
// against the built model when it is loaded (models/loader.hpp).
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "arch/classify.hpp"
#include "arch/configs.hpp"
#include "arch/infer.hpp"
#include "gen/error.hpp"
#include "gen/safetensors.hpp"

namespace gen::io {

// Looks at a weight file's first bytes before it is read as safetensors: a
// torch.save ZIP archive, a bare pickle or a GGUF file is refused (Unsupported,
// saying how to convert it), and a file named .ckpt/.pt/.pth/.bin that is none of
// these nor safetensors is InvalidFormat. Anything else, and a file that cannot be
// read, is left to the safetensors reader, which reports it.
void check_weight_file(const std::string& path);

// check_weight_file, then the safetensors reader.
std::shared_ptr<SafetensorsCheckpoint> open_weights_file(const std::string& path);

// Where one part's tensors are.
struct PartSource {
  std::shared_ptr<SafetensorsCheckpoint> checkpoint;  // null: the model has no such part
  std::string prefix;   // checkpoint name = prefix + (the part's rename of) its LDM name
  std::string subject;  // for errors: the file
  std::string file;     // diffusers folders: the weights file, relative to the folder
};

// NotFound "PATH: no UNet in this model" when `source` has no checkpoint.
void require_part(const PartSource& source, const char* part, const std::string& path);

struct ModelPlanOptions {
  std::optional<bool> use_ema;  // see models::ModelFilesOptions
  std::string variant;          // "" or "fp16"
  models::InferenceHints hints;
  // LDM single files: the model config (.yaml, ldm_config.hpp); "" = the one beside the file.
  // A diffusers folder given a config is refused.
  std::string config;
};

// SDXL (family SDXL): `text` is CLIP ViT-L (HF names), `text2` OpenCLIP bigG (OpenCLIP names
// in LDM files, transformers CLIPTextModelWithProjection in folders) with its projection; the
// refiner has `text2` only. The UNet's addition_time_embed_dim, which LDM files do not store,
// is what label_emb's input leaves after the pooled text (text2's projection), over the
// number of time ids (6 for a base: size, crop, target; 5 for a refiner: size, crop,
// aesthetic score), unless hinted.
struct ModelPlan {
  bool diffusers = false;        // a diffusers pipeline folder, else an LDM single file
  Family family = Family::SD1;   // SD1, SD2 or SDXL
  bool refiner = false;          // SDXL with only the second text encoder
  ModelReport report;            // LDM files: what classify() found
  PartSource unet, vae, text, text2;
  bool uses_ema = false;         // LDM: the UNet from model_ema.* (names: arch::ldm_ema_name)
  bool ema_available = false;
  models::UNetConfig unet_config;
  models::VaeConfig vae_config;
  models::ClipTextConfig text_config;
  models::ClipTextConfig text2_config;
  std::int64_t clip_skip = 0;
  std::string prediction_type;   // from the scheduler or LDM config ("" when not given)
  std::string config_file;       // LDM: the .yaml read ("" when none)
  nlohmann::json scheduler_config;
  std::string tokenizer_dir;
  std::string tokenizer2_dir;    // SDXL folders: tokenizer_2/
  // SDXL: diffusers' force_zeros_for_empty_prompt (model_index.json; absent: true, but false
  // for StableDiffusionXLImg2ImgPipeline, the refiner's class, as their __init__ defaults).
  bool force_zeros_for_empty_prompt = true;
};

// `gen -m PATH`. An LDM file's .yaml (options.config, else the one beside it) gives the
// head layout, prediction type, latent scale and text layer. Throws NotFound (no such path, no model_index.json, a component folder or
// weights missing), Unsupported (pickled weights, ControlNets, LoRAs), InvalidFormat
// (bad configs), ModelMismatch (the names do not describe a model gen can build).
ModelPlan plan_model(const std::string& path, const ModelPlanOptions& options);

struct VaePlan {
  PartSource source;
  enum class Names { LdmPrefixed, Ldm, Diffusers } names = Names::Ldm;
  std::optional<models::VaeConfig> own_config;  // a diffusers folder's config.json
  // Diffusers names without a config: the levels and resnets per level the names show
  // (enough to relate them to LDM names, models/key_map.hpp).
  models::VaeConfig names_config;
};

// `--vae PATH`. NotFound, Unsupported, InvalidFormat, ModelMismatch ("no VAE tensors").
VaePlan plan_vae(const std::string& path, const std::string& variant);

struct ControlNetPlan {
  std::shared_ptr<SafetensorsCheckpoint> checkpoint;
  std::string prefix;
  // "controlnet-1.0-full", "control-model-prefixed", "prefix-stripped", "difference",
  // "diffusers" (folder), "diffusers-file"
  std::string layout;
  control::ControlNetConfig config;
};

// `--control PATH`. NotFound / InvalidFormat / Unsupported / ModelMismatch.
ControlNetPlan plan_controlnet(const std::string& path);

// What gen does with `path` given in the role its classification calls for: a ControlNet
// as `--control`, a VAE as `--vae`, anything else as `-m` (the model, whose UNet, VAE and
// text encoder must all be there, in that order). `ok` when that loader accepts it.
struct LoadVerdict {
  std::string as;  // "model", "controlnet" or "vae"
  bool ok = false;
  ErrorCode code = ErrorCode::Ok;  // the loader's error otherwise
  std::string reason;              // its message, "PATH: problem"
  std::string config;              // a single file's .yaml beside it, when read
};
LoadVerdict judge_load(const std::string& path, const ModelReport& report);

}  // namespace gen::io
