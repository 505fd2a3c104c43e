// gen — the CLIP tokenizer (byte-level BPE), id-for-id compatible with the references.
//
// Pipeline for one prompt:
//   1. The special tokens "<|startoftext|>" / "<|endoftext|>", written literally, are cut out
//      first and become their ids; the text between them is tokenised piece by piece.
//   2. Clean-up (see Cleanup), then lower-casing.
//   3. Pre-tokenisation with CLIP's regex (PCRE2, UTF + UCP):
//        <|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
//   4. Each piece's UTF-8 bytes are mapped to printable characters (GPT-2's byte-to-unicode
//      table), "</w>" is appended to the last symbol, and BPE merges are applied by rank.
//   5. Symbols → ids (unknown symbols → the unknown token, <|endoftext|>).
//
// The references (tests/data/tokenizer/prompts.json, made by tools/make_tokenizer_fixtures.py):
//   Cleanup::Ftfy     transformers' slow CLIPTokenizer with ftfy installed (≤ 4.x; what A1111 and
//                     diffusers for SD 1.x/2.x used): ftfy.fix_text, whitespace folding, strip,
//                     Python lower-casing. gen implements the ftfy subset that changes ordinary
//                     text (see text_clean.hpp); mojibake repair is not done.
//   Cleanup::FtfyHtml original CLIP / OpenCLIP: as Ftfy plus html.unescape applied twice after
//                     ftfy (SD 2.x as trained with open_clip).
//   Cleanup::NfcOnly  transformers ≥ 5's CLIPTokenizer (tokenizers backend, no ftfy): NFC, White_Space
//                     folding, per-character lower-casing; "<|endoftext|>" typed in another case is
//                     BPE-encoded rather than mapped to the special id.
//
// Thread safety: a ClipTokenizer is immutable after loading except for its BPE cache, which is
// guarded by a mutex; encode() may be called from several threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace gen::text {

enum class Cleanup { Ftfy, FtfyHtml, NfcOnly };

// What fills a 77-token window after the end token.
enum class ClipPadding {
  EndToken,  // SD 1.x (OpenAI CLIP ViT-L/14 tokenizer): pad with <|endoftext|> (49407)
  Zero,      // SD 2.x (OpenCLIP ViT-H/14): pad with id 0 ("!")
};

class ClipTokenizer {
 public:
  static constexpr int kMaxLength = 77;  // BOS + 75 tokens + EOS

  // The original CLIP vocabulary file (bpe_simple_vocab_16e6.txt.gz): a gzip'd text file whose
  // first line is a header and whose next 48894 lines are BPE merges "a b"; the vocabulary is
  // derived from it (256 byte symbols, the same with "</w>", one token per merge, then
  // <|startoftext|> and <|endoftext|>, 49408 in all).
  static ClipTokenizer from_clip_bpe_gz(const std::string& path, Cleanup cleanup = Cleanup::Ftfy);

  // A diffusers/transformers `tokenizer/` folder: vocab.json + merges.txt (first line skipped
  // when it starts with "#version"), and, when present, special_tokens_map.json for the pad
  // token (SD 2.x folders name "!", id 0; as in transformers, a "!" typed in a prompt then
  // becomes that special token, id 0).
  static ClipTokenizer from_folder(const std::string& dir, Cleanup cleanup = Cleanup::Ftfy);

  // Token ids of the text, without BOS/EOS, without truncation. Throws gen::Error
  // (InvalidArgument) when the text is not valid UTF-8.
  std::vector<int32_t> encode(std::string_view text) const;

  // The fixed-length form a CLIP text encoder takes: BOS, the first max_length-2 ids, EOS, then
  // padding up to max_length. An empty prompt gives BOS, EOS, padding.
  std::vector<int32_t> encode_padded(std::string_view text, ClipPadding padding,
                                     int max_length = kMaxLength) const;
  // The same for ids already computed with encode().
  std::vector<int32_t> pad(const std::vector<int32_t>& ids, ClipPadding padding,
                           int max_length = kMaxLength) const;

  int32_t bos_id() const { return bos_; }
  int32_t eos_id() const { return eos_; }
  int32_t pad_id(ClipPadding padding) const { return padding == ClipPadding::Zero ? 0 : eos_; }
  // The pad token named by special_tokens_map.json, else <|endoftext|>.
  ClipPadding default_padding() const { return default_padding_; }
  size_t vocab_size() const { return vocab_.size(); }
  // Id of a vocabulary entry ("a</w>", ",</w>"), or -1.
  int32_t token_to_id(const std::string& token) const;
  Cleanup cleanup() const { return cleanup_; }

  ClipTokenizer(ClipTokenizer&&) noexcept;
  ClipTokenizer& operator=(ClipTokenizer&&) noexcept;
  ~ClipTokenizer();

 private:
  ClipTokenizer();
  void finish(const std::string& source);
  void encode_piece(const std::string& piece, std::vector<int32_t>& out) const;
  void encode_plain(std::u32string_view text, std::vector<int32_t>& out) const;

  Cleanup cleanup_ = Cleanup::Ftfy;
  ClipPadding default_padding_ = ClipPadding::EndToken;
  std::unordered_map<std::string, int32_t> vocab_;
  std::unordered_map<std::string, int32_t> ranks_;  // "first second" → merge rank
  std::string byte_symbol_[256];                   // byte → UTF-8 of its printable stand-in
  int32_t bos_ = -1, eos_ = -1;
  std::vector<std::pair<std::u32string, int32_t>> specials_;  // cut out of the raw text first
  struct Regex;
  std::unique_ptr<Regex> regex_;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

}  // namespace gen::text
