#include "io/mapped_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/fail.hpp"
#include "core/files.hpp"

namespace gen::io {

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path) {
  if (path.empty()) fail(ErrorCode::InvalidArgument, "(empty path)", "no file name given");
  std::size_t size = 0;
  const core::Fd f = core::open_input(path, &size);  // a regular file, opened without blocking
  if (size == 0) fail(ErrorCode::InvalidFormat, path, "file is empty (0 bytes)");

  std::shared_ptr<MappedFile> m(new MappedFile());
  m->path_ = path;
  m->size_ = size;
  void* p = ::mmap(nullptr, m->size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, f.get(), 0);
  if (p == MAP_FAILED) {
    m->size_ = 0;
    core::fail_errno(path, "cannot map", errno);
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
