// The project's Python (venv with the reference packages) for tests that cross-check with it:
// $GEN_PYTHON when set, else the one this build was configured with.
#pragma once

#include <cstdlib>
#include <fstream>
#include <string>

namespace gen::test {

inline std::string find_python() {
  if (const char* env = std::getenv("GEN_PYTHON"); env && *env) return env;
  std::ifstream cache(GEN_BINARY_DIR "/CMakeCache.txt");
  std::string line;
  const std::string key = "GEN_PYTHON:FILEPATH=";
  while (std::getline(cache, line))
    if (line.rfind(key, 0) == 0) return line.substr(key.size());
  return "";
}

}  // namespace gen::test
