// gen — what was read or computed from a file, kept while the file stays the same: its
// identity is its absolute path, size and modification time. Used for adapter and embedding
// files (read once per engine) and their A1111 short hashes (once per process).
#pragma once

#include <cstddef>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace gen::core {

// "absolute path|size|mtime"; a file that cannot be stat'ed gives its path with zeros.
std::string file_identity(const std::string& path);

// The `capacity` most recently used files' contents, as `read` makes them. Not thread-safe
// (one per engine, used under its lock).
template <class T>
class FileCache {
 public:
  explicit FileCache(std::size_t capacity) : capacity_(capacity) {}
  std::shared_ptr<const T> get(const std::string& path, const std::function<T(const std::string&)>& read) {
    const std::string key = file_identity(path);
    for (auto it = items_.begin(); it != items_.end(); ++it)
      if (it->first == key) {
        items_.splice(items_.begin(), items_, it);
        return items_.front().second;
      }
    auto value = std::make_shared<const T>(read(path));
    items_.emplace_front(key, value);
    while (items_.size() > capacity_) items_.pop_back();
    return value;
  }
  void clear() { items_.clear(); }

 private:
  std::size_t capacity_;
  std::list<std::pair<std::string, std::shared_ptr<const T>>> items_;  // most recently used first
};

// `compute(path)` once per file identity for the whole process (thread-safe); `table` names
// the memo so that different computations on one file do not mix.
std::string memo_by_file(const char* table, const std::string& path,
                         const std::function<std::string(const std::string&)>& compute);

}  // namespace gen::core
