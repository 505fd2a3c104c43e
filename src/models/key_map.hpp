// gen — the one place where checkpoint names of other layouts are related to the
// original LDM names that gen's modules use (module.hpp). The relation is data: the
// row tables in key_map.cpp (module prefixes, and leaf renames inside a module),
// expanded for a given config, because diffusers numbers blocks per level while
// LDM numbers them flat (the flat index depends on num_res_blocks and the levels).
//
//   UNet / ControlNet  diffusers UNet2DConditionModel / ControlNetModel names
//   VAE                diffusers AutoencoderKL names (also the pre-0.14 attention
//                      names query/key/value/proj_attn); its attention projections
//                      are [C, C] linear weights where LDM has [C, C, 1, 1] convs
//                      (load with LoadOptions::reshape_trailing_ones)
//   CLIP text          HF layout: the transformers names, less the `text_model.`
//                      prefix that transformers 4 writes (kTransformersTextPrefix;
//                      transformers 5 writes none) — no renames. The OpenCLIP
//                      layout (fused in_proj) is only for LDM SD 2.x files; diffusers
//                      SD 2.x text encoders use HF names and load into the HF layout.
//   LDM EMA copy       `model_ema.` + "diffusion_model" + the name without its dots
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "arch/classify.hpp"
#include "gen/safetensors.hpp"

namespace gen::models {

struct UNetConfig;
struct VaeConfig;

// The LDM part prefixes and the EMA naming rule are the classifier's (arch/classify.hpp).
using arch::kLdmClipOldPrefix;
using arch::kLdmClipPrefix;
using arch::kLdmControlPrefix;
using arch::kLdmEmaPrefix;
using arch::kLdmOpenClipPrefix;
using arch::kLdmUNetPrefix;
using arch::kLdmVaePrefix;
using arch::kTransformersTextPrefix;
using arch::ldm_ema_name;

// LDM name ↔ another layout's name, for one config.
class KeyMap {
 public:
  // The other layout's names for an LDM parameter name, preferred spelling first.
  // Names outside every mapped module are shared by both layouts (returned as is).
  std::vector<std::string> candidates(const std::string& ldm_name) const;
  // The preferred spelling.
  std::string operator()(const std::string& ldm_name) const { return candidates(ldm_name).front(); }
  // The LDM name of another layout's name (any spelling). Names outside every
  // mapped module pass through unchanged.
  std::string to_ldm(const std::string& other_name) const;
  // A LoadOptions::rename: for each LDM name, the first candidate that
  // `checkpoint` holds under `prefix` (the preferred one when none is held, so
  // that a missing tensor is reported under its usual name). Keeps a reference
  // to `checkpoint`.
  std::function<std::string(const std::string&)> renamer(const SafetensorsCheckpoint& checkpoint,
                                                         const std::string& prefix) const;
  std::size_t size() const { return modules_.size(); }

  // Used by the builders in key_map.cpp.
  struct Leaf {
    std::string ldm;
    std::vector<std::string> other;
  };
  struct Target {
    std::string other;                 // the module's name in the other layout
    const std::vector<Leaf>* leaves;   // renames inside it (may be null)
  };
  void add(std::string ldm_module, Target target);

 private:
  std::map<std::string, Target> modules_;          // LDM module path → other layout
  std::map<std::string, std::string> reverse_;     // other module path → LDM module path
};

// diffusers UNet2DConditionModel ↔ LDM UNetModel. With `controlnet_hint_blocks` > 0
// (the number of diffusers `controlnet_cond_embedding.blocks`, 6 for the standard
// hint encoder) also ControlNetModel's own modules ↔ cldm.py's input_hint_block,
// zero_convs and middle_block_out.
KeyMap unet_key_map(const UNetConfig& config, std::int64_t controlnet_hint_blocks = 0);

// diffusers AutoencoderKL ↔ LDM AutoencoderKL (first_stage_model).
KeyMap vae_key_map(const VaeConfig& config);

}  // namespace gen::models
