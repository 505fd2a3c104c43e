// Helpers for the safetensors tests: hand-made files and error checks.
#pragma once

// Plain POSIX for files and folders: in binaries linked with libtorch,
// std::filesystem::remove_all can bind to a broken copy exported by libtorch.so.
#include <gtest/gtest.h>
#include <dirent.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

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

inline bool path_exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// rm -rf
inline void remove_tree(const std::string& path) {
  if (!path_exists(path)) return;
  ::nftw(path.c_str(), [](const char* p, const struct stat*, int, struct FTW*) { return ::remove(p); },
         16, FTW_DEPTH | FTW_PHYS);
}

// mkdir -p
inline void make_dirs(const std::string& path) {
  for (std::size_t i = 1; i <= path.size(); ++i)
    if (i == path.size() || path[i] == '/') ::mkdir(path.substr(0, i).c_str(), 0755);
}

// Names in a folder, sorted, without "." and "..".
inline std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (const dirent* e = ::readdir(d)) {
      const std::string n = e->d_name;
      if (n != "." && n != "..") out.push_back(n);
    }
    ::closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

inline std::string current_dir() {
  char buf[4096];
  return ::getcwd(buf, sizeof buf) ? std::string(buf) : std::string(".");
}

// Changes the working folder for a scope.
struct ScopedCwd {
  std::string old = current_dir();
  explicit ScopedCwd(const std::string& dir) { EXPECT_EQ(::chdir(dir.c_str()), 0) << dir; }
  ~ScopedCwd() { (void)::chdir(old.c_str()); }
};

// A fresh folder for the current test under $GEN_TMP (or the build tree).
inline std::string test_dir() {
  const char* env = std::getenv("GEN_TMP");
  const std::string base = env && *env ? env : GEN_BINARY_DIR "/tests/tmp";
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string dir = base + "/" + info->test_suite_name() + "." + info->name();
  remove_tree(dir);
  make_dirs(dir);
  return dir;
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
