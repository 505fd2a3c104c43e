// gen — where an adapter file's modules land in gen's module tree. Every layer an adapter can
// change (Linear, Conv2d, a bare conv weight, the slices of OpenCLIP's fused in-projection) is
// indexed under each name adapter files use for it: kohya's flattened diffusers names
// (`lora_unet_down_blocks_0_attentions_0_proj_in`), kohya's flattened LDM names (SDXL-style
// `lora_unet_input_blocks_1_1_proj_in`), PEFT / diffusers dotted names, and the older
// diffusers attention-processor names. The renames themselves are the one key table's
// (models/key_map); this file only flattens them. docs/adapters.md.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <deque>
#include <map>
#include <string>

#include "adapters/adapter_file.hpp"
#include "models/layers.hpp"

namespace gen::models {
class UNet;
class ClipTextModel;
}  // namespace gen::models
namespace gen::control {
class ControlNet;
}

namespace gen::adapters {

// Which part of the pipeline a module belongs to; the text encoder takes the TE multiplier.
enum class Part { UNet, TextEncoder, ControlNet };
const char* part_name(Part p);

struct Target {
  Part part = Part::UNet;
  std::string name;               // gen's (LDM) name of the weight, e.g. "input_blocks.1.1.proj_in.weight"
  at::Tensor* weight = nullptr;   // what merging changes
  models::Linear* linear = nullptr;  // set when the change can also run on the fly
  models::Conv2d* conv = nullptr;
  int slice = -1;                 // OpenCLIP in_proj_weight: rows of q (0), k (1) or v (2)
  std::vector<std::int64_t> shape() const;  // the (sliced) weight's shape
};

class TargetIndex {
 public:
  void add_unet(models::UNet& unet);
  // `second`: SDXL's second text encoder (OpenCLIP bigG; kohya `lora_te2_`, PEFT `text_encoder_2.`).
  void add_text(models::ClipTextModel& text, bool second = false);
  void add_controlnet(control::ControlNet& net);
  // The target of a file's module key (AdapterModule::key) in `layout`; null when none.
  const Target* find(const std::string& file_key, AdapterLayout layout) const;
  std::size_t size() const { return targets_.size(); }

 private:
  Target& add(Target t, const std::vector<std::string>& keys);
  std::deque<Target> targets_;
  std::map<std::string, Target*> by_key_;  // "unet:" / "te:" / "cn:" + name with '.' → '_'
};

// The index key of a file's module key: a part tag and the flattened module name
// ("unet:down_blocks_0_attentions_0_proj_in"; "te:" the (first) text encoder, "te2:" SDXL's
// second, "cn:" ControlNets), "" when its prefix names no part gen has.
std::string lookup_key(const std::string& file_key, AdapterLayout layout);

}  // namespace gen::adapters

namespace gen::adapters {
// The model family an adapter file is for, from its metadata (kohya's ss_base_model_version,
// ss_v2) or its shapes and names: "sd1", "sd2", "sdxl", or "" when nothing tells.
std::string adapter_family(const AdapterFile& file);
}  // namespace gen::adapters
