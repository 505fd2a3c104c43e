// Helpers shared by the safetensors reader and writer (not public API).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "gen/safetensors.hpp"

namespace gen::io {
namespace st {

// Largest JSON header the reference implementation accepts.
constexpr std::uint64_t kMaxHeaderSize = 100000000;

// "'name'" with control bytes, quotes and backslashes escaped, cut if very long.
std::string quote(const std::string& name);
// "[3, 4]"
std::string shape_string(const std::vector<std::int64_t>& shape);
// Every dtype name, comma-separated (for "unknown dtype" messages).
std::string dtype_names_list();

// Strict UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
// On failure `bad_offset` is the offset of the first bad byte.
bool valid_utf8(const std::uint8_t* bytes, std::size_t size, std::size_t& bad_offset) noexcept;

// Byte size of a tensor of `dtype` and `shape`, with every product checked.
// Returns false and explains why in `why` on overflow, a negative dimension, or
// a sub-byte dtype whose bits do not fill whole bytes.
bool tensor_nbytes(DType dtype, const std::vector<std::int64_t>& shape, std::uint64_t& nbytes,
                   std::string& why);

}  // namespace st
}  // namespace gen::io
