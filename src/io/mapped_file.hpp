// RAII memory mapping of a whole regular file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace gen::io {

// The whole file, mapped MAP_PRIVATE with PROT_READ | PROT_WRITE: the pages are
// copy-on-write, so a stray write through a tensor pointer changes only this
// process's copy, never the file. Throws gen::Error: NotFound (missing),
// InvalidArgument (a folder or not a regular file), Io (permissions, I/O),
// InvalidFormat (an empty file).
class MappedFile {
 public:
  static std::shared_ptr<MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const noexcept { return path_; }
  std::uint8_t* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  // Drops this process's pages of [p, p + n) (whole pages inside the range only): once a
  // tensor is copied out, its source pages need not stay resident beside the copy. A
  // later read maps them again from the file (nothing here writes to the mapping).
  void release(const void* p, std::size_t n) const noexcept;

 private:
  MappedFile() = default;
  std::string path_;
  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace gen::io
