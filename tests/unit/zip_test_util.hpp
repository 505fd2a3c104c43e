// A tiny stored ZIP archive built by hand (no zlib, no gtest): shared by the ZIP and
// pickle unit tests and the pickle fuzzer (tests/fuzz/fuzz_pickle.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "io/zip_reader.hpp"

namespace gen::testing {

// One stored entry per (name, data), in order, with a plain (not zip64) end record.
inline std::vector<std::uint8_t> make_zip(const std::vector<std::pair<std::string, std::string>>& files) {
  std::vector<std::uint8_t> z, cd;
  auto put = [](std::vector<std::uint8_t>& v, std::uint64_t x, int bytes) {
    for (int k = 0; k < bytes; ++k) v.push_back(static_cast<std::uint8_t>(x >> (8 * k)));
  };
  for (const auto& [name, data] : files) {
    const std::uint32_t crc = gen::io::crc32(reinterpret_cast<const std::uint8_t*>(data.data()), data.size());
    const std::size_t offset = z.size();
    put(z, 0x04034b50, 4); put(z, 20, 2); put(z, 0, 2); put(z, 0, 2); put(z, 0, 4);
    put(z, crc, 4); put(z, data.size(), 4); put(z, data.size(), 4);
    put(z, name.size(), 2); put(z, 0, 2);
    z.insert(z.end(), name.begin(), name.end());
    z.insert(z.end(), data.begin(), data.end());
    put(cd, 0x02014b50, 4); put(cd, 20, 2); put(cd, 20, 2); put(cd, 0, 2); put(cd, 0, 2); put(cd, 0, 4);
    put(cd, crc, 4); put(cd, data.size(), 4); put(cd, data.size(), 4);
    put(cd, name.size(), 2); put(cd, 0, 2); put(cd, 0, 2); put(cd, 0, 2); put(cd, 0, 2); put(cd, 0, 4);
    put(cd, offset, 4);
    cd.insert(cd.end(), name.begin(), name.end());
  }
  const std::size_t cd_offset = z.size();
  z.insert(z.end(), cd.begin(), cd.end());
  put(z, 0x06054b50, 4); put(z, 0, 2); put(z, 0, 2); put(z, files.size(), 2); put(z, files.size(), 2);
  put(z, cd.size(), 4); put(z, cd_offset, 4); put(z, 0, 2);
  return z;
}

}  // namespace gen::testing
