// gen — ControlNet Union / ProMax (xinsir6/ControlNetPlus, "ControlNet++"; diffusers
// ControlNetUnionModel): an SDXL ControlNet that takes several kinds of control image with one
// set of weights. These are the parts it has beside a ControlNet's encoder, hint encoder and
// zero-convolutions (control/controlnet.hpp builds them into the ControlNet; the hint encoder
// `input_hint_block` is shared by every condition). Names as the checkpoints (the same in
// diffusers and in the original code, so the key table has no row for them):
//   task_embedding               [T, D]: one vector per control type (T = num_control_type)
//   transformer_layes.{i}        D-wide pre-norm transformer layers (ln_1, attn.in_proj_*,
//                                attn.out_proj, ln_2, mlp.c_fc, mlp.c_proj; QuickGELU)
//   spatial_ch_projs             Linear(D → C): each condition's bias after the transformer
//   control_add_embedding.linear_{1,2}  Linear(T·E → 4C), SiLU, Linear(4C → 4C): the
//                                control-type one-hot, each entry an E-wide sinusoid, added to
//                                the time embedding (E = addition_time_embed_dim, 256)
// One call with K conditions (hint embeddings h_k of types t_k, scales s_k) and the latents
// after input_blocks.0, x0 [B, C, h, w]:
//   tokens  f_k = (mean_hw(h_k) + task_embedding[t_k]) · s_k,  f_K = mean_hw(x0)
//   z = transformer_layes([f_0 … f_K])   — torch.nn.MultiheadAttention without batch_first, as
//       the original code and diffusers run it: the attention runs over the BATCH axis (the
//       CFG halves and the images of a batch), separately for each token position
//   x0 += Σ_k (h_k · s_k + spatial_ch_projs(z_k) · s_k)
// s_k is 1 when the call has one condition or when the request has several control groups
// (diffusers: len(control_type_idx) == 1 or from_multi); the residuals are then scaled by the
// group's scale as any ControlNet's. Otherwise (one Union group, several conditions) the scales
// act inside, and the residuals are left unscaled (guess mode: the 0.1 → 1 ramp alone).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "arch/configs.hpp"
#include "models/clip_text.hpp"
#include "models/layers.hpp"
#include "models/module.hpp"

namespace gen::control {

// The control types, by the names xinsir's model card, diffusers' and ComfyUI's docs use, and
// their index into the one-hot / task_embedding (several names share one index).
struct UnionTypeInfo {
  const char* name;
  std::int64_t index;
};
const std::vector<UnionTypeInfo>& union_types();
// "openpose (0), depth (1), ..." for the types a file with `count` types knows.
std::string union_type_names(std::int64_t count);
// The index of `name` (a name above, or a number 0..count-1). InvalidArgument naming `subject`
// for an unknown name or an index the file does not have, listing the known ones.
std::int64_t union_type_index(const std::string& name, std::int64_t count, const std::string& subject);

// One call's conditions, in the order of the hint embeddings.
struct UnionCall {
  std::vector<std::int64_t> types;  // one per condition
  std::vector<double> scales;       // one per condition (1 when the scales act outside)
};

class UnionParts {
 public:
  // Adds the parts above to `owner` (the ControlNet) under their names.
  UnionParts(models::Module& owner, const ControlNetConfig& config);
  std::int64_t types() const { return types_; }
  // control_add_embedding of the one-hot of `types` (every condition of the call) [1, 4C].
  at::Tensor type_embedding(const std::vector<std::int64_t>& types, const at::Tensor& like) const;
  // What is added to x0 [B, C, h, w] (the latents after input_blocks.0) for the call's
  // conditions, `hints` [K, C, h, w] (their hint embeddings, batch 1 each).
  at::Tensor fuse(const at::Tensor& x0, const at::Tensor& hints, const UnionCall& call) const;

 private:
  std::int64_t types_ = 0;
  std::int64_t embed_dim_ = 0;
  models::Parameter* task_ = nullptr;
  std::vector<models::ClipTextLayer*> layers_;
  models::Linear* proj_ = nullptr;
  models::Linear* add1_ = nullptr;
  models::Linear* add2_ = nullptr;
};

}  // namespace gen::control
