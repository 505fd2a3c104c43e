// gen — writing a file atomically: the bytes go to a hidden temporary file in the
// target's folder, which is flushed to disk and renamed over the target only on
// commit(). A failure (or an object destroyed without commit) leaves no partial file.
#pragma once

#include <cstddef>
#include <string>

namespace gen {

class AtomicFile {
 public:
  // Creates the temporary file. InvalidArgument: empty path or a folder; NotFound:
  // the folder does not exist; Io: cannot create a file there.
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, std::size_t size);  // Io on failure (disk full, …)
  // fsync, close, rename over the target, fsync the folder.
  void commit();
  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
  std::string temp_;
  int fd_ = -1;
  bool committed_ = false;
};

// One-shot form.
void write_file_atomic(const std::string& path, const void* data, std::size_t size);

}  // namespace gen
