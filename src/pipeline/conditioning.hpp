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
// as A1111's `TI hashes` lists them.
struct PromptEmbeddings {
  text::EmbeddingNames names;
  std::vector<at::Tensor> vectors;
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
};

// How `encoder` lays prompts into windows (its syntax, padding and embeddings).
text::PromptOptions prompt_options(const TextEncoder& encoder);

// Conditioning for a prompt and its negative, with equal window counts:
// {negative [1, k*77, C], positive [1, k*77, C]} on the model's device and dtype.
// `embeddings_used` (optional) receives the PromptEmbeddings indices the prompt uses, then those
// the negative prompt uses (each list in order of first use, without repeats), which is the
// order of A1111's `TI hashes`.
std::pair<at::Tensor, at::Tensor> encode_prompts(const TextEncoder& encoder, const std::string& prompt,
                                                 const std::string& negative,
                                                 std::vector<int>* embeddings_used = nullptr);

// One prompt's windows, already tokenised and padded: [1, k*77, C]; the embeddings' vectors
// (encoder.embeddings) go where tokens.embeddings says.
at::Tensor encode_tokens(const TextEncoder& encoder, const text::PromptTokens& tokens);

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

}  // namespace gen::pipeline
