#include "pipeline/conditioning.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdlib>

#include "core/fs.hpp"
#include "core/fail.hpp"

namespace gen::pipeline {

at::Tensor encode_tokens(const TextEncoder& enc, const text::PromptTokens& tokens) {
  const auto& model = *enc.model;
  auto device = c10::Device(c10::kCPU);
  at::ScalarType dtype = at::kFloat;
  // The model's device (and dtype, unless given) are those of its (first) parameter.
  bool found = false;
  const_cast<models::ClipTextModel&>(model).visit([&](const std::string&, models::Module::Param& p) {
    if (!found && p.value.defined()) {
      device = p.value.device();
      dtype = p.value.scalar_type();
      found = true;
    }
  });
  if (enc.dtype != at::ScalarType::Undefined) dtype = enc.dtype;
  if (enc.device) device = *enc.device;
  const auto k = tokens.windows, w = text::PromptTokens::kWindow;
  auto ids = at::tensor(std::vector<std::int64_t>(tokens.ids.begin(), tokens.ids.end()), at::kLong)
                 .view({k, w})
                 .to(device);
  std::vector<models::TokenOverride> overrides;
  for (const auto& u : tokens.embeddings) {
    if (!enc.embeddings || u.index < 0 || static_cast<std::size_t>(u.index) >= enc.embeddings->vectors.size())
      fail(ErrorCode::Internal, "text encoder", "an embedding position without its vectors");
    overrides.push_back({u.window, u.position, enc.embeddings->vectors[u.index].narrow(0, 0, u.vectors)});
  }
  auto z = model.forward(ids, enc.skip, dtype, overrides);  // [k, 77, C], each window separately
  const bool weighted = std::any_of(tokens.weights.begin(), tokens.weights.end(), [](float v) { return v != 1.0f; });
  if (weighted) {
    auto weights = at::tensor(tokens.weights, at::kFloat).view({k, w, 1}).to(device);
    auto zf = z.to(at::kFloat);
    auto m0 = zf.mean({1, 2}, true);
    zf = zf * weights;
    zf = zf * (m0 / zf.mean({1, 2}, true));
    z = zf.to(dtype);
  }
  return z.reshape({1, k * w, z.size(2)}).to(dtype);
}

text::PromptOptions prompt_options(const TextEncoder& enc) {
  text::PromptOptions opt;
  opt.padding = enc.padding;
  opt.emphasis = enc.emphasis;
  if (!enc.emphasis) opt.comma_backtrack = 0;
  if (enc.embeddings && !enc.embeddings->names.empty()) opt.embeddings = &enc.embeddings->names;
  return opt;
}

std::pair<at::Tensor, at::Tensor> encode_prompts(const TextEncoder& enc, const std::string& prompt,
                                                 const std::string& negative, std::vector<int>* embeddings_used) {
  const text::PromptOptions opt = prompt_options(enc);
  auto pos = text::tokenize_prompt(*enc.tokenizer, prompt, opt);
  auto neg = text::tokenize_prompt(*enc.tokenizer, negative, opt);
  if (!enc.emphasis) {  // plain text, as diffusers: one 77-token window, the rest truncated
    for (auto* t : {&pos, &neg}) {
      t->windows = 1;
      t->ids.resize(text::PromptTokens::kWindow);
      t->weights.resize(text::PromptTokens::kWindow);
      t->embeddings.erase(std::remove_if(t->embeddings.begin(), t->embeddings.end(),
                                         [](const text::EmbeddingUse& u) { return u.window > 0; }),
                          t->embeddings.end());
    }
  }
  if (embeddings_used) {
    embeddings_used->clear();
    for (const auto* t : {&pos, &neg}) {
      const auto first = embeddings_used->size();
      for (const auto& u : t->embeddings)
        if (std::find(embeddings_used->begin() + static_cast<std::ptrdiff_t>(first), embeddings_used->end(), u.index) ==
            embeddings_used->end())
          embeddings_used->push_back(u.index);
    }
  }
  const int k = std::max(pos.windows, neg.windows);
  text::pad_windows(pos, k, *enc.tokenizer, enc.padding);
  text::pad_windows(neg, k, *enc.tokenizer, enc.padding);
  return {encode_tokens(enc, neg), encode_tokens(enc, pos)};
}

}  // namespace gen::pipeline

namespace gen::pipeline {

const text::ClipTokenizer& TokenizerCache::get(const Request& r, const std::string& tokenizer_dir,
                                               const std::string& fallback) {
  const std::string key = r.vocab + "\n" + r.model + "\n" + name_of(r.text_cleanup) + "\n" + fallback;
  if (tokenizer_ && key == key_) return *tokenizer_;
  std::string vocab = r.vocab;
  if (vocab.empty() && !tokenizer_dir.empty()) vocab = tokenizer_dir;
  if (vocab.empty()) {
    const std::string beside = core::join(core::dirname(r.model), "bpe_simple_vocab_16e6.txt.gz");
    if (core::is_file(beside)) vocab = beside;
  }
  if (vocab.empty()) vocab = fallback;
  if (vocab.empty())
    fail(ErrorCode::NotFound, r.model,
         "no CLIP vocabulary: pass --vocab bpe_simple_vocab_16e6.txt.gz (or a tokenizer/ folder), "
         "put that file beside the model, or set GEN_VOCAB (gen's own copy, share/gen/clip/, is missing)");
  const bool folder = core::is_dir(vocab);
  // auto: what the model's own ecosystem does — diffusers folders are tokenized by
  // transformers 5 (NFC, whitespace, lower case), the bare CLIP vocabulary as A1111 / CLIP do.
  const auto cleanup = r.text_cleanup == TextCleanup::Ftfy ? text::Cleanup::Ftfy
                       : r.text_cleanup == TextCleanup::Nfc ? text::Cleanup::NfcOnly
                       : folder                             ? text::Cleanup::NfcOnly
                                                            : text::Cleanup::Ftfy;
  auto tok = folder ? text::ClipTokenizer::from_folder(vocab, cleanup) : text::ClipTokenizer::from_clip_bpe_gz(vocab, cleanup);
  tokenizer_ = std::make_unique<text::ClipTokenizer>(std::move(tok));
  from_folder_ = folder;
  key_ = key;
  return *tokenizer_;
}

TextEncoder text_encoder_for(const Request& r, const BaseModel& base, const TokenizerCache& tokenizers,
                             const text::ClipTokenizer& tokenizer) {
  if (tokenizer.vocab_size() > static_cast<std::size_t>(base.text->config().vocab_size))
    fail(ErrorCode::ModelMismatch, r.model,
         "the tokenizer has " + std::to_string(tokenizer.vocab_size()) + " tokens but the text encoder only " +
             std::to_string(base.text->config().vocab_size));
  TextEncoder enc;
  enc.tokenizer = &tokenizer;
  enc.model = base.text.get();
  // A tokenizer folder names its pad token (diffusers pads with it); the bare CLIP vocabulary
  // does not, so the family decides: SD 1.x pads with <|endoftext|>, SD 2.x (OpenCLIP) with 0.
  enc.padding = tokenizers.from_folder()                  ? tokenizer.default_padding()
                : base.family == models::ModelFamily::SD2 ? text::ClipPadding::Zero
                                                          : text::ClipPadding::EndToken;
  enc.emphasis = r.prompt_syntax == PromptSyntax::A1111;
  enc.skip = r.clip_skip > 0 ? r.clip_skip - 1 : base.clip_skip;
  enc.dtype = base.settings.dtype;
  enc.device = base.settings.device;
  return enc;
}

}  // namespace gen::pipeline
