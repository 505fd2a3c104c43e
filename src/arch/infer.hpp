// gen — the one config inference: the configs of a UNet, VAE, CLIP text encoder or
// ControlNet from LDM tensor names and shapes (and diffusers-named ControlNet files),
// used by the loaders (io/model_plan.hpp) and so by `gen inspect`. Torch-free, no file access.
//
// What the weights do not say, by family (arch/classify.hpp decides it):
//   UNet heads  sd1: 8 heads at every level; sd2: 64-channel heads and attention upcast
//               (the SD 2.x configs); sdxl: 64-channel heads, no upcast. norm groups: 32.
//               The same for a ControlNet's encoder.
//   text        heads = width / 64 (ViT-L/14: 12, ViT-H/14: 16, bigG: 20); CLIP quick_gelu,
//               OpenCLIP (and SD 2.x) gelu.
//   VAE         norm groups 32, scaling factor 0.18215.
// InferenceHints override the numbers that the weights do not determine.
// Every function throws gen::Error naming `subject` when the names do not describe such a
// model (ModelMismatch), describe one gen does not build (Unsupported), or give an
// inconsistent config (InvalidArgument).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "arch/classify.hpp"
#include "arch/configs.hpp"

namespace gen::models {

// Numbers an LDM file's weights do not determine (0 / nullopt: the family rule).
struct InferenceHints {
  std::int64_t unet_heads = 0;          // a fixed head count at every level
  std::int64_t unet_head_channels = 0;  // or a fixed head size
  std::int64_t unet_norm_groups = 0;
  std::optional<bool> unet_upcast_attention;
  std::int64_t vae_norm_groups = 0;
  std::int64_t text_heads = 0;
  // SDXL: each time id's sinusoid width (0: the rule of io/model_plan.hpp — what is left of
  // label_emb's input after the pooled text, over the number of time ids; 256 at full size).
  std::int64_t unet_addition_time_embed_dim = 0;
};

}  // namespace gen::models

namespace gen::arch {

using Shape = std::vector<std::int64_t>;
// Tensor name → shape, names without their part's prefix.
using ShapeMap = std::map<std::string, Shape>;
// An LDM name (without the part's prefix) → its shape in the checkpoint, or null.
using Lookup = std::function<const Shape*(const std::string&)>;
Lookup lookup_in(const ShapeMap& shapes);

// `family`: SD2 takes the SD 2.x rules, anything else the SD 1.x ones.
models::UNetConfig infer_unet(const Lookup& get, Family family, const models::InferenceHints& hints,
                              const std::string& subject);
models::VaeConfig infer_vae(const Lookup& get, const models::InferenceHints& hints, const std::string& subject);
models::ClipTextConfig infer_text(const Lookup& get, models::ClipTextConfig::Layout layout, Family family,
                                  const models::InferenceHints& hints, const std::string& subject);
// A ControlNet from LDM names (cldm.py: input_blocks, input_hint_block, zero_convs, ...)
// or from diffusers ControlNetModel names (a single file without config.json).
control::ControlNetConfig infer_controlnet(const ShapeMap& shapes, Family family, const std::string& subject);
control::ControlNetConfig infer_controlnet_diffusers(const ShapeMap& shapes, Family family,
                                                     const std::string& subject);

}  // namespace gen::arch
