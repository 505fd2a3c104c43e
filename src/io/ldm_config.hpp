// gen — the LDM model config (.yaml) of a single-file checkpoint: the file beside it
// (`<stem>.yaml`, A1111's find_checkpoint_config_near_filename) or the one `--config` names.
// It says what the weights cannot: v-prediction (`parameterization: "v"`, as in
// v2-inference-v.yaml), the UNet's head layout (`num_heads` / `num_head_channels`), the
// latent scale (`scale_factor`) and the text encoder's output layer (`layer: penultimate`).
//
// Read (under model.params):
//   parameterization                       "eps" (default) | "v"; anything else Unsupported
//   scale_factor                           the VAE's latent scale
//   unet_config.params.num_heads, num_head_channels, context_dim, in_channels,
//     model_channels, use_linear_in_transformer   heads used; the rest checked against the weights
//   cond_stage_config.params.layer         "last" | "penultimate" (FrozenOpenCLIPEmbedder,
//                                          FrozenCLIPEmbedder); "hidden" is Unsupported
// and gen's own section (ignored by LDM code, which reads `model:` only), for architectures
// whose numbers no LDM key holds (A1111 takes the text encoder's heads from the model name):
//   gen: {text_heads: N, unet_norm_groups: N, vae_norm_groups: N}
// An SDXL `sgm` config (sd_xl_base.yaml) says nothing gen does not read from an SDXL file's
// weights: it is accepted beside an SDXL file and ignored, and refused beside an SD 1.x/2.x one.
// A file without model.params is refused, naming it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "arch/configs.hpp"
#include "arch/infer.hpp"

namespace gen::io {

struct LdmConfig {
  std::string path;
  bool sgm = false;             // an SDXL (sgm.*) config: nothing else is read
  std::string prediction_type;  // "" (not said), "epsilon" or "v_prediction"
  std::optional<double> scale_factor;
  std::optional<std::int64_t> clip_skip;  // 0 last layer, 1 penultimate
  models::InferenceHints hints;           // heads, norm groups (0: not said)
  // Checked against the weights: what the config says (0: not said).
  std::int64_t context_dim = 0, in_channels = 0, model_channels = 0;
  std::optional<bool> linear_projection;
};

// The config next to `checkpoint` ("<path without extension>.yaml"), or "" when none.
std::string config_beside(const std::string& checkpoint);

// Reads and interprets the file; NotFound / InvalidFormat / Unsupported naming it.
LdmConfig read_ldm_config(const std::string& path);

// `hints` with the config's numbers where `hints` leaves them unset (explicit hints win).
models::InferenceHints merged_hints(const models::InferenceHints& hints, const LdmConfig& config);

// ModelMismatch naming the config when it contradicts the UNet built from the weights.
void check_ldm_config(const LdmConfig& config, const models::UNetConfig& unet, const std::string& checkpoint);

}  // namespace gen::io
