// gen — text clean-up for CLIP tokenisation: UTF-8, NFC, the ftfy subset, HTML unescaping,
// whitespace folding and Python-compatible lower-casing. See text_clean.hpp.
#include "text/text_clean.hpp"

#include <utf8proc.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "core/fail.hpp"

namespace gen::text {
namespace {

struct HtmlEntity {
  const char* name;   // without the leading '&'
  const char* value;  // UTF-8
  int flags;          // 1: Python's html.unescape knows it; 2: ftfy.fix_text decodes it
};

#include "text/html_entities.inc"

const HtmlEntity* find_entity(const std::string& name, int flag) {
  auto* end = kHtmlEntities + sizeof(kHtmlEntities) / sizeof(kHtmlEntities[0]);
  auto* it = std::lower_bound(kHtmlEntities, end, name, [](const HtmlEntity& e, const std::string& n) {
    return std::strcmp(e.name, n.c_str()) < 0;
  });
  if (it != end && name == it->name && (it->flags & flag)) return &*it;
  return nullptr;
}

void append_utf8(std::u32string& out, const char* utf8) {
  out += utf8_decode(utf8, "html entity table");
}

const utf8proc_property_t* prop(char32_t c) { return utf8proc_get_property(static_cast<utf8proc_int32_t>(c)); }

bool is_ascii_digit(char32_t c) { return c >= '0' && c <= '9'; }
bool is_ascii_hex(char32_t c) { return is_ascii_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_ascii_alnum(char32_t c) { return is_ascii_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
uint32_t hex_value(char32_t c) {
  if (c <= '9') return c - '0';
  if (c >= 'a') return c - 'a' + 10;
  return c - 'A' + 10;
}

// Python html.unescape's rule for a numeric reference; value saturates above U+10FFFF.
std::u32string numeric_charref(uint64_t num) {
  for (const auto& [from, to] : kInvalidCharrefs)
    if (num == from) return std::u32string(1, static_cast<char32_t>(to));
  if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) return U"\uFFFD";
  for (uint32_t c : kInvalidCodepoints)
    if (num == c) return U"";
  return std::u32string(1, static_cast<char32_t>(num));
}

// ftfy's unescape_html: `&#?[0-9A-Za-z]{1,24};`, decoded only when unambiguous.
std::u32string ftfy_unescape(std::u32string_view text) {
  std::u32string out;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] != '&') {
      out += text[i++];
      continue;
    }
    size_t j = i + 1;
    bool numeric = j < text.size() && text[j] == '#';
    if (numeric) ++j;
    size_t k = j;
    while (k < text.size() && k - j < 24 && is_ascii_alnum(text[k])) ++k;
    if (k == j || k >= text.size() || text[k] != ';') {
      out += text[i++];
      continue;
    }
    std::u32string_view match = text.substr(i, k + 1 - i);
    std::string name = utf8_encode(match.substr(1));
    if (const HtmlEntity* e = find_entity(name, 2)) {
      append_utf8(out, e->value);
    } else if (numeric) {
      // Decoded only when the whole "&#...;" is one reference whose value is not ';'.
      uint64_t num = 0;
      size_t p = j;
      bool hex = text[p] == 'x' || text[p] == 'X';
      if (hex) ++p;
      size_t digits = p;
      while (p < k && (hex ? is_ascii_hex(text[p]) : is_ascii_digit(text[p]))) {
        num = std::min<uint64_t>(num * (hex ? 16 : 10) + (hex ? hex_value(text[p]) : text[p] - '0'),
                                 0x7FFFFFFFull);
        ++p;
      }
      std::u32string decoded = numeric_charref(num);
      if (p == k && p > digits && decoded.find(U';') == std::u32string::npos)
        out += decoded;
      else
        out += match;
    } else {
      out += match;
    }
    i = k + 1;
  }
  return out;
}

