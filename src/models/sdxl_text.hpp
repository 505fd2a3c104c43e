// gen — SDXL's text conditioning from its two encoders, as sgm's GeneralConditioner
// (FrozenCLIPEmbedder with layer "hidden", FrozenOpenCLIPEmbedder2) and diffusers'
// StableDiffusionXLPipeline.encode_prompt compute it:
//   context = [hidden states of CLIP-L | of OpenCLIP-bigG] along the width, each taken
//             after all but the last 1 + clip_skip layers, without the final layer norm
//             (768 + 1280 = 2048 at full size);
//   pooled  = the second encoder's final-normed output at its end-of-text token through its
//             text_projection ([B, 1280]).
// The refiner has only the second encoder: its context is that encoder's alone.
#pragma once

#include <ATen/core/Tensor.h>

#include "models/clip_text.hpp"

namespace gen::models {

struct SdxlText {
  at::Tensor context;  // [B, L, width1 + width2] (refiner: [B, L, width2])
  at::Tensor pooled;   // [B, projection_dim of the second encoder]
};

// `first` may be null (the refiner); `ids1` is then ignored. `clip_skip` as diffusers'
// (0: the penultimate layer). `dtype`: the computation's (Undefined: the weights').
// InvalidArgument when the second encoder has no text_projection or the id batches differ.
// `overrides2`: textual-inversion vectors for the second encoder (ClipTextModel::forward).
SdxlText encode_sdxl_text(const ClipTextModel* first, const ClipTextModel& second, const at::Tensor& ids1,
                          const at::Tensor& ids2, std::int64_t clip_skip = 0,
                          at::ScalarType dtype = at::ScalarType::Undefined,
                          const std::vector<TokenOverride>& overrides2 = {});

}  // namespace gen::models
