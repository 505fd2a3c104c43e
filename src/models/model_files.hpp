// gen — opening a Stable Diffusion model as it is shipped, and building its parts.
//
// Sources:
//   * an LDM single file (.safetensors): the parts are found by prefix
//     (model.diffusion_model., first_stage_model., cond_stage_model.transformer[.text_model].,
//     cond_stage_model.model.), the architecture is inferred from names and shapes;
//   * a diffusers pipeline folder (model_index.json; unet/, vae/, text_encoder/ with their
//     config.json; tokenizer/; scheduler/scheduler_config.json), weights as one
//     .safetensors file, an fp16 variant (*.fp16.safetensors) or shards (*.index.json);
//   * optionally a separate VAE replacing the built-in one (an LDM file with or without
//     the first_stage_model. prefix, a diffusers-named file, or a diffusers vae folder).
//
// What a file or folder holds and the configs are decided torch-free by io/model_plan.hpp
// (which `gen inspect` uses too, so that it says what this loader does): an LDM file's parts
// and family by arch/classify.hpp, its configs by arch/infer.hpp. The rules:
//   family      the text encoder decides: OpenCLIP (cond_stage_model.model.) → sd2, HF CLIP → sd1;
//               without one, the UNet's context dim (1024 → sd2, 768 → sd1), else its structure
//               (linear proj_in → sd2); sd1 otherwise.
//   UNet heads  sd1: 8 heads at every level; sd2: 64-channel heads and attention upcast
//               (the SD 2.x configs). norm groups: 32.
//   text        heads = width / 64 (ViT-L/14: 12, ViT-H/14: 16); sd1 quick_gelu, sd2 gelu;
//               OpenCLIP files store 24 layers and are used with clip skip 1 (the
//               penultimate layer, as SD 2.x does); diffusers SD 2.x folders hold those
//               23 layers and use skip 0.
//   VAE         norm groups 32, scaling factor 0.18215.
//   sdxl        two text encoders (io/model_plan.hpp: ModelPlan), 64-channel UNet heads,
//               VAE scaling factor 0.13025 (sgm's configs)
//   prediction  unknown in an LDM file: epsilon unless overridden (a diffusers folder
//               gives it in scheduler_config.json).
// InferenceHints (arch/infer.hpp) override the numbers that the weights do not determine.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "arch/infer.hpp"
#include "gen/safetensors.hpp"
#include "io/model_plan.hpp"
#include "models/clip_text.hpp"
#include "models/unet.hpp"
#include "models/vae.hpp"

namespace gen::models {

enum class ModelFamily { SD1, SD2, SDXL };
const char* family_name(ModelFamily f) noexcept;  // "sd1", "sd2", "sdxl"

// Refuses pickled / GGUF weight files before they are read (io/model_plan.hpp).
using gen::io::check_weight_file;

struct ModelFilesOptions {
  // LDM files holding both: the EMA UNet weights (model_ema.*) instead of the
  // plain ones. nullopt: non-EMA when both are present, EMA when only it is.
  std::optional<bool> use_ema;
  // Diffusers folders: "fp16" prefers the *.fp16.safetensors variant; "" prefers
  // the plain weights (either falls back to the other when only it exists).
  std::string variant;
  // A separate VAE replacing the built-in one ("" = none).
  std::string vae_path;
  // "epsilon", "v_prediction" or "sample"; "" = from the scheduler config, else epsilon.
  std::string prediction_type;
  InferenceHints hints;
  // LDM single files: the model config (.yaml); "" = the one beside the file, if any.
  std::string config;
};

// Where one part's tensors are and how their names relate to gen's (LDM) names.
struct WeightSource {
  std::shared_ptr<SafetensorsCheckpoint> checkpoint;
  std::string prefix;                 // checkpoint name = prefix + rename(LDM name)
  std::function<std::string(const std::string&)> rename;  // empty: identity
  std::function<bool(const std::string&)> ignore;          // names never reported as unexpected
  bool reshape_trailing_ones = false;
  std::string subject;                // for errors: the file or folder
  std::string description;            // e.g. "LDM model.diffusion_model. (fp16)"
};

class ModelFiles {
 public:
  enum class Layout { LdmSingleFile, DiffusersFolder };

  // Opens `path` (an LDM .safetensors file or a diffusers pipeline folder) and
  // works out the configs. Throws gen::Error: NotFound (no such path, no
  // model_index.json, a component folder or weights missing), Unsupported (.bin
  // weights, SDXL or other unsupported models), InvalidFormat (bad configs),
  // ModelMismatch (the weights do not describe a model gen can build).
  static ModelFiles open(const std::string& path, const ModelFilesOptions& options = {});

  Layout layout() const { return layout_; }
  ModelFamily family() const { return family_; }
  const std::string& path() const { return path_; }

