#include "memory_options.hpp"

#include <cctype>
#include <cmath>
#include <cstdlib>

#include "core/fail.hpp"

namespace gen::cli {

std::int64_t parse_memory_size(const std::string& text, const std::string& option) {
  auto bad = [&] {
    fail(ErrorCode::InvalidArgument, option,
         "'" + text + "' is not a memory size (a number of bytes, or with K, M, G or T: 8G, 512M, 1.5GiB)");
  };
  if (text.empty()) bad();
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || !std::isfinite(value) || value <= 0) bad();
  std::string unit(end);
  for (auto& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (unit.size() > 1 && unit.back() == 'B') unit.pop_back();                     // GB, GiB → G, Gi
  if (unit.size() > 1 && unit.back() == 'I') unit.pop_back();                     // Gi → G
  double scale = 1;
  if (unit == "K") scale = 1024.0;
  else if (unit == "M") scale = 1024.0 * 1024;
  else if (unit == "G") scale = 1024.0 * 1024 * 1024;
  else if (unit == "T") scale = 1024.0 * 1024 * 1024 * 1024;
  else if (!unit.empty() && unit != "B") bad();
  const double bytes = value * scale;
  if (bytes < 1 || bytes > 9.0e18) bad();
  return static_cast<std::int64_t>(bytes);
}

void add_memory_options(CLI::App& app, EngineOptions& options) {
  app.add_flag_function(
      "--no-memory-guard", [&options](std::int64_t) { options.memory_guard = false; },
      "Run a request even when its estimated peak memory exceeds what is free (docs/performance.md#memory-guard)");
  app.add_option_function<std::string>(
      "--memory-limit", [&options](const std::string& v) { options.memory_limit = parse_memory_size(v, "--memory-limit"); },
      "The memory guard refuses requests estimated to peak above SIZE (e.g. 8G; default: what is free)");
}

}  // namespace gen::cli
