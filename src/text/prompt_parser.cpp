// gen — A1111-style prompt emphasis parsing and 77-token windowing. See prompt_parser.hpp.
#include "text/prompt_parser.hpp"

#include <utf8proc.h>

#include <algorithm>
#include <locale>
#include <sstream>

#include "core/fail.hpp"
#include "text/text_clean.hpp"

namespace gen::text {
namespace {

constexpr double kRoundMultiplier = 1.1;
constexpr double kSquareMultiplier = 1 / 1.1;
constexpr int kChunk = 75;  // prompt tokens per window, between BOS and EOS

// Code point starting at byte i (UTF-8 assumed valid enough; stray bytes read as themselves).
char32_t cp_at(std::string_view s, size_t i, size_t* len) {
  utf8proc_int32_t c = -1;
  utf8proc_ssize_t n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + i),
                                        static_cast<utf8proc_ssize_t>(s.size() - i), &c);
  if (n <= 0) {
    *len = 1;
    return static_cast<unsigned char>(s[i]);
  }
  *len = static_cast<size_t>(n);
  return static_cast<char32_t>(c);
}

size_t prev_start(std::string_view s, size_t i) {
  size_t j = i - 1;
  while (j > 0 && (static_cast<unsigned char>(s[j]) & 0xC0) == 0x80 && i - j < 4) --j;
  return j;
}

// Python's \w: letters, numbers and '_'.
bool is_word(char32_t c) {
  if (c == U'_') return true;
  switch (utf8proc_get_property(static_cast<utf8proc_int32_t>(c))->category) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT: case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
      return true;
    default:
      return false;
  }
}

// Splits on "\s*\bBREAK\b\s*" (whitespace around the keyword is dropped).
std::vector<std::string> split_break(std::string_view text) {
  std::vector<std::string> parts;
  size_t pos = 0, search = 0, len = 0;
  for (;;) {
    size_t at = text.find("BREAK", search);
    if (at == std::string_view::npos) break;
    size_t after = at + 5;
    bool left_ok = at == 0 || !is_word(cp_at(text, prev_start(text, at), &len));
    bool right_ok = after >= text.size() || !is_word(cp_at(text, after, &len));
    if (!left_ok || !right_ok) {
      search = at + 1;
      continue;
    }
    size_t start = at;
    while (start > pos) {
      size_t p = prev_start(text, start);
      if (!is_python_space(cp_at(text, p, &len))) break;
      start = p;
    }
    size_t end = after;
    while (end < text.size()) {
      char32_t c = cp_at(text, end, &len);
      if (!is_python_space(c)) break;
      end += len;
    }
    parts.emplace_back(text.substr(pos, start - pos));
    pos = search = end;
  }
  parts.emplace_back(text.substr(pos));
  return parts;
}

// Python float() of "[+-]?[.0-9]+"; false when it is not a number ("." or "1.2.3").
bool parse_weight(std::string_view s, double* out) {
  size_t i = (!s.empty() && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
  size_t digits = 0, dots = 0;
  for (size_t k = i; k < s.size(); ++k) (s[k] == '.' ? dots : digits) += 1;
  if (digits == 0 || dots > 1) return false;
  std::istringstream in{std::string(s)};
  in.imbue(std::locale::classic());
  in >> *out;
  return !in.fail();
}

struct Fix {  // A1111's PromptChunkFix: an embedding's placeholders at `offset` (before BOS)
  int offset, vectors, index;
};

struct Window {
  std::vector<int32_t> tokens;
  std::vector<double> weights;
  std::vector<Fix> fixes;
};

}  // namespace

