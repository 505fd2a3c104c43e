// The tiny models of tools/make_tiny_models.py (every layout, SD 1.x / 2.x / XL pipelines with
// the real CLIP vocabulary), made once per build tree on first use; a lock keeps parallel test
// processes from making them twice.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>

#include "test_python.hpp"

namespace gen::test {

inline std::string tiny_models() {
  static const std::string dir = [] {
    const std::string d = GEN_BINARY_DIR "/tests/tmp/api-models";
    ::mkdir(GEN_BINARY_DIR "/tests/tmp", 0755);
    const int lock = ::open((d + ".lock").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    if (lock >= 0) ::flock(lock, LOCK_EX);
    // Made again when the script changes (its content's hash in the done file).
    std::ifstream script(GEN_SOURCE_DIR "/tools/make_tiny_models.py", std::ios::binary);
    const std::string stamp =
        std::to_string(std::hash<std::string>{}(std::string(std::istreambuf_iterator<char>(script), {})));
    std::string done;
    std::getline(std::ifstream(d + "/done"), done);
    if (done != stamp) {
      const auto python = find_python();
      const std::string cmd = "'" + python + "' '" GEN_SOURCE_DIR "/tools/make_tiny_models.py' --out '" + d + "' > /dev/null";
      if (python.empty() || std::system(cmd.c_str()) != 0) ADD_FAILURE() << "could not make the tiny models: " << cmd;
      else std::ofstream(d + "/done") << stamp << "\n";
    }
    if (lock >= 0) ::close(lock);
    return d;
  }();
  return dir;
}

}  // namespace gen::test
