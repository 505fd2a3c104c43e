// libFuzzer target: the JPEG reader (src/image/jpeg.cpp through decode_image,
// EXIF orientation included) on arbitrary bytes. Any gen::Error is a correct
// rejection; anything else (crash, sanitizer report, another exception, a hang or
// runaway memory) is a finding.
#include <cstddef>
#include <cstdint>

#include "gen/error.hpp"
#include "gen/image.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  gen::ImageFile f;
  bool ok = true;
  try {
    f = gen::decode_image(data, size, "fuzz.jpg");
  } catch (const gen::Error&) {
    ok = false;
  }
  if (ok) {  // an accepted image is consistent
    try {
      gen::check_image(f.image, "decoded image");
    } catch (const gen::Error&) {
      __builtin_trap();
    }
    if (f.orientation < 1 || f.orientation > 8) __builtin_trap();
  }
  return 0;
}
