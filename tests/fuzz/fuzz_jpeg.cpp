// libFuzzer target: the JPEG reader (src/image/jpeg.cpp through decode_image,
// EXIF orientation included) on arbitrary bytes. Any gen::Error is a correct
// rejection; anything else (crash, sanitizer report, another exception, a hang or
// runaway memory) is a finding.
#include <cstddef>
#include <cstdint>

#include "gen/error.hpp"
#include "gen/image.hpp"
#include "fuzz_image.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  decode_and_check(data, size, "fuzz.jpg");
  return 0;
}
