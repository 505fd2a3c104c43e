// libFuzzer target: the safetensors header parser on arbitrary whole files.
// Any gen::Error is a correct rejection; anything else (crash, sanitizer report,
// another exception) is a finding.
#include <cstddef>
#include <cstdint>

#include "gen/error.hpp"
#include "gen/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const gen::SafetensorsHeader h = gen::parse_safetensors_header(data, size, size, "fuzz");
    // An accepted header must describe exactly the bytes that follow it.
    std::uint64_t end = 0;
    for (const gen::TensorInfo& t : h.tensors) {
      if (t.begin != end || t.end < t.begin) __builtin_trap();
      end = t.end;
    }
    if (end != h.data_size || 8 + h.header_size + h.data_size != size) __builtin_trap();
  } catch (const gen::Error&) {
  }
  return 0;
}
