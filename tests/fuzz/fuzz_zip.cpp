// libFuzzer target: the ZIP reader (src/io/zip_reader.cpp) on arbitrary whole
// archives. Any gen::Error is a correct rejection; anything else (crash, sanitizer
// report, another exception) is a finding.
#include <cstddef>
#include <cstdint>

#include "gen/error.hpp"
#include "io/zip_reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const gen::io::ZipReader z = gen::io::ZipReader::from_memory(data, size, "fuzz.zip");
    for (const gen::io::ZipEntry& e : z.entries()) {
      // An accepted entry is found by its name and lies inside the archive.
      if (z.find(e.name) != &e) __builtin_trap();
      if (e.data_offset > size || e.compressed_size > size - e.data_offset) __builtin_trap();
      try {
        z.verify_crc(e);  // reads every byte of a stored entry
      } catch (const gen::Error&) {
      }
    }
  } catch (const gen::Error&) {
  }
  return 0;
}
