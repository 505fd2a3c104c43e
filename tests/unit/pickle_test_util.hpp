// Helpers shared by the ZIP / pickle / convert tests.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gen/error.hpp"

namespace gen::testing {

inline std::string pickle_fixture(const std::string& name) {
  return std::string(GEN_TEST_DATA_DIR) + "/pickle/" + name;
}

inline std::vector<std::uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void write_bytes(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// A scratch folder for this test binary: $GEN_TMP, else <build>/tests/tmp.
inline std::string scratch_dir(const std::string& sub) {
  const char* env = std::getenv("GEN_TMP");
  std::filesystem::path dir = env != nullptr && env[0] != '\0' ? std::filesystem::path(env)
                                                                : std::filesystem::path(GEN_BINARY_DIR) / "tests" / "tmp";
  dir /= sub;
  std::filesystem::create_directories(dir);
  return dir.string();
}

inline std::string fnv1a64(const std::uint8_t* p, std::size_t n) {
  std::uint64_t h = 0xCBF29CE484222325ull;
  for (std::size_t k = 0; k < n; ++k) {
    h ^= p[k];
    h *= 0x100000001B3ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

inline const nlohmann::json& expected_values() {
  static const nlohmann::json j = [] {
    std::ifstream in(pickle_fixture("expected.json"));
    return nlohmann::json::parse(in);
  }();
  return j;
}

// Runs `f`, which must throw gen::Error with `code` and a message containing
// every string of `needles`.
inline void expect_error(const std::function<void()>& f, ErrorCode code,
                         const std::vector<std::string>& needles = {}) {
  try {
    f();
    ADD_FAILURE() << "no error thrown, expected code " << code_name(code);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    for (const auto& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
  }
}

}  // namespace gen::testing
