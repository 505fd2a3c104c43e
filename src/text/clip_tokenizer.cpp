// gen — CLIP byte-level BPE tokenizer. See clip_tokenizer.hpp.
#include "text/clip_tokenizer.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <zlib.h>

#include <algorithm>
#include <climits>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/fail.hpp"
#include "core/files.hpp"
#include "core/json.hpp"
#include "text/text_clean.hpp"

namespace gen::text {
namespace {

constexpr const char* kBos = "<|startoftext|>";
constexpr const char* kEos = "<|endoftext|>";
constexpr size_t kClipMerges = 49152 - 256 - 2;  // merges the original vocabulary file provides
constexpr size_t kCacheLimit = 1 << 16;

// Tokenizer files are a few MiB (tokenizer.json ~4 MiB); 64 MiB is far above any real one.
constexpr std::size_t kMaxTokenizerFile = std::size_t{64} << 20;

std::string read_file(const std::string& path) { return core::read_input(path, kMaxTokenizerFile, "tokenizer file"); }

std::string gunzip(const std::string& data, const std::string& path) {
  if (data.size() < 18 || static_cast<unsigned char>(data[0]) != 0x1F || static_cast<unsigned char>(data[1]) != 0x8B)
    fail(ErrorCode::InvalidFormat, path, "not a gzip file");
  if (data.size() > static_cast<size_t>(UINT_MAX)) fail(ErrorCode::InvalidFormat, path, "gzip file too large");
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) fail(ErrorCode::Internal, path, "zlib initialisation failed");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  std::string out;
  char buf[1 << 16];
  int ret = Z_OK;
  while (ret == Z_OK) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof(buf);
    ret = inflate(&zs, Z_NO_FLUSH);
    out.append(buf, sizeof(buf) - zs.avail_out);
    if (out.size() > (size_t{64} << 20)) ret = Z_MEM_ERROR;
    if (ret == Z_BUF_ERROR && zs.avail_in == 0) break;  // input ended before the stream did
  }
  std::string msg = zs.msg ? zs.msg : "";
  inflateEnd(&zs);
  if (ret != Z_STREAM_END)
    fail(ErrorCode::InvalidFormat, path,
         ret == Z_BUF_ERROR ? "truncated gzip data" : "corrupt gzip data" + (msg.empty() ? "" : " (" + msg + ")"));
  return out;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    pos = nl + 1;
  }
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

// "first second" → {first, second}; anything else is malformed.
std::pair<std::string, std::string> parse_merge(const std::string& line, const std::string& path, size_t line_no) {
  size_t sp = line.find(' ');
  bool ok = sp != std::string::npos && sp > 0 && sp + 1 < line.size() && line.find(' ', sp + 1) == std::string::npos &&
            line.find('\t') == std::string::npos;
  if (!ok)
    fail(ErrorCode::InvalidFormat, path,
         "line " + std::to_string(line_no) + ": malformed merge (expected two symbols separated by one space)");
  return {line.substr(0, sp), line.substr(sp + 1)};
}

// GPT-2's byte-to-unicode table: printable Latin-1 bytes stand for themselves, the others are
// shifted to U+0100 upwards in byte order. Returns the bytes in vocabulary order.
std::vector<int> byte_order(std::string (&symbol)[256]) {
  std::vector<int> order;
  auto keep = [](int b) { return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255); };
  for (int b = 0; b < 256; ++b)
    if (keep(b)) order.push_back(b);
  int n = 0;
  for (int b = 0; b < 256; ++b) {
    char32_t cp = keep(b) ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + n++);
    if (!keep(b)) order.push_back(b);
    symbol[b] = utf8_encode(std::u32string_view(&cp, 1));
  }
  return order;
}

}  // namespace

struct ClipTokenizer::Regex {
  pcre2_code* code = nullptr;
  ~Regex() { pcre2_code_free(code); }
};

