// What the image fuzzers check on every input: decode_image either refuses it with a
// gen::Error or returns an image check_image accepts, with an EXIF orientation in 1..8.
// Anything else (crash, sanitizer report, another exception) is a finding.
#pragma once

#include <cstddef>
#include <cstdint>

#include "gen/error.hpp"
#include "gen/image.hpp"

inline void decode_and_check(const std::uint8_t* data, std::size_t size, const char* name) {
  gen::ImageFile f;
  try {
    f = gen::decode_image(data, size, name);
  } catch (const gen::Error&) {
    return;
  }
  try {
    gen::check_image(f.image, "decoded image");
  } catch (const gen::Error&) {
    __builtin_trap();
  }
  if (f.orientation < 1 || f.orientation > 8) __builtin_trap();
}
