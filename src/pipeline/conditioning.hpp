// gen — prompt text → the UNet's conditioning: A1111 prompt syntax and 77-token
// windows (src/text/prompt_parser.hpp), the CLIP text model per window, then the
// emphasis weights applied the A1111 way (scale, then restore the original mean).
#pragma once

#include <optional>

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "gen/request.hpp"
#include "models/clip_text.hpp"
#include "pipeline/model_cache.hpp"
#include "text/clip_tokenizer.hpp"
#include "text/prompt_parser.hpp"

namespace gen::pipeline {

// The textual-inversion embeddings a request's prompts name (pipeline/embedding_stage.hpp
// finds them): names → index; vectors[index] [n, C] float32; labels[index] "name: short hash"
// as A1111's `TI hashes` lists them. SDXL: vectors[index] for the first text encoder (clip_l;
// undefined for a refiner), vectors2[index] for the second (clip_g).
struct PromptEmbeddings {
  text::EmbeddingNames names;
  std::vector<at::Tensor> vectors;
  std::vector<at::Tensor> vectors2;
  std::vector<std::string> labels;
};

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
  const PromptEmbeddings* embeddings = nullptr;  // none when null
  // SDXL: the second text encoder (OpenCLIP bigG) with its tokenizer and padding; `model` is
  // CLIP ViT-L then, or null for a refiner. Each window goes through both (hidden states
  // without the final norm, models/sdxl_text.hpp), the emphasis is applied to each encoder's
  // output on its own (as A1111's two embedders do), and the widths are concatenated.
  const models::ClipTextModel* model2 = nullptr;
  const text::ClipTokenizer* tokenizer2 = nullptr;
  text::ClipPadding padding2 = text::ClipPadding::Zero;
};

// SDXL's pooled text of a prompt and its negative ({negative [1, P], positive [1, P]}): the
// second encoder's projected pooled output of the first window.
using PooledPair = std::pair<at::Tensor, at::Tensor>;

// How `encoder` lays prompts into windows (its syntax, padding and embeddings).
text::PromptOptions prompt_options(const TextEncoder& encoder);

// Conditioning for a prompt and its negative, with equal window counts:
// {negative [1, k*77, C], positive [1, k*77, C]} on the model's device and dtype.
// `embeddings_used` (optional) receives the PromptEmbeddings indices the prompt uses, then those
// the negative prompt uses (each list in order of first use, without repeats), which is the
// order of A1111's `TI hashes`.
// `pooled` (SDXL, required then): the pooled text of both.
std::pair<at::Tensor, at::Tensor> encode_prompts(const TextEncoder& encoder, const std::string& prompt,
                                                 const std::string& negative,
                                                 std::vector<int>* embeddings_used = nullptr,
                                                 PooledPair* pooled = nullptr);

// One prompt's windows, already tokenised and padded: [1, k*77, C]; the embeddings' vectors
// (encoder.embeddings) go where tokens.embeddings says.
at::Tensor encode_tokens(const TextEncoder& encoder, const text::PromptTokens& tokens);
// SDXL: one prompt's windows tokenised for each encoder (`tokens2` for the second) →
// [1, k*77, C1 + C2] (refiner: C2), and the pooled text [1, P] in `pooled`.
at::Tensor encode_tokens_sdxl(const TextEncoder& encoder, const text::PromptTokens& tokens,
                              const text::PromptTokens& tokens2, at::Tensor& pooled);

// The CLIP tokenizer of a request, kept while the vocabulary, model and clean-up stay the
// same. The vocabulary is, in order: the request's `vocab` (a .txt.gz or a tokenizer/
// folder), the model folder's tokenizer/, bpe_simple_vocab_16e6.txt.gz beside the model
// file, `fallback` (EngineOptions::fallback_vocab). NotFound when there is none.
class TokenizerCache {
 public:
  const text::ClipTokenizer& get(const Request& request, const std::string& tokenizer_dir,
                                 const std::string& fallback = "");
  // Whether the tokenizer came from a folder (which names its pad token).
  bool from_folder() const { return from_folder_; }
  void clear() { tokenizer_.reset(); key_.clear(); }

 private:
  std::string key_;
  std::unique_ptr<text::ClipTokenizer> tokenizer_;
  bool from_folder_ = false;
};

// How `request` encodes its prompts with `base`'s text encoder and `tokenizer` (from
// `tokenizers`): padding (the folder's pad token; else SD 1.x <|endoftext|>, SD 2.x 0),
// emphasis by prompt syntax, clip skip. Throws ModelMismatch when the tokenizer has more
// tokens than the text encoder.
TextEncoder text_encoder_for(const Request& request, const BaseModel& base, const TokenizerCache& tokenizers,
                             const text::ClipTokenizer& tokenizer);
// SDXL: `encoder` (from text_encoder_for) completed with the second encoder and its tokenizer
// (from `tokenizers2`: the folder's tokenizer_2/, else the same vocabulary as the first);
// padding: the model folder's tokenizer_2/ names it, else 0 (OpenCLIP's, as sgm); the first
// encoder pads as text_encoder_for says (a folder's pad token, else <|endoftext|>).
void add_second_encoder(TextEncoder& encoder, const Request& request, const BaseModel& base,
                        const TokenizerCache& tokenizers2, const text::ClipTokenizer& tokenizer2);

}  // namespace gen::pipeline
