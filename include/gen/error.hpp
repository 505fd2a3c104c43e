// gen — the one error type used across the library, with stable codes.
#pragma once

#include "gen/export.hpp"

#include <stdexcept>
#include <string>

namespace gen {

// Every failure carries one of these kinds. The numeric value is the process
// exit code of the `gen` CLI (see docs/errors.md); never renumber.
enum class ErrorCode : int {
  Ok = 0,
  Internal = 1,         // a bug in gen; please report
  InvalidArgument = 2,  // bad command-line argument, request field or option
  NotFound = 3,         // a file, folder or tensor that should exist does not
  Io = 4,               // reading or writing failed (permissions, disk full, I/O error)
  InvalidFormat = 5,    // the file is not valid in its claimed format (corrupt, truncated, hostile)
  Unsupported = 6,      // valid, but a dtype, layout or feature gen does not support
  ModelMismatch = 7,    // missing, unexpected or mis-shaped tensors for the model
  UnsafeContent = 8,    // a pickled checkpoint holds something other than plain tensor data
  OutOfMemory = 9,      // host or device memory exhausted
  Cancelled = 10,       // the caller cancelled the work
  JobsFailed = 11,      // a batch finished but some of its jobs failed
};

// Short stable name of a code, e.g. "invalid-format".
GEN_API const char* code_name(ErrorCode code) noexcept;

class GEN_API Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message)
      : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }
  int exit_code() const noexcept { return static_cast<int>(code_); }

 private:
  ErrorCode code_;
};

}  // namespace gen
