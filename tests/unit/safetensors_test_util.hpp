// Helpers for the safetensors tests: hand-made files and error checks.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "gen/error.hpp"

namespace gen_test {

// 8-byte little-endian length + header text + data bytes.
inline std::string st_bytes(const std::string& header, const std::string& data = "") {
  std::string out(8, '\0');
  const std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

// Same, with an explicit (possibly lying) length field.
inline std::string st_bytes_n(std::uint64_t n, const std::string& rest) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + rest;
}

// A fresh folder for the current test under $GEN_TMP (or the build tree).
inline std::string test_dir() {
  const char* env = std::getenv("GEN_TMP");
  std::filesystem::path base = env && *env ? env : GEN_BINARY_DIR "/tests/tmp";
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::filesystem::path dir =
      base / (std::string(info->test_suite_name()) + "." + info->name());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Runs `fn`, which must throw gen::Error with `code` and a message containing `part`.
inline ::testing::AssertionResult throws_error(const std::function<void()>& fn, gen::ErrorCode code,
                                               const std::string& part) {
  try {
    fn();
  } catch (const gen::Error& e) {
    const std::string msg = e.what();
    if (e.code() != code)
      return ::testing::AssertionFailure() << "code " << gen::code_name(e.code()) << ", expected "
                                           << gen::code_name(code) << "; message: " << msg;
    if (msg.find(part) == std::string::npos)
      return ::testing::AssertionFailure() << "message \"" << msg << "\" lacks \"" << part << "\"";
    return ::testing::AssertionSuccess() << msg;
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "threw a non-gen error: " << e.what();
  }
  return ::testing::AssertionFailure() << "did not throw";
}

}  // namespace gen_test
