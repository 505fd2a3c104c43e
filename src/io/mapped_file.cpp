#include "io/mapped_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/fail.hpp"

namespace gen::io {
namespace {

[[noreturn]] void fail_errno(const std::string& path, const char* what, int err) {
  const ErrorCode code = (err == ENOENT || err == ENOTDIR) ? ErrorCode::NotFound
                         : (err == ENOMEM)                 ? ErrorCode::OutOfMemory
                                                           : ErrorCode::Io;
  const std::string problem = err == ENOENT ? std::string("no such file")
                                            : std::string(what) + ": " + std::strerror(err);
  fail(code, path, problem);
}

// Closes the descriptor on every path out of open().
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path) {
  if (path.empty()) fail(ErrorCode::InvalidArgument, "(empty path)", "no file name given");
  Fd f;
  // O_NONBLOCK: opening a FIFO must not hang; it is refused below.
  do {
    f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  } while (f.fd < 0 && errno == EINTR);
  if (f.fd < 0) {
    const int err = errno;
    struct stat st {};
    if (err == EISDIR || (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)))
      fail(ErrorCode::InvalidArgument, path, "is a folder, not a file");
    fail_errno(path, "cannot open", err);
  }
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) fail_errno(path, "cannot stat", errno);
  if (S_ISDIR(st.st_mode)) fail(ErrorCode::InvalidArgument, path, "is a folder, not a file");
  if (!S_ISREG(st.st_mode))
    fail(ErrorCode::InvalidArgument, path, "is not a regular file (a device, pipe or socket)");
  if (st.st_size <= 0) fail(ErrorCode::InvalidFormat, path, "file is empty (0 bytes)");

  std::shared_ptr<MappedFile> m(new MappedFile());
  m->path_ = path;
  m->size_ = static_cast<std::size_t>(st.st_size);
  void* p = ::mmap(nullptr, m->size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, f.fd, 0);
  if (p == MAP_FAILED) {
    m->size_ = 0;
    fail_errno(path, "cannot map", errno);
  }
  m->data_ = static_cast<std::uint8_t*>(p);
  return m;
}

void MappedFile::release(const void* p, std::size_t n) const noexcept {
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto lo = reinterpret_cast<std::uintptr_t>(p), hi = lo + n;
  const auto first = (lo + page - 1) / page * page, last = hi / page * page;
  const auto base = reinterpret_cast<std::uintptr_t>(data_);
  if (first < last && first >= base && last <= base + size_)
    ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(data_, size_);
}

}  // namespace gen::io
