#include "core/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "core/fail.hpp"
#include "core/fs.hpp"

namespace gen {
namespace {

using core::Fd;
using core::fail_errno;

std::string base_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Throws unless `name` in `dir` is absent or a regular file (not followed if a link).
void check_replaceable(int dir, const std::string& name, const std::string& shown) {
  struct stat st {};
  if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return;
    fail_errno(shown, "cannot check the output file", errno);
  }
  if (S_ISREG(st.st_mode)) return;
  if (S_ISDIR(st.st_mode)) fail(ErrorCode::InvalidArgument, shown, "is a folder, not a file");
  fail(ErrorCode::InvalidArgument, shown,
       std::string("exists and is ") +
           (S_ISLNK(st.st_mode) ? "a symbolic link" : "not a regular file (a device, pipe or socket)") +
           ": gen only replaces regular files; remove it or choose another name");
}

// The components of a path below a folder; InvalidArgument when it could leave it.
std::vector<std::string> components(const std::string& relative, const std::string& shown) {
  std::vector<std::string> parts;
  if (relative.empty() || relative[0] == '/')
    fail(ErrorCode::InvalidArgument, shown, "must be a relative path inside the output folder");
  std::size_t start = 0;
  while (start <= relative.size()) {
    const auto end = std::min(relative.find('/', start), relative.size());
    auto part = relative.substr(start, end - start);
    if (part.empty() || part == "." || part == "..")
      fail(ErrorCode::InvalidArgument, shown, "leaves the output folder (an empty, '.' or '..' component)");
    parts.push_back(std::move(part));
    start = end + 1;
  }
  return parts;
}

}  // namespace

std::string temp_prefix(const std::string& name) {
  std::uint32_t h = 2166136261u;  // FNV-1a 32
  for (unsigned char c : name) h = (h ^ c) * 16777619u;
  char buf[24];
  std::snprintf(buf, sizeof buf, ".gen-%08x-", h);
  return buf;
}

// ---------------------------------------------------------------- OutputFolder

OutputFolder::OutputFolder(const std::string& path, bool create) : path_(path.empty() ? "." : path) {
  if (create && !core::is_dir(path_)) {
    // mkdir -p, one component at a time (the caller's own path: links followed).
    for (std::size_t at = 1; at <= path_.size(); ++at)
      if (at == path_.size() || path_[at] == '/') {
        const auto prefix = path_.substr(0, at);
        if (::mkdir(prefix.c_str(), 0777) != 0 && errno != EEXIST)
          fail_errno(path_, "cannot create the output folder", errno);
      }
  }
  const int fd = ::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOTDIR) fail(ErrorCode::InvalidArgument, path_, "is not a folder");
    fail_errno(path_, "cannot open the output folder", errno);
  }
  fd_ = Fd(fd);
}

std::string OutputFolder::display(const std::string& relative) const { return core::join(path_, relative); }

Fd OutputFolder::open_parent(const std::string& relative, bool create, std::string* name) const {
  const std::string shown = display(relative);
  const auto parts = components(relative, shown);
  Fd dir(::dup(fd_.get()));
  if (dir.get() < 0) fail_errno(path_, "cannot open the output folder", errno);
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    const char* part = parts[i].c_str();
    int fd = ::openat(dir.get(), part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
      if (!create) return Fd();
      if (::mkdirat(dir.get(), part, 0777) != 0 && errno != EEXIST)
        fail_errno(shown, "cannot create the folder '" + parts[i] + "'", errno);
      fd = ::openat(dir.get(), part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0) {
      if (errno == ELOOP || errno == ENOTDIR)
        fail(ErrorCode::InvalidArgument, shown,
             "'" + parts[i] + "' is a symbolic link or not a folder: outputs stay inside the output folder");
      fail_errno(shown, "cannot open the folder '" + parts[i] + "'", errno);
    }
    dir = Fd(fd);
  }
  if (name) *name = parts.back();
  return dir;
}

bool OutputFolder::has_regular_file(const std::string& relative) const {
  std::string name;
  Fd dir;
  try {
    dir = open_parent(relative, false, &name);
  } catch (const Error&) {
    return false;
  }
  struct stat st {};
  return dir.get() >= 0 && ::fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

// ---------------------------------------------------------------- AtomicFile

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  if (path_.empty()) fail(ErrorCode::InvalidArgument, "(empty path)", "no output file name given");
  name_ = base_of(path_);
  if (name_.empty() || name_ == "." || name_ == "..") fail(ErrorCode::InvalidArgument, path_, "is a folder, not a file");
  const std::string folder = core::dirname(path_);
  const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) {
    if (errno == ENOENT) fail(ErrorCode::NotFound, path_, "the output folder " + folder + " does not exist");
    fail_errno(path_, "cannot open the folder " + folder, errno);
  }
  dir_ = Fd(dir);
  create();
}