std::u32string nfkc_char(char32_t c) {
  std::string in = utf8_encode(std::u32string_view(&c, 1));
  utf8proc_uint8_t* mapped = nullptr;
  utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(in.data()),
                                    static_cast<utf8proc_ssize_t>(in.size()), &mapped,
                                    static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT));
  if (n < 0) return std::u32string(1, c);
  std::string s(reinterpret_cast<char*>(mapped), static_cast<size_t>(n));
  std::free(mapped);
  return utf8_decode(s, "nfkc");
}

bool is_latin_ligature(char32_t c) {
  return c == 0x132 || c == 0x133 || c == 0x149 || (c >= 0x1C4 && c <= 0x1CC) || (c >= 0x1F1 && c <= 0x1F3) ||
         (c >= 0xFB00 && c <= 0xFB06);
}

bool is_removed_control(char32_t c) {
  return c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || (c >= 0x206A && c <= 0x206F) ||
         c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
}

bool is_unicode_decimal(char32_t c) { return prop(c)->category == UTF8PROC_CATEGORY_ND; }

// One pass of the character-level fixers, in ftfy's order.
std::u32string ftfy_char_fixes(std::u32string_view text) {
  std::u32string t;
  t.reserve(text.size());
  for (char32_t c : text) {  // fix_c1_controls
    t += (c >= 0x80 && c <= 0x9F) ? static_cast<char32_t>(kSloppyCp1252[c - 0x80]) : c;
  }
  std::u32string u;
  for (char32_t c : t) {  // fix_latin_ligatures (ﬅ keeps its long s, as ftfy does)
    if (c == 0xFB05)
      u += U"\u017Ft";
    else if (is_latin_ligature(c))
      u += nfkc_char(c);
    else
      u += c;
  }
  t.clear();
  for (char32_t c : u) {  // fix_character_width
    if (c == 0x3000)
      t += U' ';
    else if (c >= 0xFF01 && c < 0xFFF0)
      t += nfkc_char(c);
    else
      t += c;
  }
  for (char32_t& c : t) {  // uncurl_quotes
    if (c == 0x2BC || (c >= 0x2018 && c <= 0x201B))
      c = U'\'';
    else if (c >= 0x201C && c <= 0x201F)
      c = U'"';
  }
  u.clear();
  for (size_t i = 0; i < t.size(); ++i) {  // fix_line_breaks
    char32_t c = t[i];
    if (c == U'\r' && i + 1 < t.size() && t[i + 1] == U'\n') continue;
    u += (c == U'\r' || c == 0x2028 || c == 0x2029 || c == 0x85) ? U'\n' : c;
  }
  t.clear();
  for (size_t i = 0; i < u.size(); ++i) {  // remove_terminal_escapes: ESC [ (\d|;)* [a-zA-Z]
    if (u[i] == 0x1B && i + 1 < u.size() && u[i + 1] == U'[') {
      size_t j = i + 2;
      while (j < u.size() && (is_unicode_decimal(u[j]) || u[j] == U';')) ++j;
      if (j < u.size() && u[j] < 0x80 && std::isalpha(static_cast<int>(u[j]))) {
        i = j;
        continue;
      }
    }
    t += u[i];
  }
  u.clear();
  for (char32_t c : t)  // remove_control_chars
    if (!is_removed_control(c)) u += c;
  return nfc(u);
}

bool is_cased(char32_t c) {
  auto cat = prop(c)->category;
  if (cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT) return true;
  auto i = static_cast<utf8proc_int32_t>(c);
  return utf8proc_tolower(i) != i || utf8proc_toupper(i) != i;
}