std::vector<WeightedText> parse_prompt_attention(std::string_view text) {
  std::vector<WeightedText> res;
  std::vector<size_t> round, square;
  auto multiply_range = [&res](size_t start, double m) {
    for (size_t p = start; p < res.size(); ++p) res[p].weight *= m;
  };
  auto add_text = [&res](std::string_view t) {
    std::vector<std::string> parts = split_break(t);
    for (size_t i = 0; i < parts.size(); ++i) {
      if (i > 0) res.push_back({"BREAK", -1.0});
      res.push_back({parts[i], 1.0});
    }
  };
  const std::string_view specials = "\\()[]:";
  size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c == '\\') {
      if (i + 1 < text.size() && std::string_view("()[]\\").find(text[i + 1]) != std::string_view::npos) {
        res.push_back({std::string(1, text[i + 1]), 1.0});
        i += 2;
      } else {  // a lone backslash
        res.push_back({"", 1.0});
        i += 1;
      }
    } else if (c == '(') {
      round.push_back(res.size());
      ++i;
    } else if (c == '[') {
      square.push_back(res.size());
      ++i;
    } else if (c == ':') {
      size_t j = i + 1;
      if (j < text.size() && (text[j] == '+' || text[j] == '-')) ++j;
      size_t num_start = j;
      while (j < text.size() && (text[j] == '.' || (text[j] >= '0' && text[j] <= '9'))) ++j;
      bool weight_token = j > num_start && j < text.size() && text[j] == ')';
      if (!weight_token) {
        add_text(":");
        ++i;
        continue;
      }
      std::string_view number = text.substr(i + 1, j - i - 1);
      if (!round.empty()) {
        double w = 0;
        if (!parse_weight(number, &w))
          fail(ErrorCode::InvalidArgument, "prompt", "invalid emphasis weight \"" + std::string(number) + "\"");
        multiply_range(round.back(), w);
        round.pop_back();
      } else {
        add_text(text.substr(i, j + 1 - i));
      }
      i = j + 1;
    } else if (c == ')' || c == ']') {
      std::vector<size_t>& open = c == ')' ? round : square;
      if (!open.empty()) {
        multiply_range(open.back(), c == ')' ? kRoundMultiplier : kSquareMultiplier);
        open.pop_back();
      } else {
        add_text(text.substr(i, 1));
      }
      ++i;
    } else {
      size_t j = i;
      while (j < text.size() && specials.find(text[j]) == std::string_view::npos) ++j;
      add_text(text.substr(i, j - i));
      i = j;
    }
  }
  for (size_t pos : round) multiply_range(pos, kRoundMultiplier);
  for (size_t pos : square) multiply_range(pos, kSquareMultiplier);
  if (res.empty()) res.push_back({"", 1.0});
  for (size_t k = 0; k + 1 < res.size();) {
    if (res[k].weight == res[k + 1].weight) {
      res[k].text += res[k + 1].text;
      res.erase(res.begin() + static_cast<std::ptrdiff_t>(k) + 1);
    } else {
      ++k;
    }
  }
  return res;
}

PromptTokens tokenize_prompt(const ClipTokenizer& tokenizer, std::string_view prompt, const PromptOptions& options) {
  std::vector<WeightedText> parsed =
      options.emphasis ? parse_prompt_attention(prompt) : std::vector<WeightedText>{{std::string(prompt), 1.0}};
  const int32_t comma = tokenizer.token_to_id(",</w>");
  const int32_t bos = tokenizer.bos_id(), eos = tokenizer.eos_id();

  std::vector<Window> windows;
  Window chunk;
  int token_count = 0;
  long last_comma = -1;
  auto next_chunk = [&](bool is_last) {
    token_count += is_last ? static_cast<int>(chunk.tokens.size()) : kChunk;
    chunk.tokens.resize(kChunk, eos);
    chunk.weights.resize(kChunk, 1.0);
    chunk.tokens.insert(chunk.tokens.begin(), bos);
    chunk.tokens.push_back(eos);
    chunk.weights.insert(chunk.weights.begin(), 1.0);
    chunk.weights.push_back(1.0);
    last_comma = -1;
    windows.push_back(std::move(chunk));
    chunk = Window();
  };

  for (const WeightedText& part : parsed) {
    if (part.is_break()) {
      next_chunk(false);
      continue;
    }
    const std::vector<int32_t> tokens = tokenizer.encode(part.text);
    size_t position = 0;
    while (position < tokens.size()) {
      const int32_t token = tokens[position];
      const long size = static_cast<long>(chunk.tokens.size());
      if (token == comma) {
        last_comma = size;
      } else if (options.comma_backtrack != 0 && size == kChunk && last_comma != -1 &&
                 size - last_comma <= options.comma_backtrack) {
        // Move what follows the last comma into the next window (its embedding positions stay
        // behind, as in A1111).
        auto cut = static_cast<std::ptrdiff_t>(last_comma + 1);
        Window moved{{chunk.tokens.begin() + cut, chunk.tokens.end()}, {chunk.weights.begin() + cut, chunk.weights.end()}, {}};
        chunk.tokens.resize(static_cast<size_t>(cut));
        chunk.weights.resize(static_cast<size_t>(cut));
        next_chunk(false);
        chunk = std::move(moved);
      }
      if (static_cast<long>(chunk.tokens.size()) == kChunk) next_chunk(false);
      const EmbeddingName* e = options.embeddings ? options.embeddings->find_at(tokens, position) : nullptr;
      if (!e) {
        chunk.tokens.push_back(token);
        chunk.weights.push_back(part.weight);
        ++position;
        continue;
      }
      if (e->vectors < 1 || e->vectors > kChunk)
        fail(ErrorCode::InvalidArgument, "prompt",
             "an embedding of " + std::to_string(e->vectors) + " vectors does not fit in a 75-token window");
      if (static_cast<long>(chunk.tokens.size()) + e->vectors > kChunk) next_chunk(false);
      chunk.fixes.push_back({static_cast<int>(chunk.tokens.size()), e->vectors, e->index});
      chunk.tokens.insert(chunk.tokens.end(), static_cast<size_t>(e->vectors), 0);
      chunk.weights.insert(chunk.weights.end(), static_cast<size_t>(e->vectors), part.weight);
      position += e->ids.size();
    }
  }
  if (!chunk.tokens.empty() || windows.empty()) next_chunk(true);

  PromptTokens out;
  out.windows = static_cast<int>(windows.size());
  out.token_count = token_count;
  for (size_t k = 0; k < windows.size(); ++k) {
    Window& w = windows[k];
    for (const Fix& f : w.fixes)  // A1111's EmbeddingsWithFixes: at most up to the window's last row
      out.embeddings.push_back({static_cast<int>(k), f.offset + 1,
                                std::min(f.vectors, PromptTokens::kWindow - f.offset - 1), f.index});
    if (options.padding == ClipPadding::Zero) {
      auto first_end = std::find(w.tokens.begin(), w.tokens.end(), eos);
      if (first_end != w.tokens.end()) std::fill(first_end + 1, w.tokens.end(), 0);
    }
    out.ids.insert(out.ids.end(), w.tokens.begin(), w.tokens.end());
    for (double x : w.weights) out.weights.push_back(static_cast<float>(x));
  }
  return out;
}

