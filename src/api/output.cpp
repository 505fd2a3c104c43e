#include "gen/output.hpp"

namespace gen {

std::string output_path(const std::string& pattern, int index, std::uint64_t seed, int batch, int n,
                        const std::string& job) {
  std::string out;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    auto sub = [&](const char* key, const std::string& value) {
      const std::string k = std::string("{") + key + "}";
      if (pattern.compare(i, k.size(), k) == 0) {
        out += value;
        i += k.size() - 1;
        return true;
      }
      return false;
    };
    if (sub("index", std::to_string(index)) || sub("seed", std::to_string(seed)) || sub("batch", std::to_string(batch)) ||
        sub("n", std::to_string(n)) || sub("job", job))
      continue;
    out += pattern[i];
  }
  return out;
}

}  // namespace gen
