#include "core/fail.hpp"

namespace gen {

const char* code_name(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::Ok: return "ok";
    case ErrorCode::Internal: return "internal";
    case ErrorCode::InvalidArgument: return "invalid-argument";
    case ErrorCode::NotFound: return "not-found";
    case ErrorCode::Io: return "io";
    case ErrorCode::InvalidFormat: return "invalid-format";
    case ErrorCode::Unsupported: return "unsupported";
    case ErrorCode::ModelMismatch: return "model-mismatch";
    case ErrorCode::UnsafeContent: return "unsafe-content";
    case ErrorCode::OutOfMemory: return "out-of-memory";
    case ErrorCode::Cancelled: return "cancelled";
    case ErrorCode::JobsFailed: return "jobs-failed";
  }
  return "unknown";
}

void fail(ErrorCode code, const std::string& subject, const std::string& problem) {
  throw Error(code, subject.empty() ? problem : subject + ": " + problem);
}

}  // namespace gen