ClipTokenizer::ClipTokenizer() = default;
ClipTokenizer::ClipTokenizer(ClipTokenizer&& o) noexcept { *this = std::move(o); }
ClipTokenizer& ClipTokenizer::operator=(ClipTokenizer&& o) noexcept {
  if (this == &o) return *this;
  cleanup_ = o.cleanup_;
  default_padding_ = o.default_padding_;
  vocab_ = std::move(o.vocab_);
  ranks_ = std::move(o.ranks_);
  for (int i = 0; i < 256; ++i) byte_symbol_[i] = std::move(o.byte_symbol_[i]);
  bos_ = o.bos_;
  eos_ = o.eos_;
  specials_ = std::move(o.specials_);
  regex_ = std::move(o.regex_);
  std::lock_guard<std::mutex> lock(o.cache_mutex_);
  cache_ = std::move(o.cache_);
  return *this;
}
ClipTokenizer::~ClipTokenizer() = default;

ClipTokenizer ClipTokenizer::from_clip_bpe_gz(const std::string& path, Cleanup cleanup) {
  std::string text = gunzip(read_file(path), path);
  std::vector<std::string> lines = split_lines(text);
  if (lines.size() < 2) fail(ErrorCode::InvalidFormat, path, "no BPE merges in the file");
  ClipTokenizer tok;
  tok.cleanup_ = cleanup;
  std::vector<int> order = byte_order(tok.byte_symbol_);
  std::vector<std::string> tokens;
  for (int b : order) tokens.push_back(tok.byte_symbol_[b]);
  for (int b : order) tokens.push_back(tok.byte_symbol_[b] + "</w>");
  size_t n = std::min(lines.size() - 1, kClipMerges);
  for (size_t i = 1; i <= n; ++i) {
    auto [a, b] = parse_merge(lines[i], path, i + 1);
    tok.ranks_.emplace(a + " " + b, static_cast<int32_t>(i - 1));
    tokens.push_back(a + b);
  }
  tokens.push_back(kBos);
  tokens.push_back(kEos);
  for (size_t i = 0; i < tokens.size(); ++i) tok.vocab_.emplace(tokens[i], static_cast<int32_t>(i));
  tok.finish(path);
  return tok;
}

ClipTokenizer ClipTokenizer::from_folder(const std::string& dir, Cleanup cleanup) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail(ErrorCode::NotFound, dir, "no such tokenizer folder");
  ClipTokenizer tok;
  tok.cleanup_ = cleanup;
  byte_order(tok.byte_symbol_);

  // vocab.json + merges.txt (the classic layout), or the tokenizers library's tokenizer.json
  // (what transformers 5 writes with save_pretrained).
  std::string vocab_path = (fs::path(dir) / "vocab.json").string();
  const std::string tokenizer_json = (fs::path(dir) / "tokenizer.json").string();
  const bool classic = fs::exists(vocab_path, ec) || !fs::exists(tokenizer_json, ec);
  nlohmann::json vocab, merges;
  if (!classic) vocab_path = tokenizer_json;
  vocab = core::parse_json(read_file(vocab_path), vocab_path);
  if (!classic) {
    if (!vocab.is_object() || !vocab.contains("model") || !vocab["model"].is_object() ||
        vocab["model"].value("type", "") != "BPE" || !vocab["model"].contains("vocab") ||
        !vocab["model"].contains("merges") || !vocab["model"]["merges"].is_array())
      fail(ErrorCode::InvalidFormat, vocab_path, "expected a BPE model with \"vocab\" and \"merges\"");
    merges = vocab["model"]["merges"];
    vocab = nlohmann::json(vocab["model"]["vocab"]);
  }
  if (!vocab.is_object() || vocab.empty())
    fail(ErrorCode::InvalidFormat, vocab_path, "expected a JSON object of token → id");
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 ||
        it.value().get<int64_t>() > std::numeric_limits<int32_t>::max())
      fail(ErrorCode::InvalidFormat, vocab_path, "token \"" + it.key() + "\" has no valid integer id");
    tok.vocab_.emplace(it.key(), it.value().get<int32_t>());
  }

  if (classic) {
    std::string merges_path = (fs::path(dir) / "merges.txt").string();
    std::vector<std::string> lines = split_lines(read_file(merges_path));
    size_t first = (!lines.empty() && lines[0].rfind("#version", 0) == 0) ? 1 : 0;
    for (size_t i = first; i < lines.size(); ++i) {
      auto [a, b] = parse_merge(lines[i], merges_path, i + 1);
      tok.ranks_.emplace(a + " " + b, static_cast<int32_t>(i - first));
    }
  } else {
    for (size_t i = 0; i < merges.size(); ++i) {
      const auto& m = merges[i];
      std::string pair;
      if (m.is_string()) {
        pair = m.get<std::string>();
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        pair = m[0].get<std::string>() + " " + m[1].get<std::string>();
      }
      auto [a, b] = parse_merge(pair, vocab_path, i + 1);
      tok.ranks_.emplace(a + " " + b, static_cast<int32_t>(i));
    }
  }
  tok.finish(vocab_path);

  // The pad token: special_tokens_map.json, else tokenizer_config.json (transformers 5).
  std::string special_path = (fs::path(dir) / "special_tokens_map.json").string();
  if (!fs::exists(special_path, ec)) special_path = (fs::path(dir) / "tokenizer_config.json").string();
  if (fs::exists(special_path, ec)) {
    const nlohmann::json special = core::parse_json(read_file(special_path), special_path);
    if (special.is_object() && special.contains("pad_token")) {
      const nlohmann::json& p = special["pad_token"];
      std::string pad = p.is_string() ? p.get<std::string>()
                        : (p.is_object() && p.contains("content") && p["content"].is_string())
                            ? p["content"].get<std::string>()
                            : std::string();
      int32_t id = tok.token_to_id(pad);
      if (id == tok.eos_) {
        tok.default_padding_ = ClipPadding::EndToken;
      } else if (id == 0) {
        tok.default_padding_ = ClipPadding::Zero;
        // transformers registers the pad token as a special token: written in a prompt, it is
        // cut out like <|endoftext|> (so "!" becomes id 0 with SD 2.x folders).
        tok.specials_.emplace_back(utf8_decode(pad, special_path), 0);
      }
      else
        fail(ErrorCode::Unsupported, special_path, "pad token \"" + pad + "\" is neither <|endoftext|> nor id 0");
    }
  }
  return tok;
}