AtomicFile::AtomicFile(const OutputFolder& folder, const std::string& relative) : path_(folder.display(relative)) {
  dir_ = folder.open_parent(relative, true, &name_);
  create();
}

void AtomicFile::create() {
  check_replaceable(dir_.get(), name_, path_);
  static std::atomic<unsigned> counter{0};
  const std::string prefix = temp_prefix(name_) + std::to_string(::getpid()) + "-";
  for (int attempt = 0; fd_ < 0; ++attempt) {
    temp_ = prefix + std::to_string(counter++) + ".tmp";
    fd_ = ::openat(dir_.get(), temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd_ < 0) {
      const int err = errno;
      if (err == EINTR || (err == EEXIST && attempt < 100)) continue;
      temp_.clear();
      fail_errno(path_, "cannot create a file in " + core::dirname(path_), err);
    }
  }
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !temp_.empty()) ::unlinkat(dir_.get(), temp_.c_str(), 0);
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

void AtomicFile::close_for_commit() {
  if (fd_ < 0) return;  // closed by an earlier commit_new
  if (::fsync(fd_) != 0) fail_errno(path_, "fsync failed", errno);
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail_errno(path_, "close failed", errno);
}

bool AtomicFile::commit_new(const std::string& name) {
  close_for_commit();
  if (::linkat(dir_.get(), temp_.c_str(), dir_.get(), name.c_str(), 0) == 0) {
    ::unlinkat(dir_.get(), temp_.c_str(), 0);
  } else {
    const int err = errno;
    if (err == EEXIST) return false;
    if (err != EPERM && err != EOPNOTSUPP && err != ENOSYS && err != EMLINK)
      fail_errno(path_, "cannot create " + name, err);
    // No hard links here (FAT, some network and FUSE file systems): a rename that refuses to replace.
    if (::renameat2(dir_.get(), temp_.c_str(), dir_.get(), name.c_str(), RENAME_NOREPLACE) != 0) {
      if (errno == EEXIST) return false;
      fail_errno(path_, "cannot create " + name + " without the risk of replacing a file (no link() nor RENAME_NOREPLACE here)", errno);
    }
  }
  committed_ = true;
  ::fsync(dir_.get());
  return true;
}

void AtomicFile::commit() {
  close_for_commit();
  check_replaceable(dir_.get(), name_, path_);  // something may have appeared meanwhile
  if (::renameat(dir_.get(), temp_.c_str(), dir_.get(), name_.c_str()) != 0)
    fail_errno(path_, "cannot replace", errno);
  committed_ = true;
  ::fsync(dir_.get());  // make the rename itself durable
}

void check_output_path(const std::string& path) {
  if (path.empty()) fail(ErrorCode::InvalidArgument, "(empty path)", "no output file name given");
  const std::string folder = core::dirname(path), name = base_of(path);
  if (name.empty() || name == "." || name == "..") fail(ErrorCode::InvalidArgument, path, "is a folder, not a file");
  const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) {
    if (errno == ENOENT) fail(ErrorCode::NotFound, path, "the output folder " + folder + " does not exist");
    fail_errno(path, "cannot open the folder " + folder, errno);
  }
  const Fd held(dir);
  check_replaceable(dir, name, path);
}

std::string numbered_name(const std::string& path, int k) {
  const auto slash = path.rfind('/');
  auto dot = path.rfind('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash) || dot == (slash == std::string::npos ? 0 : slash + 1))
    dot = path.size();
  return path.substr(0, dot) + "-" + std::to_string(k) + path.substr(dot);
}

namespace {

// Claims the first free name of `shown_path` / its numbered variants for `file`; returns K (0: the name itself).
int claim_free_name(AtomicFile& file, const std::string& shown_path) {
  const std::string base = base_of(shown_path);
  if (file.commit_new(base)) return 0;
  for (int k = 1; k < 1000000; ++k)
    if (file.commit_new(base_of(numbered_name(shown_path, k)))) return k;
  fail(ErrorCode::Io, shown_path, "exists, and so do a million numbered variants: pass --overwrite or another name");
}

}  // namespace

std::string write_file_new(const std::string& path, const void* data, std::size_t size) {
  AtomicFile f(path);
  f.write(data, size);
  const int k = claim_free_name(f, path);
  return k == 0 ? path : numbered_name(path, k);
}

std::string write_file_new(const OutputFolder& folder, const std::string& relative, const void* data, std::size_t size) {
  AtomicFile f(folder, relative);
  f.write(data, size);
  const int k = claim_free_name(f, relative);
  return k == 0 ? relative : numbered_name(relative, k);
}

void write_file_atomic(const std::string& path, const void* data, std::size_t size) {
  AtomicFile f(path);
  f.write(data, size);
  f.commit();
}

void write_file_atomic(const OutputFolder& folder, const std::string& relative, const void* data, std::size_t size) {
  AtomicFile f(folder, relative);
  f.write(data, size);
  f.commit();
}

}  // namespace gen