  bool has_unet() const { return unet_.checkpoint != nullptr; }
  bool has_vae() const { return vae_.checkpoint != nullptr; }
  bool has_text_encoder() const { return text_.checkpoint != nullptr; }
  // SDXL: the second (OpenCLIP bigG) text encoder; a refiner has only this one.
  bool has_text_encoder_2() const { return text2_.checkpoint != nullptr; }
  bool refiner() const { return refiner_; }
  bool force_zeros_for_empty_prompt() const { return force_zeros_; }  // SDXL (io::ModelPlan)
  const UNetConfig& unet_config() const { return unet_cfg_; }
  const VaeConfig& vae_config() const { return vae_cfg_; }
  const ClipTextConfig& text_config() const { return text_cfg_; }
  const ClipTextConfig& text2_config() const { return text2_cfg_; }
  // The text encoder layers to leave out by default (1 for LDM SD 2.x OpenCLIP).
  std::int64_t default_clip_skip() const { return clip_skip_; }
  bool uses_ema() const { return uses_ema_; }
  bool vae_overridden() const { return vae_overridden_; }

  // "epsilon", "v_prediction" or "sample", and whether the files said so.
  const std::string& prediction_type() const { return prediction_type_; }
  bool prediction_type_known() const { return prediction_known_; }
  // LDM single files: the model config (.yaml) read, or "".
  const std::string& config_file() const { return config_file_; }
  // scheduler/scheduler_config.json of a diffusers folder (null otherwise).
  const nlohmann::json& scheduler_config() const { return scheduler_config_; }
  // The tokenizer folder of a diffusers folder ("" when absent).
  const std::string& tokenizer_dir() const { return tokenizer_dir_; }
  const std::string& tokenizer2_dir() const { return tokenizer2_dir_; }  // SDXL folders
  // What was found and chosen, one line per part (layout, family, EMA or not, dtypes).
  std::string summary() const;

  const WeightSource& unet_source() const { return unet_; }
  const WeightSource& vae_source() const { return vae_; }
  const WeightSource& text_source() const { return text_; }
  const WeightSource& text2_source() const { return text2_; }

  // Built models with every tensor loaded straight from the file into `dtype` on
  // `device` (each tensor converted once; no f32 copy of the whole model).
  // NotFound if the part is absent; ModelMismatch listing every missing,
  // unexpected and mis-shaped tensor.
  std::unique_ptr<UNet> load_unet(at::ScalarType dtype, c10::Device device, bool keep_16bit = false) const;
  std::unique_ptr<ClipTextModel> load_text_encoder(at::ScalarType dtype, c10::Device device, bool keep_16bit = false) const;
  std::unique_ptr<ClipTextModel> load_text_encoder_2(at::ScalarType dtype, c10::Device device, bool keep_16bit = false) const;
  std::unique_ptr<Vae> load_vae(at::ScalarType dtype, c10::Device device, bool keep_16bit = false) const;

 private:
  void adopt(io::ModelPlan plan);  // the plan's parts, configs and names, with the renames of key_map.hpp
  void open_vae_override(const std::string& path, const ModelFilesOptions& options);

  Layout layout_ = Layout::LdmSingleFile;
  ModelFamily family_ = ModelFamily::SD1;
  std::string path_;
  WeightSource unet_, vae_, text_, text2_;
  UNetConfig unet_cfg_;
  VaeConfig vae_cfg_;
  ClipTextConfig text_cfg_, text2_cfg_;
  bool refiner_ = false;
  bool force_zeros_ = false;
  std::int64_t clip_skip_ = 0;
  bool uses_ema_ = false;
  bool ema_available_ = false;
  bool vae_overridden_ = false;
  std::string config_file_;  // LDM: the .yaml read
  std::string prediction_type_ = "epsilon";
  bool prediction_known_ = false;
  nlohmann::json scheduler_config_;
  std::string tokenizer_dir_, tokenizer2_dir_;
};

// Tensor name → shape, the view of a checkpoint the inference below works on.
using ShapeMap = arch::ShapeMap;
ShapeMap shapes_of(const SafetensorsCheckpoint& checkpoint, const std::string& prefix);

// The inference rules (arch/infer.hpp) on LDM names without their part prefix. Throw
// ModelMismatch naming `subject` when the names do not describe such a model.
UNetConfig infer_unet_config(const ShapeMap& shapes, ModelFamily family, const InferenceHints& hints,
                             const std::string& subject);
VaeConfig infer_vae_config(const ShapeMap& shapes, const InferenceHints& hints, const std::string& subject);
ClipTextConfig infer_text_config(const ShapeMap& shapes, ClipTextConfig::Layout layout, ModelFamily family,
                                 const InferenceHints& hints, const std::string& subject);

}  // namespace gen::models
