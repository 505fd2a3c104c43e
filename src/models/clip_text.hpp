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

class ClipTextModel : public Module {
 public:
  explicit ClipTextModel(const ClipTextConfig& config);
  const ClipTextConfig& config() const { return cfg_; }
  // ids [B, L] (int64) → hidden states [B, L, width]. `skip` = number of final
  // layers to leave out (0: the last layer; SD 2.x uses 1, the penultimate);
  // the final layer norm is applied either way.
  // `dtype`: the computation's (the weights are widened to it on use); Undefined:
  // the token embedding's stored dtype.
  at::Tensor forward(const at::Tensor& ids, std::int64_t skip = 0,
                     at::ScalarType dtype = at::ScalarType::Undefined) const;

 private:
  struct Layer;
  ClipTextConfig cfg_;
  Embedding* tokens_ = nullptr;
  Parameter* positions_ = nullptr;
  std::vector<Layer*> layers_;
  LayerNorm* final_norm_ = nullptr;
};

}  // namespace gen::models