// Case_Ignorable: Mn, Me, Cf, Lm, Sk, and the Word_Break MidLetter/MidNumLet/Single_Quote marks.
bool is_case_ignorable(char32_t c) {
  switch (prop(c)->category) {
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_SK:
      return true;
    default:
      break;
  }
  switch (c) {
    case 0x27: case 0x2E: case 0x3A: case 0xB7: case 0x387: case 0x55F: case 0x5F4: case 0x2018:
    case 0x2019: case 0x2024: case 0x2027: case 0xFE13: case 0xFE52: case 0xFE55: case 0xFF07:
    case 0xFF0E: case 0xFF1A:
      return true;
    default:
      return false;
  }
}

bool final_sigma_context(std::u32string_view s, size_t i) {
  size_t j = i;
  char32_t c = 0;
  bool found = false;
  while (j > 0) {
    c = s[--j];
    if (!is_case_ignorable(c)) {
      found = true;
      break;
    }
  }
  if (!found || !is_cased(c)) return false;
  for (j = i + 1; j < s.size(); ++j)
    if (!is_case_ignorable(s[j])) return !is_cased(s[j]);
  return true;
}

}  // namespace

std::u32string utf8_decode(std::string_view s, const std::string& what) {
  std::u32string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    auto b0 = static_cast<unsigned char>(s[i]);
    int len = b0 < 0x80 ? 1 : (b0 >> 5) == 6 ? 2 : (b0 >> 4) == 14 ? 3 : (b0 >> 3) == 30 ? 4 : 0;
    char32_t c = len == 1 ? b0 : len == 2 ? (b0 & 0x1F) : len == 3 ? (b0 & 0x0F) : (b0 & 0x07);
    bool ok = len > 0 && i + len <= s.size();
    for (int k = 1; ok && k < len; ++k) {
      auto b = static_cast<unsigned char>(s[i + k]);
      ok = (b & 0xC0) == 0x80;
      c = (c << 6) | (b & 0x3F);
    }
    static const char32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (ok) ok = c >= kMin[len] && c <= 0x10FFFF && !(c >= 0xD800 && c <= 0xDFFF);
    if (!ok) fail(ErrorCode::InvalidArgument, what, "not valid UTF-8 at byte " + std::to_string(i));
    out += c;
    i += len;
  }
  return out;
}

std::string utf8_encode(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) {
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else if (c < 0x800) {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
      out += static_cast<char>(0xE0 | (c >> 12));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (c >> 18));
      out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return out;
}

std::u32string nfc(std::u32string_view text) {
  bool ascii = std::all_of(text.begin(), text.end(), [](char32_t c) { return c < 0x80; });
  if (ascii) return std::u32string(text);
  std::u32string out;
  // utf8proc works on UTF-8; NUL is handled separately so that no length is ever ambiguous.
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(U'\0', start);
    if (end == std::u32string_view::npos) end = text.size();
    std::string in = utf8_encode(text.substr(start, end - start));
    if (!in.empty()) {
      utf8proc_uint8_t* mapped = nullptr;
      utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(in.data()),
                                        static_cast<utf8proc_ssize_t>(in.size()), &mapped,
                                        static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
      if (n < 0) fail(ErrorCode::Internal, "utf8proc", utf8proc_errmsg(n));
      std::string s(reinterpret_cast<char*>(mapped), static_cast<size_t>(n));
      std::free(mapped);
      out += utf8_decode(s, "utf8proc output");
    }
    if (end == text.size()) break;
    out += U'\0';
    start = end + 1;
  }
  return out;
}

std::u32string ftfy_fix_text(std::u32string_view text) {
  std::u32string out;
  bool unescape = true;  // ftfy's "auto": off from the first line holding '<' onwards
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find(U'\n', pos);
    size_t end = nl == std::u32string_view::npos ? text.size() : nl + 1;
    std::u32string seg(text.substr(pos, end - pos));
    if (unescape && seg.find(U'<') != std::u32string::npos) unescape = false;
    for (;;) {
      std::u32string fixed = unescape ? ftfy_unescape(seg) : seg;
      fixed = ftfy_char_fixes(fixed);
      if (fixed == seg) break;
      seg = std::move(fixed);
    }
    out += seg;
    pos = end;
  }
  return out;
}