void ClipTokenizer::finish(const std::string& source) {
  bos_ = token_to_id(kBos);
  eos_ = token_to_id(kEos);
  if (bos_ < 0 || eos_ < 0) fail(ErrorCode::InvalidFormat, source, "vocabulary lacks <|startoftext|> or <|endoftext|>");
  specials_ = {{U"<|startoftext|>", bos_}, {U"<|endoftext|>", eos_}};
  for (int b = 0; b < 256; ++b)
    if (!vocab_.count(byte_symbol_[b] + "</w>") && !vocab_.count(byte_symbol_[b]))
      fail(ErrorCode::InvalidFormat, source, "vocabulary lacks the byte symbols of byte-level BPE");
  static const char* kPattern =
      R"(<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\p{Z}\t\n\x0B\f\r\x{85}\p{L}\p{N}]+)";
  // "\s" is spelled out: PCRE2 counts U+180E as space, Python's regex module does not.
  uint32_t options = PCRE2_UTF | PCRE2_UCP | (cleanup_ == Cleanup::NfcOnly ? 0 : PCRE2_CASELESS);
  int err = 0;
  PCRE2_SIZE offset = 0;
  regex_ = std::make_unique<Regex>();
  regex_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(kPattern), PCRE2_ZERO_TERMINATED, options, &err,
                               &offset, nullptr);
  if (!regex_->code) fail(ErrorCode::Internal, "clip tokenizer", "PCRE2 rejected the pre-tokenisation pattern");
}

int32_t ClipTokenizer::token_to_id(const std::string& token) const {
  auto it = vocab_.find(token);
  return it == vocab_.end() ? -1 : it->second;
}

