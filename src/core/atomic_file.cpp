#include "core/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "core/fail.hpp"

namespace gen {
namespace {

[[noreturn]] void fail_errno(const std::string& path, const std::string& what, int err) {
  const ErrorCode code = (err == ENOENT || err == ENOTDIR) ? ErrorCode::NotFound
                         : err == ENOMEM                   ? ErrorCode::OutOfMemory
                                                           : ErrorCode::Io;
  fail(code, path, what + ": " + std::strerror(err));
}

std::string folder_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string base_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  if (path_.empty()) fail(ErrorCode::InvalidArgument, "(empty path)", "no output file name given");
  struct stat st {};
  if (::stat(path_.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    fail(ErrorCode::InvalidArgument, path_, "is a folder, not a file");
  static std::atomic<unsigned> counter{0};
  for (int attempt = 0; fd_ < 0; ++attempt) {
    const auto tick = std::chrono::steady_clock::now().time_since_epoch().count();
    temp_ = folder_of(path_) + "/." + base_of(path_) + ".gen-tmp-" + std::to_string(::getpid()) + "-" +
            std::to_string(counter++) + "-" + std::to_string(static_cast<unsigned long long>(tick) % 1000000007ull);
    fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd_ < 0) {
      const int err = errno;
      if (err == EINTR || (err == EEXIST && attempt < 100)) continue;
      temp_.clear();
      fail_errno(path_, "cannot create a file in " + folder_of(path_), err);
    }
  }
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !temp_.empty()) ::unlink(temp_.c_str());
}

void AtomicFile::write(const void* data, std::size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd_, p, std::min<std::size_t>(n, std::size_t(1) << 30));
    if (w < 0) {
      if (errno == EINTR) continue;
      fail_errno(path_, "write failed", errno);
    }
    if (w == 0) fail(ErrorCode::Io, path_, "write failed: no progress");
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

void AtomicFile::commit() {
  if (::fsync(fd_) != 0) fail_errno(path_, "fsync failed", errno);
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail_errno(path_, "close failed", errno);
  if (::rename(temp_.c_str(), path_.c_str()) != 0) fail_errno(path_, "cannot replace", errno);
  committed_ = true;
  const int dir = ::open(folder_of(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {  // make the rename itself durable
    ::fsync(dir);
    ::close(dir);
  }
}

void write_file_atomic(const std::string& path, const void* data, std::size_t size) {
  AtomicFile f(path);
  f.write(data, size);
  f.commit();
}

}  // namespace gen
