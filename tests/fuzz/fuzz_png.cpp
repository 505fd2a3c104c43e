// libFuzzer target: the PNG reader (src/image/png.cpp through decode_image, and
// the text-only path of read_png_text) on arbitrary bytes. Any gen::Error is a
// correct rejection; anything else (crash, sanitizer report, another exception,
// a hang or runaway memory) is a finding.
//
// libpng refuses a chunk whose CRC is wrong, which would stop almost every mutation
// at the first chunk it touches: the input is read once as it is and, when that
// differs, once more with every chunk's CRC recomputed.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "gen/error.hpp"
#include "gen/image.hpp"
#include "fuzz_image.hpp"
#include "image/image_internal.hpp"
#include "io/zip_reader.hpp"

namespace {

std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | p[3];
}

// The chunks after the signature with their CRC-32 (ZIP's polynomial) recomputed.
std::vector<std::uint8_t> fix_crcs(const std::uint8_t* data, std::size_t size) {
  std::vector<std::uint8_t> v(data, data + size);
  std::size_t pos = 8;
  while (pos + 12 <= size) {
    const std::uint64_t len = be32(&v[pos]);
    if (len > size - pos - 12) break;
    const std::uint32_t crc = gen::io::crc32(&v[pos + 4], static_cast<std::size_t>(len) + 4);
    std::uint8_t* c = &v[pos + 8 + len];
    c[0] = crc >> 24, c[1] = crc >> 16, c[2] = crc >> 8, c[3] = crc & 0xFF;
    pos += 12 + len;
  }
  return v;
}

void read(const std::uint8_t* data, std::size_t size) {
  decode_and_check(data, size, "fuzz.png");
  if (size >= 8 && std::memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0) {
    try {
      gen::image_detail::decode_png(data, size, "fuzz.png", false);  // read_png_text's path
    } catch (const gen::Error&) {
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  read(data, size);
  const std::vector<std::uint8_t> fixed = fix_crcs(data, size);
  if (size > 0 && std::memcmp(fixed.data(), data, size) != 0) read(fixed.data(), fixed.size());
  return 0;
}
