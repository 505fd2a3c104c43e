// gen — the CLIP text transformer of SD 1.x (HF CLIP names, as stored under
// `cond_stage_model.transformer.text_model.`) and SD 2.x (OpenCLIP names, fused
// in_proj attention, under `cond_stage_model.model.`), built from a config.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "arch/configs.hpp"  // ClipTextConfig
#include "models/layers.hpp"

namespace gen::models {

// Token embeddings put in place of the table's rows for some positions (textual inversion):
// rows position .. position + n - 1 of batch row `row` become `vectors` [n, width]. The token
// embedding table itself is left untouched.
struct TokenOverride {
  std::int64_t row = 0;
  std::int64_t position = 0;
  at::Tensor vectors;
};

// One pre-norm transformer layer of the text tower (attention, then the MLP, each residual),
// named as the layout of `config` (HF: layer_norm1, self_attn.{q,k,v,out}_proj, mlp.fc1/fc2;
// OpenCLIP: ln_1, attn.in_proj_weight/bias + attn.out_proj, mlp.c_fc/c_proj). The ControlNet
// Union's condition transformer (control/controlnet_union.hpp) is one of these, OpenCLIP-named.
class ClipTextLayer : public Module {
 public:
  explicit ClipTextLayer(const ClipTextConfig& config);
  // x [B, L, width] → [B, L, width], attention over L; `mask` [L, L] bool (true: may attend),
  // or undefined for none.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& mask = at::Tensor()) const;

 private:
  ClipTextConfig cfg_;
  LayerNorm* norm1_ = nullptr;
  LayerNorm* norm2_ = nullptr;
  Linear *q_ = nullptr, *k_ = nullptr, *v_ = nullptr, *out_ = nullptr, *fc1_ = nullptr, *fc2_ = nullptr;
  Parameter* in_w_ = nullptr;
  Parameter* in_b_ = nullptr;
};

class ClipTextModel : public Module {
 public:
  explicit ClipTextModel(const ClipTextConfig& config);
  const ClipTextConfig& config() const { return cfg_; }
  // ids [B, L] (int64) → hidden states [B, L, width]. `skip` = number of final
  // layers to leave out (0: the last layer; SD 2.x uses 1, the penultimate);
  // the final layer norm is applied either way.
  // `dtype`: the computation's (the weights are widened to it on use); Undefined:
  // the token embedding's stored dtype.
  // `overrides` replace the looked-up token embeddings at their positions (in the computation's
  // dtype) before the position embeddings are added, as A1111's EmbeddingsWithFixes does.
  at::Tensor forward(const at::Tensor& ids, std::int64_t skip = 0,
                     at::ScalarType dtype = at::ScalarType::Undefined,
                     const std::vector<TokenOverride>& overrides = {}) const;

  // SDXL's use (sgm's FrozenCLIPEmbedder layer "hidden" / FrozenOpenCLIPEmbedder2, diffusers'
  // hidden_states[-(skip + 1)]): `hidden` the output after all but `skip` layers WITHOUT the
  // final layer norm; with `pooled`, also the final layer normed at the pooled position
  // (config eos_token_id), through text_projection when the model has one ([B, P]).
  struct Encoded {
    at::Tensor hidden;
    at::Tensor pooled;
  };
  Encoded encode(const at::Tensor& ids, std::int64_t skip, bool pooled,
                 at::ScalarType dtype = at::ScalarType::Undefined,
                 const std::vector<TokenOverride>& overrides = {}) const;

 private:
  at::Tensor embed(const at::Tensor& ids, std::int64_t skip, at::ScalarType& dtype,
                   const std::vector<TokenOverride>& overrides) const;
  at::Tensor pool(const at::Tensor& normed, const at::Tensor& ids) const;
  ClipTextConfig cfg_;
  Linear* projection_ = nullptr;        // HF layout
  Parameter* projection_t_ = nullptr;   // OpenCLIP layout ([width, P])
  Embedding* tokens_ = nullptr;
  Parameter* positions_ = nullptr;
  std::vector<ClipTextLayer*> layers_;
  LayerNorm* final_norm_ = nullptr;
};

}  // namespace gen::models
