// Text forms of the protocol-0 pickle opcodes (INT, LONG, FLOAT, STRING, UNICODE)
// and UTF-8 helpers for the pickle reader.
#include <cerrno>
#include <clocale>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "io/pickle_reader.hpp"

namespace gen::io {
namespace pickle {
namespace {

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace

bool parse_int_text(const std::string& text, std::int64_t& out, bool& too_big) {
  too_big = false;
  std::size_t i = 0, n = text.size();
  bool negative = false;
  if (i < n && (text[i] == '+' || text[i] == '-')) negative = text[i++] == '-';
  if (i == n) return false;
  std::uint64_t mag = 0;
  const std::uint64_t limit = negative ? (std::uint64_t{1} << 63) : (std::uint64_t{1} << 63) - 1;
  for (; i < n; ++i) {
    const char c = text[i];
    if (c < '0' || c > '9') return false;
    const unsigned d = static_cast<unsigned>(c - '0');
    if (!too_big && (mag > (limit - d) / 10)) too_big = true;
    if (!too_big) mag = mag * 10 + d;
  }
  if (too_big) return true;
  out = negative ? static_cast<std::int64_t>(0 - mag) : static_cast<std::int64_t>(mag);
  return true;
}

bool parse_float_text(const std::string& text, double& out) {
  if (text.empty() || text.size() > 400) return false;
  // Python writes repr(float): digits, sign, '.', exponent, or inf / nan.
  for (char c : text)
    if (!((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.' || c == 'e' || c == 'E' ||
          c == 'i' || c == 'n' || c == 'f' || c == 'a'))
      return false;
  // strtod reads the decimal point of the C locale, which is what we want; a program
  // that changed LC_NUMERIC would break it, so the '.' is swapped for the current one.
  std::string local = text;
  const char* point = std::localeconv()->decimal_point;
  if (point != nullptr && point[0] != '\0' && point[0] != '.' && point[1] == '\0')
    for (char& c : local)
      if (c == '.') c = point[0];
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(local.c_str(), &end);
  if (end != local.c_str() + local.size()) return false;
  out = v;  // overflow gives ±inf as in Python's float(); fine for a value we only report
  return true;
}

bool decode_string_literal(const std::string& q, std::string& out) {
  out.clear();
  if (q.size() < 2 || q.front() != q.back() || (q.front() != '\'' && q.front() != '"')) return false;
  const std::size_t end = q.size() - 1;
  for (std::size_t i = 1; i < end; ++i) {
    char c = q[i];
    if (c != '\\') {
      out += c;
      continue;
    }
    if (++i >= end) return false;  // a lone trailing backslash
    c = q[i];
    switch (c) {
      case '\\': out += '\\'; break;
      case '\'': out += '\''; break;
      case '"': out += '"'; break;
      case 'a': out += '\a'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'v': out += '\v'; break;
      case '\n': break;
      case 'x': {
        if (i + 2 >= end) return false;
        const int h = hex_value(q[i + 1]), l = hex_value(q[i + 2]);
        if (h < 0 || l < 0) return false;
        out += static_cast<char>(h * 16 + l);
        i += 2;
        break;
      }
      default:
        if (c >= '0' && c <= '7') {
          int v = c - '0';
          for (int k = 0; k < 2 && i + 1 < end && q[i + 1] >= '0' && q[i + 1] <= '7'; ++k)
            v = v * 8 + (q[++i] - '0');
          out += static_cast<char>(v & 0xFF);
        } else {
          out += '\\';
          out += c;
        }
    }
  }
  return true;
}

bool decode_raw_unicode_escape(const std::string& t, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < t.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(t[i]);
    if (c == '\\' && i + 1 < t.size() && (t[i + 1] == 'u' || t[i + 1] == 'U')) {
      const std::size_t digits = t[i + 1] == 'u' ? 4 : 8;
      if (i + 2 + digits > t.size()) return false;
      std::uint32_t cp = 0;
      for (std::size_t k = 0; k < digits; ++k) {
        const int h = hex_value(t[i + 2 + k]);
        if (h < 0) return false;
        cp = cp * 16 + static_cast<std::uint32_t>(h);
      }
      if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
      append_utf8(out, cp);
      i += 1 + digits;
    } else {
      append_utf8(out, c);  // every other byte is a Latin-1 character
    }
  }
  return true;
}

bool valid_utf8(const std::string& s) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    std::uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (n - i < len) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

}  // namespace pickle
}  // namespace gen::io
