// gen — prompt text → the UNet's conditioning: A1111 prompt syntax and 77-token
// windows (src/text/prompt_parser.hpp), the CLIP text model per window, then the
// emphasis weights applied the A1111 way (scale, then restore the original mean).
#pragma once

#include <optional>

#include <ATen/core/Tensor.h>

#include <string>

#include "models/clip_text.hpp"
#include "text/prompt_parser.hpp"

namespace gen::pipeline {

struct TextEncoder {
  const text::ClipTokenizer* tokenizer = nullptr;
  const models::ClipTextModel* model = nullptr;
  text::ClipPadding padding = text::ClipPadding::EndToken;
  std::int64_t skip = 0;  // layers left out at the end (SD 2.x: 1)
  bool emphasis = true;   // A1111 syntax and windows; false: plain text, truncated to 77 tokens (diffusers)
  // The computation's dtype and device; Undefined / unset: the weights' (they may be stored
  // narrower, or in host memory while the computation runs on a GPU).
  at::ScalarType dtype = at::ScalarType::Undefined;
  std::optional<c10::Device> device;
};

// Conditioning for a prompt and its negative, with equal window counts:
// {negative [1, k*77, C], positive [1, k*77, C]} on the model's device and dtype.
std::pair<at::Tensor, at::Tensor> encode_prompts(const TextEncoder& encoder, const std::string& prompt,
                                                 const std::string& negative);

// One prompt's windows, already tokenised and padded: [1, k*77, C].
at::Tensor encode_tokens(const TextEncoder& encoder, const text::PromptTokens& tokens);

}  // namespace gen::pipeline
