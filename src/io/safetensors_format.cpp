// The safetensors header parser: bytes in, validated SafetensorsHeader out.
// Pure (no I/O, no mmap, no torch) so that it can be fuzzed on its own.
//
// Layout: u64 little-endian N, then N bytes of UTF-8 JSON (an object), then the
// data buffer. Every rule of the reference reader is enforced, plus a few more
// (duplicate names, unknown fields, integer-only numbers).
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <unordered_set>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/fail.hpp"
#include "gen/safetensors.hpp"
#include "io/safetensors_internal.hpp"

namespace gen {

namespace st = io::st;
using io::MappedFile;

std::uint64_t TensorInfo::numel() const noexcept {
  std::uint64_t n = 1;
  for (std::int64_t d : shape) n *= static_cast<std::uint64_t>(d);
  return n;
}

namespace io::st {

std::string quote(const std::string& name) {
  constexpr std::size_t kMax = 160;
  std::string out = "'";
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (i == kMax) {
      out += "...";
      break;
    }
    const unsigned char c = static_cast<unsigned char>(name[i]);
    if (c < 0x20 || c == 0x7f || c == '\'' || c == '\\') {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "'";
}

std::string shape_string(const std::vector<std::int64_t>& shape) {
  std::string out = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

bool valid_utf8(const std::uint8_t* b, std::size_t n, std::size_t& bad) noexcept {
  std::size_t i = 0;
  while (i < n) {
    const std::uint8_t c = b[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    std::uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;  // no overlongs
      if (c == 0xED) hi = 0x9F;  // no surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;  // no overlongs
      if (c == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
    } else {
      bad = i;
      return false;
    }
    if (n - i < len) {
      bad = i;
      return false;
    }
    if (b[i + 1] < lo || b[i + 1] > hi) {
      bad = i;
      return false;
    }
    for (std::size_t k = 2; k < len; ++k) {
      if (b[i + k] < 0x80 || b[i + k] > 0xBF) {
        bad = i;
        return false;
      }
    }
    i += len;
  }
  return true;
}

bool tensor_nbytes(DType dtype, const std::vector<std::int64_t>& shape, std::uint64_t& nbytes,
                   std::string& why) {
  const std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t numel = 1;
  for (std::int64_t d : shape) {
    if (d < 0) {
      why = "shape " + shape_string(shape) + " has a negative dimension";
      return false;
    }
    const auto ud = static_cast<std::uint64_t>(d);
    if (ud != 0 && numel > max / ud) {
      why = "shape " + shape_string(shape) + " has more elements than fit in 64 bits";
      return false;
    }
    numel *= ud;
  }
  const std::uint64_t bits_per = dtype_bits(dtype);
  if (bits_per == 0) {
    why = "dtype has no known size";
    return false;
  }
  if (numel > max / bits_per) {
    why = std::string(dtype_name(dtype)) + " shape " + shape_string(shape) +
          " is larger than 2^64 bits";
    return false;
  }
  const std::uint64_t bits = numel * bits_per;
  if (bits % 8 != 0) {
    why = std::string(dtype_name(dtype)) + " shape " + shape_string(shape) + " is " +
          std::to_string(bits) + " bits, not a whole number of bytes";
    return false;
  }
  nbytes = bits / 8;
  return true;
}

}  // namespace io::st

namespace {

using json = nlohmann::json;

// A tensor entry while it is being read.
struct Pending {
  TensorInfo info;
  bool has_dtype = false, has_shape = false, has_offsets = false;
  std::vector<std::uint64_t> offsets;
};

// SAX handler accepting exactly the safetensors header grammar. The first
// violation stops the parse with a message (without the file subject).
class HeaderSax {
 public:
  std::string error;
  ErrorCode code = ErrorCode::InvalidFormat;
  std::vector<TensorInfo> tensors;
  std::map<std::string, std::string> metadata;
  bool done = false;

  bool null() { return value("null"); }
  bool boolean(bool) { return value("a boolean"); }
  bool number_integer(json::number_integer_t v) {
    // Only reached for negative numbers (and "-0").
    if (level_ == 3)
      return fail_here(tensor_prefix() + field_ + " holds the negative number " +
                       (v < 0 ? std::to_string(v) : std::string("-0")) + "; " + field_rule());
    return value("a number");
  }
  bool number_unsigned(json::number_unsigned_t v) {
    if (level_ == 3) {
      if (field_ == "shape") {
        if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
          return fail_here(tensor_prefix() + "shape dimension " + std::to_string(v) + " is too large");
        cur_.info.shape.push_back(static_cast<std::int64_t>(v));
      } else {
        if (cur_.offsets.size() == 2)
          return fail_here(tensor_prefix() + "data_offsets has more than two entries; " + field_rule());
        cur_.offsets.push_back(v);
      }
      return true;
    }
    return value("a number");
  }
  bool number_float(json::number_float_t, const std::string& text) {
    if (level_ == 3)
      return fail_here(tensor_prefix() + field_ + " holds " + text +
                       ", which is not an integer in range; " + field_rule());
    return value("a number");
  }
  bool string(std::string& s) {
    if (level_ == 2 && in_meta_) {
      metadata.emplace(std::move(meta_key_), std::move(s));
      return true;
    }
    if (level_ == 2 && field_ == "dtype") return set_dtype(s);
    return value("a string");
  }
  bool binary(json::binary_t&) { return value("binary data"); }

  bool start_object(std::size_t) {
    if (level_ == 0) {
      level_ = 1;
      return true;
    }
    if (level_ == 1) {
      level_ = 2;
      if (in_meta_) return true;
      cur_ = Pending{};
      cur_.info.name = std::move(key_);
      return true;
    }
    return value("an object");
  }
  bool key(std::string& k) {
    if (level_ == 1) {
      if (!top_keys_.insert(k).second) {
        if (k == "__metadata__") return fail_here("__metadata__ appears twice");
        return fail_here("duplicate tensor name " + st::quote(k));
      }
      in_meta_ = (k == "__metadata__");
      key_ = std::move(k);
      return true;
    }
    if (level_ == 2 && in_meta_) {
      if (metadata.count(k)) return fail_here("__metadata__ has the key " + st::quote(k) + " twice");
      meta_key_ = std::move(k);
      return true;
    }
    // level 2, tensor entry
    bool* seen = nullptr;
    if (k == "dtype") seen = &cur_.has_dtype;
    else if (k == "shape") seen = &cur_.has_shape;
    else if (k == "data_offsets") seen = &cur_.has_offsets;
    if (!seen)
      return fail_here(tensor_prefix() + "unknown field " + st::quote(k) +
                       " (an entry has exactly dtype, shape and data_offsets)");
    if (*seen) return fail_here(tensor_prefix() + "field " + k + " appears twice");
    *seen = true;
    field_ = k;
    return true;
  }
  bool end_object() {
    if (level_ == 1) {
      level_ = 0;
      done = true;
      return true;
    }
    // level 2
    level_ = 1;
    if (in_meta_) {
      in_meta_ = false;
      return true;
    }
    field_.clear();
    return finish_tensor();
  }
  bool start_array(std::size_t) {
    if (level_ == 2 && !in_meta_ && (field_ == "shape" || field_ == "data_offsets")) {
      level_ = 3;
      return true;
    }
    return value("an array");
  }
  bool end_array() {
    // Only arrays at level 3 are ever opened.
    level_ = 2;
    if (field_ == "data_offsets" && cur_.offsets.size() != 2)
      return fail_here(tensor_prefix() + "data_offsets has " + std::to_string(cur_.offsets.size()) +
                       " entries; " + field_rule());
    field_.clear();
    return true;
  }
  bool parse_error(std::size_t pos, const std::string&, const nlohmann::detail::exception& ex) {
    std::string what = ex.what();
    // Drop nlohmann's "[json.exception.parse_error.101] " tag.
    const auto close = what.find("] ");
    if (what.rfind("[json.exception", 0) == 0 && close != std::string::npos)
      what = what.substr(close + 2);
    if (error.empty())
      error = "header is not valid JSON (near byte " + std::to_string(pos) + " of the header): " + what;
    return false;
  }

 private:
  int level_ = 0;          // 0 outside, 1 top object, 2 entry, 3 array in an entry
  bool in_meta_ = false;   // the current level-1 value is __metadata__
  std::string key_;        // current top-level key
  std::string meta_key_;   // current __metadata__ key
  std::string field_;      // current field of a tensor entry
  Pending cur_;
  std::unordered_set<std::string> top_keys_;

  bool fail_here(const std::string& msg) {
    if (error.empty()) error = msg;
    return false;
  }
  std::string tensor_prefix() const { return "tensor " + st::quote(cur_.info.name) + ": "; }
  std::string field_rule() const {
    return field_ == "shape" ? "shape must be an array of non-negative integers"
                             : "data_offsets must be an array of exactly two non-negative integers";
  }

  // A value of the wrong kind (`what`) where the grammar expects something else.
  bool value(const char* what) {
    const std::string got = std::string(what);
    switch (level_) {
      case 0: return fail_here("header is " + got + ", not a JSON object");
      case 1:
        if (in_meta_) return fail_here("__metadata__ is " + got + "; it must be an object of strings");
        return fail_here("tensor " + st::quote(key_) + ": entry is " + got + ", not an object");
      case 2:
        if (in_meta_)
          return fail_here("__metadata__ value of key " + st::quote(meta_key_) + " is " + got +
                           "; metadata values must be strings");
        if (field_ == "dtype") return fail_here(tensor_prefix() + "dtype is " + got + ", not a string");
        return fail_here(tensor_prefix() + field_ + " is " + got + "; " + field_rule());
      default:
        return fail_here(tensor_prefix() + field_ + " holds " + got + "; " + field_rule());
    }
  }

  bool set_dtype(const std::string& s) {
    if (dtype_from_name(s, cur_.info.dtype)) return true;
    // A name shaped like a dtype may be one a newer format version added.
    const bool plausible = !s.empty() && s.size() <= 32 &&
        std::all_of(s.begin(), s.end(), [](char c) {
          return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        });
    if (plausible) code = ErrorCode::Unsupported;
    return fail_here(tensor_prefix() + "unknown dtype " + st::quote(s) + " (known: " +
                     st::dtype_names_list() + ")");
  }

  bool finish_tensor() {
    if (!cur_.has_dtype) return fail_here(tensor_prefix() + "missing field dtype");
    if (!cur_.has_shape) return fail_here(tensor_prefix() + "missing field shape");
    if (!cur_.has_offsets) return fail_here(tensor_prefix() + "missing field data_offsets");
    TensorInfo& t = cur_.info;
    t.begin = cur_.offsets[0];
    t.end = cur_.offsets[1];
    const std::string offs =
        "data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) + "]";
    if (t.end < t.begin) return fail_here(tensor_prefix() + offs + " end before they begin");
    std::uint64_t need = 0;
    std::string why;
    if (!st::tensor_nbytes(t.dtype, t.shape, need, why)) return fail_here(tensor_prefix() + why);
    if (need != t.end - t.begin)
      return fail_here(tensor_prefix() + offs + " hold " + std::to_string(t.end - t.begin) +
                       " bytes but " + dtype_name(t.dtype) + " shape " + st::shape_string(t.shape) +
                       " needs " + std::to_string(need));
    tensors.push_back(std::move(t));
    return true;
  }
};

std::string range(const TensorInfo& t) {
  return "[" + std::to_string(t.begin) + ", " + std::to_string(t.end) + "]";
}

}  // namespace

SafetensorsHeader parse_safetensors_header(const std::uint8_t* bytes, std::size_t size,
                                           std::uint64_t file_size, const std::string& subject) {
  if (size > file_size)
    fail(ErrorCode::InvalidArgument, subject,
         "parser given " + std::to_string(size) + " bytes of a " + std::to_string(file_size) +
             "-byte file");
  if (file_size < 8)
    fail(ErrorCode::InvalidFormat, subject,
         "file is " + std::to_string(file_size) +
             " bytes, too short to hold the 8-byte header length of a safetensors file");
  if (size < 8 || bytes == nullptr)
    fail(ErrorCode::InvalidArgument, subject, "parser given fewer than the first 8 bytes");

  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[i];
  if (n > st::kMaxHeaderSize)
    fail(ErrorCode::InvalidFormat, subject,
         "header length " + std::to_string(n) + " exceeds the limit of " +
             std::to_string(st::kMaxHeaderSize) + " bytes (not a safetensors file, or corrupt)");
  if (n > file_size - 8)
    fail(ErrorCode::InvalidFormat, subject,
         "header length " + std::to_string(n) + " runs past the end of the " +
             std::to_string(file_size) + "-byte file (truncated?)");
  if (size - 8 < n)
    fail(ErrorCode::InvalidArgument, subject,
         "parser given " + std::to_string(size) + " bytes, fewer than the " +
             std::to_string(n + 8) + " of length and header");

  const std::uint8_t* text = bytes + 8;
  std::size_t bad = 0;
  if (!st::valid_utf8(text, static_cast<std::size_t>(n), bad))
    fail(ErrorCode::InvalidFormat, subject,
         "header is not valid UTF-8 (bad byte at offset " + std::to_string(bad) + " of the header)");

  // A byte-order mark is not JSON (RFC 8259 §8.1: parsers may ignore it, the reference
  // serde_json does not; nlohmann would skip it silently).
  if (n >= 3 && text[0] == 0xEF && text[1] == 0xBB && text[2] == 0xBF)
    fail(ErrorCode::InvalidFormat, subject, "header starts with a UTF-8 byte-order mark (not valid safetensors)");

  // JSON text never holds a raw NUL; nlohmann would take one as the end of input.
  if (const void* nul = std::memchr(text, 0, static_cast<std::size_t>(n)))
    fail(ErrorCode::InvalidFormat, subject,
         "header is not valid JSON: NUL byte at offset " +
             std::to_string(static_cast<const std::uint8_t*>(nul) - text) + " of the header");

  HeaderSax sax;
  const char* first = reinterpret_cast<const char*>(text);
  bool ok = false;
  try {
    ok = json::sax_parse(first, first + n, &sax, json::input_format_t::json, true, false);
  } catch (const json::exception& e) {
    fail(ErrorCode::InvalidFormat, subject, std::string("header is not valid JSON: ") + e.what());
  }
  if (!ok || !sax.done || !sax.error.empty())
    fail(sax.error.empty() ? ErrorCode::InvalidFormat : sax.code, subject,
         sax.error.empty() ? "header is not a complete JSON object" : sax.error);

  SafetensorsHeader h;
  h.header_size = n;
  h.data_size = file_size - 8 - n;
  h.metadata = std::move(sax.metadata);
  h.tensors = std::move(sax.tensors);
  std::sort(h.tensors.begin(), h.tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    if (a.begin != b.begin) return a.begin < b.begin;
    if (a.end != b.end) return a.end < b.end;
    return a.name < b.name;
  });

  // Sorted by offset, the tensors must tile [0, data_size) exactly.
  std::uint64_t cursor = 0;
  const TensorInfo* prev = nullptr;
  for (const TensorInfo& t : h.tensors) {
    if (t.begin < cursor)
      fail(ErrorCode::InvalidFormat, subject,
           "tensor " + st::quote(t.name) + ": data_offsets " + range(t) + " overlap tensor " +
               st::quote(prev->name) + " at " + range(*prev));
    if (t.begin > cursor)
      fail(ErrorCode::InvalidFormat, subject,
           "data bytes [" + std::to_string(cursor) + ", " + std::to_string(t.begin) +
               ") belong to no tensor (hole before tensor " + st::quote(t.name) + " at " +
               range(t) + ")");
    cursor = t.end;
    prev = &t;
  }
  if (cursor > h.data_size)
    fail(ErrorCode::InvalidFormat, subject,
         "tensor " + st::quote(prev->name) + " ends at data byte " + std::to_string(cursor) +
             " but the data buffer holds only " + std::to_string(h.data_size) +
             " bytes (truncated?)");
  if (cursor < h.data_size)
    fail(ErrorCode::InvalidFormat, subject,
         "data buffer holds " + std::to_string(h.data_size) + " bytes but the tensors cover only " +
             std::to_string(cursor) + " (trailing bytes)");
  return h;
}

}  // namespace gen
