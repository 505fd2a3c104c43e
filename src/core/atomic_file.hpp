// gen — writing outputs safely. A file is written atomically: the bytes go to a hidden
// temporary file (a short name, whatever the target's length) in the target's folder, which
// is flushed to disk and renamed over the target only on commit(). A failure (or an object
// destroyed without commit) leaves no partial file. Only a regular file is ever replaced: a
// target that is a symbolic link, a folder, a device, a FIFO or a socket is refused.
//
// Outputs named relative to a folder (gen batch's -O) go through an OutputFolder: the folder
// is held open and every file and subfolder below it is reached with openat/mkdirat, one
// component at a time, never following a symbolic link, so a planted link cannot lead a
// write outside it.
#pragma once

#include <cstddef>
#include <string>

#include "core/files.hpp"

namespace gen {

class OutputFolder;

class AtomicFile {
 public:
  // Creates the temporary file beside `path` (its folder, which the caller named, may be
  // reached through links). InvalidArgument: empty path, a folder, or a target that is not a
  // regular file; NotFound: the folder does not exist; Io: cannot create a file there.
  explicit AtomicFile(std::string path);
  // The file `relative` below `folder` (see OutputFolder::open_parent; missing subfolders
  // are created).
  AtomicFile(const OutputFolder& folder, const std::string& relative);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, std::size_t size);  // Io on failure (disk full, …)
  // fsync, close, rename over the target (checked again to be a regular file or absent),
  // fsync the folder.
  void commit();
  // Instead of commit(): fsync and close (the first time), then give the file the name
  // `name` in the target's folder only if nothing has that name — link(), which never
  // replaces, and the temporary name removed — so a file another program created meanwhile
  // is never overwritten. False when `name` is taken (by anything); the file stays ready for
  // another name. (On a file system without hard links: renameat2 RENAME_NOREPLACE.)
  bool commit_new(const std::string& name);
  const std::string& path() const noexcept { return path_; }

 private:
  void create();
  std::string path_;  // as shown in messages
  core::Fd dir_;
  std::string name_;  // the target's name in dir_
  std::string temp_;  // the temporary's name in dir_
  int fd_ = -1;
  bool committed_ = false;
  void close_for_commit();
};

// One-shot form.
void write_file_atomic(const std::string& path, const void* data, std::size_t size);
void write_file_atomic(const OutputFolder& folder, const std::string& relative, const void* data, std::size_t size);

// `path` with "-K" before its extension: numbered_name("out/a.png", 2) = "out/a-2.png"
// (A1111's numbering of files that would collide; no extension: "a-2").
std::string numbered_name(const std::string& path, int k);

// Never over an existing file: writes under `path` or, when that name is taken, the first
// free numbered_name(path, K), K = 1, 2, … (up to 999999), each name claimed atomically with
// AtomicFile::commit_new. Returns the path written (below `folder`: the relative path).
// InvalidArgument/NotFound/Io as AtomicFile; Io when every numbered name is taken.
std::string write_file_new(const std::string& path, const void* data, std::size_t size);
std::string write_file_new(const OutputFolder& folder, const std::string& relative, const void* data, std::size_t size);

// Refuses, before any work, an output `path` that AtomicFile(path) would refuse: NotFound
// when its folder does not exist, InvalidArgument when it exists and is not a regular file.
void check_output_path(const std::string& path);

// The start of the temporary names written for a target called `name` (".gen-<hash>-"): a
// killed run's leftovers are recognised by it.
std::string temp_prefix(const std::string& name);

class OutputFolder {
 public:
  // Opens the folder `path` (the caller's choice: links in it are followed), creating it and
  // its parents first when `create`. NotFound / Io / InvalidArgument (not a folder).
  OutputFolder(const std::string& path, bool create);

  // The folder holding `relative` (a path below this folder: not absolute, no empty, "." or
  // ".." component — InvalidArgument otherwise), each component opened without following
  // links (InvalidArgument naming it when it is a link or not a folder) and created when
  // missing if `create` (else a missing one gives an invalid Fd). `name` gets the last
  // component.
  core::Fd open_parent(const std::string& relative, bool create, std::string* name) const;
  // True when `relative` is a regular file reached without following any link.
  bool has_regular_file(const std::string& relative) const;
  // The display path of `relative`: path/relative.
  std::string display(const std::string& relative) const;
  const std::string& path() const noexcept { return path_; }
  int fd() const noexcept { return fd_.get(); }

 private:
  std::string path_;
  core::Fd fd_;
};

}  // namespace gen