void ClipTokenizer::encode_piece(const std::string& piece, std::vector<int32_t>& out) const {
  {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    auto it = cache_.find(piece);
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<std::string> word;
  for (unsigned char b : piece) word.push_back(byte_symbol_[b]);
  word.back() += "</w>";
  while (word.size() > 1) {
    int32_t best = std::numeric_limits<int32_t>::max();
    size_t best_i = 0;
    for (size_t i = 0; i + 1 < word.size(); ++i) {
      auto it = ranks_.find(word[i] + " " + word[i + 1]);
      if (it != ranks_.end() && it->second < best) {
        best = it->second;
        best_i = i;
      }
    }
    if (best == std::numeric_limits<int32_t>::max()) break;
    const std::string first = word[best_i], second = word[best_i + 1];
    std::vector<std::string> merged;
    merged.reserve(word.size());
    for (size_t i = 0; i < word.size();) {
      if (i + 1 < word.size() && word[i] == first && word[i + 1] == second) {
        merged.push_back(first + second);
        i += 2;
      } else {
        merged.push_back(word[i++]);
      }
    }
    word = std::move(merged);
  }
  std::vector<int32_t> ids;
  for (const std::string& sym : word) {
    auto it = vocab_.find(sym);
    ids.push_back(it == vocab_.end() ? eos_ : it->second);
  }
  out.insert(out.end(), ids.begin(), ids.end());
  std::lock_guard<std::mutex> lock(cache_mutex_);
  if (cache_.size() >= kCacheLimit) cache_.clear();
  cache_.emplace(piece, std::move(ids));
}

void ClipTokenizer::encode_plain(std::u32string_view raw, std::vector<int32_t>& out) const {
  std::u32string t;
  switch (cleanup_) {
    case Cleanup::Ftfy:
      t = lower(whitespace_clean(ftfy_fix_text(raw)), true);
      break;
    case Cleanup::FtfyHtml:
      t = lower(whitespace_clean(html_unescape(html_unescape(ftfy_fix_text(raw)))), true);
      break;
    case Cleanup::NfcOnly:
      t = lower(whitespace_fold(nfc(raw)), false);
      break;
  }
  if (t.empty()) return;
  std::string s = utf8_encode(t);
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(regex_->code, nullptr);
  if (!md) fail(ErrorCode::OutOfMemory, "clip tokenizer", "cannot allocate PCRE2 match data");
  PCRE2_SIZE pos = 0;
  uint32_t opts = 0;
  while (pos < s.size()) {
    int rc = pcre2_match(regex_->code, reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), pos, opts, md, nullptr);
    opts = PCRE2_NO_UTF_CHECK;
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      pcre2_match_data_free(md);
      fail(ErrorCode::Internal, "clip tokenizer", "PCRE2 match failed (" + std::to_string(rc) + ")");
    }
    PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    std::string piece = s.substr(ov[0], ov[1] - ov[0]);
    pos = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
    if (piece.empty()) continue;
    if (piece == kBos || piece == kEos) {
      if (cleanup_ != Cleanup::NfcOnly) {  // the slow tokenizer's cache maps them to themselves
        out.push_back(piece == kBos ? bos_ : eos_);
      } else {  // the tokenizers library splits them again, GPT-2 style: "<|", name, "|>"
        encode_piece("<|", out);
        encode_piece(piece.substr(2, piece.size() - 4), out);
        encode_piece("|>", out);
      }
      continue;
    }
    encode_piece(piece, out);
  }
  pcre2_match_data_free(md);
}

std::vector<int32_t> ClipTokenizer::encode(std::string_view text) const {
  std::u32string u = utf8_decode(text, "prompt");
  std::vector<int32_t> out;
  size_t pos = 0;
  for (;;) {
    // The earliest literal special token; the longest one when several start there.
    size_t next = std::u32string::npos;
    const std::pair<std::u32string, int32_t>* hit = nullptr;
    for (const auto& sp : specials_) {
      size_t at = u.find(sp.first, pos);
      if (at < next || (at == next && at != std::u32string::npos && sp.first.size() > hit->first.size())) {
        next = at;
        hit = &sp;
      }
    }
    encode_plain(std::u32string_view(u).substr(pos, next == std::u32string::npos ? u.size() - pos : next - pos), out);
    if (!hit) break;
    out.push_back(hit->second);
    pos = next + hit->first.size();
  }
  return out;
}

std::vector<int32_t> ClipTokenizer::pad(const std::vector<int32_t>& ids, ClipPadding padding, int max_length) const {
  if (max_length < 2) fail(ErrorCode::InvalidArgument, "max_length", "must be at least 2");
  std::vector<int32_t> out;
  out.reserve(static_cast<size_t>(max_length));
  out.push_back(bos_);
  size_t n = std::min(ids.size(), static_cast<size_t>(max_length - 2));
  out.insert(out.end(), ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(n));
  out.push_back(eos_);
  out.resize(static_cast<size_t>(max_length), pad_id(padding));
  return out;
}

std::vector<int32_t> ClipTokenizer::encode_padded(std::string_view text, ClipPadding padding, int max_length) const {
  return pad(encode(text), padding, max_length);
}

}  // namespace gen::text
