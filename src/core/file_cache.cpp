#include "core/file_cache.hpp"

#include <filesystem>
#include <sstream>

namespace gen::core {
namespace fs = std::filesystem;

std::string file_identity(const std::string& path) {
  std::error_code ec;
  std::ostringstream k;
  const auto size = fs::file_size(path, ec);
  k << fs::absolute(path, ec).string() << '|' << (ec ? 0 : size) << '|';
  const auto mtime = fs::last_write_time(path, ec);
  k << (ec ? 0 : mtime.time_since_epoch().count());
  return k.str();
}

std::string memo_by_file(const char* table, const std::string& path,
                         const std::function<std::string(const std::string&)>& compute) {
  static std::mutex mutex;
  static std::map<std::string, std::string> memo;
  const std::string key = std::string(table) + '\n' + file_identity(path);
  {
    std::lock_guard<std::mutex> lock(mutex);
    const auto it = memo.find(key);
    if (it != memo.end()) return it->second;
  }
  std::string value = compute(path);
  std::lock_guard<std::mutex> lock(mutex);
  memo[key] = value;
  return value;
}

}  // namespace gen::core