std::vector<int> embeddings_named(const ClipTokenizer& tokenizer, std::string_view prompt,
                                  const PromptOptions& options) {
  std::vector<int> out;
  if (!options.embeddings || options.embeddings->empty()) return out;
  const std::vector<WeightedText> parsed =
      options.emphasis ? parse_prompt_attention(prompt) : std::vector<WeightedText>{{std::string(prompt), 1.0}};
  for (const WeightedText& part : parsed) {
    if (part.is_break()) continue;
    const std::vector<int32_t> tokens = tokenizer.encode(part.text);
    for (size_t position = 0; position < tokens.size();) {
      const EmbeddingName* e = options.embeddings->find_at(tokens, position);
      if (!e) {
        ++position;
        continue;
      }
      if (std::find(out.begin(), out.end(), e->index) == out.end()) out.push_back(e->index);
      position += e->ids.size();
    }
  }
  return out;
}

void EmbeddingNames::add(EmbeddingName name) {
  if (name.ids.empty()) return;
  const int32_t first = name.ids.front();
  auto it = std::lower_bound(by_first_.begin(), by_first_.end(), first,
                             [](const auto& entry, int32_t id) { return entry.first < id; });
  if (it == by_first_.end() || it->first != first) it = by_first_.insert(it, {first, {}});
  auto& list = it->second;
  // Longest first; a name goes after those at least as long (Python's stable sort, reversed).
  auto at = std::find_if(list.begin(), list.end(), [&](const EmbeddingName& n) { return n.ids.size() < name.ids.size(); });
  list.insert(at, std::move(name));
}

const EmbeddingName* EmbeddingNames::find_at(const std::vector<int32_t>& tokens, size_t pos) const {
  if (pos >= tokens.size()) return nullptr;
  const int32_t first = tokens[pos];
  auto it = std::lower_bound(by_first_.begin(), by_first_.end(), first,
                             [](const auto& entry, int32_t id) { return entry.first < id; });
  if (it == by_first_.end() || it->first != first) return nullptr;
  for (const EmbeddingName& n : it->second)
    if (pos + n.ids.size() <= tokens.size() && std::equal(n.ids.begin(), n.ids.end(), tokens.begin() + static_cast<std::ptrdiff_t>(pos)))
      return &n;
  return nullptr;
}

void pad_windows(PromptTokens& tokens, int windows, const ClipTokenizer& tokenizer, ClipPadding padding) {
  while (tokens.windows < windows) {
    std::vector<int32_t> empty = tokenizer.pad({}, padding);
    tokens.ids.insert(tokens.ids.end(), empty.begin(), empty.end());
    tokens.weights.insert(tokens.weights.end(), PromptTokens::kWindow, 1.0f);
    ++tokens.windows;
  }
}

}  // namespace gen::text
