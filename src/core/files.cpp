#include "core/files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/fail.hpp"

namespace gen::core {

void Fd::reset() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void fail_errno(const std::string& path, const std::string& what, int err, const std::string& noun) {
  if (err == ENAMETOOLONG)  // the caller's name, not the disk: an argument error
    fail(ErrorCode::InvalidArgument, path, "name too long (at most 255 bytes a component, 4095 in all)");
  const ErrorCode code = (err == ENOENT || err == ENOTDIR) ? ErrorCode::NotFound
                         : err == ENOMEM                   ? ErrorCode::OutOfMemory
                                                           : ErrorCode::Io;
  fail(code, path, err == ENOENT ? "no such " + noun : what + ": " + std::strerror(err));
}

Fd open_input(const std::string& path, std::size_t* size, const std::string& noun) {
  if (path.empty()) fail(ErrorCode::InvalidArgument, "(empty path)", "no file name given");
  Fd f;
  // O_NONBLOCK: opening a FIFO with no writer (or a device) must not wait; it is refused below.
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    const int err = errno;
    struct stat st {};
    if (err == EISDIR || (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)))
      fail(ErrorCode::InvalidArgument, path, "is a folder, not a file");
    fail_errno(path, "cannot open", err, noun);
  }
  f = Fd(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail_errno(path, "cannot stat", errno);
  if (S_ISDIR(st.st_mode)) fail(ErrorCode::InvalidArgument, path, "is a folder, not a file");
  if (!S_ISREG(st.st_mode)) fail(ErrorCode::InvalidArgument, path, "is not a regular file (a device, pipe or socket)");
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  if (size) *size = static_cast<std::size_t>(st.st_size);
  return f;
}

namespace {

// read(2) with EINTR retried; fails naming the file.
std::size_t read_some(int fd, char* to, std::size_t n, const std::string& path) {
  for (;;) {
    const ssize_t r = ::read(fd, to, n);
    if (r >= 0) return static_cast<std::size_t>(r);
    if (errno != EINTR) fail_errno(path, "read error", errno);
  }
}

std::string mib(std::size_t bytes) {
  return bytes >= (std::size_t(1) << 20) ? std::to_string(bytes >> 20) + " MiB" : std::to_string(bytes) + " bytes";
}

}  // namespace

std::string read_input(const std::string& path, std::size_t max_bytes, const std::string& what) {
  std::size_t size = 0;
  const Fd f = open_input(path, &size);
  auto too_large = [&] {
    fail(ErrorCode::InvalidArgument, path, "is larger than " + mib(max_bytes) + ", the most a " + what + " may be");
  };
  if (size > max_bytes) too_large();
  std::string text;
  text.resize(size + 1);  // one more byte than stat said, to see a file that grew
  std::size_t have = 0;
  for (;;) {
    if (have == text.size()) {
      if (text.size() > max_bytes) too_large();
      text.resize(std::min(text.size() * 2 + 64, max_bytes + 1));
    }
    const std::size_t r = read_some(f.get(), &text[have], text.size() - have, path);
    if (r == 0) break;
    have += r;
  }
  text.resize(have);
  if (have > max_bytes) too_large();
  return text;
}

std::string read_head(const std::string& path, std::size_t max_bytes) {
  const Fd f = open_input(path);
  std::string head(max_bytes, '\0');
  std::size_t have = 0;
  while (have < max_bytes) {
    const std::size_t r = read_some(f.get(), &head[have], max_bytes - have, path);
    if (r == 0) break;
    have += r;
  }
  head.resize(have);
  return head;
}

LineReader::LineReader(const std::string& path, std::size_t max_line, const std::string& noun)
    : path_(path), max_line_(max_line), fd_(open_input(path, nullptr, noun)) {}

bool LineReader::fill() {
  if (eof_) return false;
  if (pos_ > 0) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  const std::size_t chunk = 1 << 16, have = buf_.size();
  buf_.resize(have + chunk);
  const std::size_t r = read_some(fd_.get(), &buf_[have], chunk, path_);
  buf_.resize(have + r);
  if (r == 0) eof_ = true;
  return r > 0;
}

bool LineReader::next(std::string& line, bool* too_long) {
  if (too_long) *too_long = false;
  const auto refuse = [&] {  // the line being read is longer than max_line_
    if (!too_long)
      fail(ErrorCode::InvalidFormat, path_ + ":" + std::to_string(number_ + 1),
           "the line is longer than " + mib(max_line_));
  };
  std::size_t scanned = pos_;
  bool skipping = false;  // past max_line_: the rest of this line is read and dropped
  for (;;) {
    const auto nl = buf_.find('\n', scanned);
    if (nl != std::string::npos) {
      if (!skipping && nl - pos_ > max_line_ + 1) {  // + 1: a CR before the LF is not counted
        refuse();
        skipping = true;
      }
      if (!skipping) line.assign(buf_, pos_, nl - pos_);
      pos_ = nl + 1;
      break;
    }
    if (!skipping && buf_.size() - pos_ > max_line_ + 1) {
      refuse();
      skipping = true;
    }
    if (skipping) {
      buf_.clear();
      pos_ = 0;
    }
    scanned = buf_.size() - pos_;  // offsets move when fill() drops the consumed part
    if (!fill()) {
      if (pos_ >= buf_.size() && !skipping) return false;
      if (!skipping) line.assign(buf_, pos_, std::string::npos);
      pos_ = buf_.size();
      break;
    }
  }
  if (!skipping && !line.empty() && line.back() == '\r') line.pop_back();
  if (!skipping && line.size() > max_line_) {
    refuse();
    skipping = true;
  }
  ++number_;
  if (skipping) {
    line.clear();
    *too_long = true;
    return true;
  }
  return true;
}

}  // namespace gen::core
