// gen — opening files safely, for every reader and writer of the library and the CLI.
// Inputs: one way to open any file gen reads (weights, configs, images, job and results
// files): never blocks (a FIFO or device is refused, not waited on), requires a regular
// file, and reads with a size cap checked while reading (a file that grows, or a size
// that lies, cannot make gen read more than the cap). docs/errors.md lists the refusals.
#pragma once

#include <cstddef>
#include <string>

namespace gen::core {

// An open file descriptor, closed when destroyed.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = o.release();
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const noexcept { return fd_; }
  int release() noexcept {
    const int f = fd_;
    fd_ = -1;
    return f;
  }
  void reset() noexcept;

 private:
  int fd_ = -1;
};

// Throws the gen::Error for a failed system call on `path`: NotFound (ENOENT, ENOTDIR),
// OutOfMemory (ENOMEM), InvalidArgument (ENAMETOOLONG: "name too long") or Io, with "<what>: <strerror>" ("no such <noun>" for ENOENT).
[[noreturn]] void fail_errno(const std::string& path, const std::string& what, int err, const std::string& noun = "file");

// Opens `path` for reading (links followed: the user named it). Refuses, without blocking,
// anything but a regular file: a folder (InvalidArgument "is a folder, not a file"), a FIFO,
// socket or device (InvalidArgument "is not a regular file"). NotFound, Io (permission).
// On return the descriptor is blocking again and `size` (if given) holds the file's size.
// `noun` names the kind of file in the NotFound message ("no such job file").
Fd open_input(const std::string& path, std::size_t* size = nullptr, const std::string& noun = "file");

// The whole of a small input file (a config, a request, a vocabulary): at most `max_bytes`,
// counted while reading; a larger file is refused naming `what` and the cap
// (InvalidArgument "is larger than N MiB, the most a <what> may be").
std::string read_input(const std::string& path, std::size_t max_bytes, const std::string& what);

// The first `max_bytes` bytes of an input file (fewer when it is shorter), opened as
// open_input opens it: to tell formats apart by their first bytes.
std::string read_head(const std::string& path, std::size_t max_bytes);

// Reads a text file line by line (LF or CRLF), never holding more than one line (and one
// 64 KiB read) in memory.
class LineReader {
 public:
  LineReader(const std::string& path, std::size_t max_line, const std::string& noun = "file");
  // The next line without its newline; false at the end of the file. A line longer than
  // `max_line` bytes is refused (InvalidFormat naming the file and line) as soon as that many
  // bytes were read without a newline, or, when `too_long` is given, read past and dropped:
  // `line` is empty and *too_long true. number() is the line's 1-based number.
  bool next(std::string& line, bool* too_long = nullptr);
  int number() const noexcept { return number_; }

 private:
  bool fill();
  std::string path_;
  std::size_t max_line_;
  Fd fd_;
  std::string buf_;
  std::size_t pos_ = 0;
  bool eof_ = false;
  int number_ = 0;
};

}  // namespace gen::core