std::u32string html_unescape(std::u32string_view text) {
  if (text.find(U'&') == std::u32string_view::npos) return std::u32string(text);
  std::u32string out;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] != '&') {
      out += text[i++];
      continue;
    }
    size_t j = i + 1;
    if (j < text.size() && text[j] == '#') {
      bool hex = j + 2 < text.size() && (text[j + 1] == 'x' || text[j + 1] == 'X') && is_ascii_hex(text[j + 2]);
      size_t p = j + 1 + (hex ? 1 : 0);
      size_t start = p;
      uint64_t num = 0;
      while (p < text.size() && (hex ? is_ascii_hex(text[p]) : is_ascii_digit(text[p]))) {
        num = std::min<uint64_t>(num * (hex ? 16 : 10) + (hex ? hex_value(text[p]) : text[p] - '0'), 0x7FFFFFFFull);
        ++p;
      }
      if (p == start) {  // "&#" without digits is not a reference
        out += text[i++];
        continue;
      }
      if (p < text.size() && text[p] == ';') ++p;
      out += numeric_charref(num);
      i = p;
      continue;
    }
    size_t k = j;
    auto name_char = [](char32_t c) {
      return c != '\t' && c != '\n' && c != '\f' && c != ' ' && c != '<' && c != '&' && c != '#' && c != ';';
    };
    while (k < text.size() && k - j < 32 && name_char(text[k])) ++k;
    if (k == j) {
      out += text[i++];
      continue;
    }
    if (k < text.size() && text[k] == ';') ++k;
    std::u32string_view s = text.substr(j, k - j);
    if (const HtmlEntity* e = find_entity(utf8_encode(s), 1)) {
      append_utf8(out, e->value);
    } else {
      bool done = false;
      for (size_t x = s.size() - 1; x >= 2 && !done; --x) {
        if (const HtmlEntity* p = find_entity(utf8_encode(s.substr(0, x)), 1)) {
          append_utf8(out, p->value);
          out += s.substr(x);
          done = true;
        }
      }
      if (!done) {
        out += U'&';
        out += s;
      }
    }
    i = k;
  }
  return out;
}

bool is_python_space(char32_t c) {
  const utf8proc_property_t* p = prop(c);
  return p->category == UTF8PROC_CATEGORY_ZS || p->bidi_class == UTF8PROC_BIDI_CLASS_WS ||
         p->bidi_class == UTF8PROC_BIDI_CLASS_B || p->bidi_class == UTF8PROC_BIDI_CLASS_S;
}

std::u32string whitespace_clean(std::u32string_view text) {
  std::u32string out;
  bool pending = false;
  for (char32_t c : text) {
    if (is_python_space(c)) {
      pending = true;
      continue;
    }
    if (pending && !out.empty()) out += U' ';
    pending = false;
    out += c;
  }
  return out;
}

std::u32string whitespace_fold(std::u32string_view text) {
  std::u32string out;
  bool in_run = false;
  for (char32_t c : text) {
    auto cat = prop(c)->category;
    bool ws = (c >= 9 && c <= 13) || c == 0x85 || cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL ||
              cat == UTF8PROC_CATEGORY_ZP;
    if (ws) {
      if (!in_run) out += U' ';
      in_run = true;
    } else {
      out += c;
      in_run = false;
    }
  }
  return out;
}

std::u32string lower(std::u32string_view text, bool final_sigma) {
  std::u32string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char32_t c = text[i];
    if (c == 0x130) {  // the one unconditional multi-character lower-case mapping
      out += U"i\u0307";
    } else if (c == 0x3A3) {
      out += (final_sigma && final_sigma_context(text, i)) ? char32_t(0x3C2) : char32_t(0x3C3);
    } else {
      out += static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c)));
    }
  }
  return out;
}

}  // namespace gen::text
