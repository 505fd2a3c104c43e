#include "pipeline/conditioning.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdlib>

#include "core/fs.hpp"
#include "core/fail.hpp"
#include "models/sdxl_text.hpp"

namespace gen::pipeline {

namespace {

// The computation's device and dtype: the encoder's, else the model's (first) parameter's.
std::pair<c10::Device, at::ScalarType> placement(const TextEncoder& enc, const models::ClipTextModel& model) {
  auto device = c10::Device(c10::kCPU);
  at::ScalarType dtype = at::kFloat;
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
  return {device, dtype};
}

at::Tensor ids_of(const text::PromptTokens& tokens, c10::Device device) {
  return at::tensor(std::vector<std::int64_t>(tokens.ids.begin(), tokens.ids.end()), at::kLong)
      .view({tokens.windows, text::PromptTokens::kWindow})
      .to(device);
}

// A1111's emphasis on [k, 77, C]: rows scaled by their weights, then the window's mean restored.
at::Tensor emphasise(at::Tensor z, const text::PromptTokens& tokens, c10::Device device, at::ScalarType dtype) {
  const bool weighted = std::any_of(tokens.weights.begin(), tokens.weights.end(), [](float v) { return v != 1.0f; });
  if (!weighted) return z;
  auto weights = at::tensor(tokens.weights, at::kFloat).view({tokens.windows, text::PromptTokens::kWindow, 1}).to(device);
  auto zf = z.to(at::kFloat);
  auto m0 = zf.mean({1, 2}, true);
  zf = zf * weights;
  zf = zf * (m0 / zf.mean({1, 2}, true));
  return zf.to(dtype);
}

// The embeddings' vectors at their positions of `tokens` (from `vectors`: PromptEmbeddings'
// vectors, or SDXL's vectors2 for the second encoder).
std::vector<models::TokenOverride> overrides_of(const TextEncoder& enc, const text::PromptTokens& tokens,
                                                const std::vector<at::Tensor> PromptEmbeddings::*vectors) {
  std::vector<models::TokenOverride> overrides;
  for (const auto& u : tokens.embeddings) {
    if (!enc.embeddings || u.index < 0 || static_cast<std::size_t>(u.index) >= (enc.embeddings->*vectors).size() ||
        !(enc.embeddings->*vectors)[u.index].defined())
      fail(ErrorCode::Internal, "text encoder", "an embedding position without its vectors");
    overrides.push_back({u.window, u.position, (enc.embeddings->*vectors)[u.index].narrow(0, 0, u.vectors)});
  }
  return overrides;
}

// The embeddings `tokens` uses, appended to `used` in order of first use, each once per list
// starting at `first`.
void note_used(const text::PromptTokens& tokens, std::vector<int>& used, std::size_t first) {
  for (const auto& u : tokens.embeddings)
    if (std::find(used.begin() + static_cast<std::ptrdiff_t>(first), used.end(), u.index) == used.end())
      used.push_back(u.index);
}

}  // namespace

at::Tensor encode_tokens(const TextEncoder& enc, const text::PromptTokens& tokens) {
  const auto& model = *enc.model;
  const auto [device, dtype] = placement(enc, model);
  const auto k = tokens.windows, w = text::PromptTokens::kWindow;
  auto ids = ids_of(tokens, device);
  const auto overrides = overrides_of(enc, tokens, &PromptEmbeddings::vectors);
  auto z = model.forward(ids, enc.skip, dtype, overrides);  // [k, 77, C], each window separately
  z = emphasise(z, tokens, device, dtype);
  return z.reshape({1, k * w, z.size(2)}).to(dtype);
}

at::Tensor encode_tokens_sdxl(const TextEncoder& enc, const text::PromptTokens& tokens,
                              const text::PromptTokens& tokens2, at::Tensor& pooled) {
  if (tokens.windows != tokens2.windows)
    fail(ErrorCode::Internal, "prompt", "the two SDXL tokenizers gave different window counts");
  const auto [device, dtype] = placement(enc, *enc.model2);
  const auto k = tokens.windows, w = text::PromptTokens::kWindow;
  // Each window separately through each encoder (clip skip as diffusers': 0 = penultimate).
  const auto ids2 = ids_of(tokens2, device);
  // Textual inversion: each encoder takes its own vector set (clip_l, clip_g), as A1111's two
  // embedders and diffusers' load_textual_inversion per text encoder.
  auto two = models::encode_sdxl_text(nullptr, *enc.model2, at::Tensor(), ids2, enc.skip, dtype,
                                      overrides_of(enc, tokens2, &PromptEmbeddings::vectors2));
  pooled = two.pooled.slice(0, 0, 1).to(dtype);  // the first window's
  auto z = emphasise(two.context, tokens2, device, dtype);
  if (enc.model) {
    auto one = enc.model->encode(ids_of(tokens, device), enc.skip + 1, false, dtype,
                                 overrides_of(enc, tokens, &PromptEmbeddings::vectors)).hidden;
    z = at::cat({emphasise(one, tokens, device, dtype), z}, -1);
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

namespace {

// Plain text, as diffusers: one 77-token window, the rest truncated.
void truncate_to_one_window(text::PromptTokens& t) {
  t.windows = 1;
  t.ids.resize(text::PromptTokens::kWindow);
  t.weights.resize(text::PromptTokens::kWindow);
  t.embeddings.erase(std::remove_if(t.embeddings.begin(), t.embeddings.end(),
                                    [](const text::EmbeddingUse& u) { return u.window > 0; }),
                     t.embeddings.end());
}

}  // namespace

std::pair<at::Tensor, at::Tensor> encode_prompts(const TextEncoder& enc, const std::string& prompt,
                                                 const std::string& negative, std::vector<int>* embeddings_used,
                                                 PooledPair* pooled) {
  if (enc.model2) {  // SDXL
    if (!pooled) fail(ErrorCode::Internal, "text encoder", "SDXL's pooled text has nowhere to go");
    text::PromptOptions opt = prompt_options(enc), opt2 = opt;
    opt2.padding = enc.padding2;
    const auto& tok1 = enc.tokenizer ? *enc.tokenizer : *enc.tokenizer2;
    auto pos = text::tokenize_prompt(tok1, prompt, opt), neg = text::tokenize_prompt(tok1, negative, opt);
    auto pos2 = text::tokenize_prompt(*enc.tokenizer2, prompt, opt2);
    auto neg2 = text::tokenize_prompt(*enc.tokenizer2, negative, opt2);
    if (!enc.emphasis)
      for (auto* t : {&pos, &neg, &pos2, &neg2}) truncate_to_one_window(*t);
    if (embeddings_used) {
      embeddings_used->clear();
      for (const auto* t : {&pos, &neg}) note_used(*t, *embeddings_used, embeddings_used->size());
    }
    const int k = std::max({pos.windows, neg.windows, pos2.windows, neg2.windows});
    text::pad_windows(pos, k, tok1, enc.padding);
    text::pad_windows(neg, k, tok1, enc.padding);
    text::pad_windows(pos2, k, *enc.tokenizer2, enc.padding2);
    text::pad_windows(neg2, k, *enc.tokenizer2, enc.padding2);
    auto n = encode_tokens_sdxl(enc, neg, neg2, pooled->first);
    auto p = encode_tokens_sdxl(enc, pos, pos2, pooled->second);
    return {n, p};
  }
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
    for (const auto* t : {&pos, &neg}) note_used(*t, *embeddings_used, embeddings_used->size());
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
  const auto* text = base.text ? base.text.get() : base.text2.get();  // a refiner: the second only
  if (tokenizer.vocab_size() > static_cast<std::size_t>(text->config().vocab_size))
    fail(ErrorCode::ModelMismatch, r.model,
         "the tokenizer has " + std::to_string(tokenizer.vocab_size()) + " tokens but the text encoder only " +
             std::to_string(text->config().vocab_size));
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
  // SDXL counts as diffusers' clip_skip (0: the penultimate layer, its default); A1111 takes
  // hidden_states[-N] for clip skip N >= 2 and the penultimate for 1, so N is N - 2 here.
  if (base.family == models::ModelFamily::SDXL) enc.skip = std::max(0, r.clip_skip - 2);
  enc.dtype = base.settings.dtype;
  enc.device = base.settings.device;
  return enc;
}

void add_second_encoder(TextEncoder& enc, const Request& r, const BaseModel& base, const TokenizerCache& tokenizers2,
                        const text::ClipTokenizer& tokenizer2) {
  if (!base.text2) fail(ErrorCode::Internal, r.model, "no second text encoder");
  if (tokenizer2.vocab_size() > static_cast<std::size_t>(base.text2->config().vocab_size))
    fail(ErrorCode::ModelMismatch, r.model,
         "the second tokenizer has " + std::to_string(tokenizer2.vocab_size()) +
             " tokens but the second text encoder only " + std::to_string(base.text2->config().vocab_size));
  enc.model2 = base.text2.get();
  enc.tokenizer2 = &tokenizer2;
  // The model folder's own tokenizer_2/ names its pad token; any other vocabulary (--vocab, the
  // fallback) pads as OpenCLIP does, with 0.
  const bool own = tokenizers2.from_folder() && r.vocab.empty() && !base.tokenizer2_dir.empty();
  enc.padding2 = own ? tokenizer2.default_padding() : text::ClipPadding::Zero;
}

}  // namespace gen::pipeline
