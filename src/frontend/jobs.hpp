// gen — job files for `gen batch`: one request per line (JSON lines), the same schema as
// gen.request/1 plus an optional "id", "output" and "metadata" (docs/batch.md). Reading never throws for a bad line: the line
// becomes a failed job with its error, so a batch goes on past it. Also: deterministic
// shards, the results file (append-only JSON lines) and what --resume learns from it.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "gen/error.hpp"
#include "gen/output.hpp"
#include "gen/request.hpp"

namespace gen::frontend {

struct Job {
  int line = 0;                    // 1-based line in the file
  int ordinal = 0;                 // 0-based among the file's jobs (non-blank lines)
  std::string id;                  // the "id" field, or "line-<N>"
  std::optional<Request> request;  // absent when the line is bad
  std::string output;              // the output pattern (kJobOutput when the line names none)
  std::string metadata;            // the line's "metadata" (portable, full or none; "": the batch's --metadata)
  ErrorCode error = ErrorCode::Ok; // why, when it is bad
  std::string message;             // the whole error line, "<subject>: <problem>"
  std::vector<std::string> outputs;  // relative to the output folder, one per image
  std::vector<std::uint64_t> seeds;  // one per image

  bool ok() const { return request.has_value(); }
};

// The default output pattern of a job that names none.
inline constexpr const char* kJobOutput = "{job}-{index}-{seed}.png";

// "I/N": the I-th (0-based, as Slurm array indices from 0 and Kubernetes' completion
// index) of N slices; job k belongs to slice k mod N.
struct Shard {
  int index = 0;
  int count = 1;
  bool contains(const Job& job) const { return job.ordinal % count == index; }
};

// The jobs of `shard` in `path` (a regular file, read one line at a time; a line over 1 MiB
// becomes a failed job). Throws only when the file itself cannot be read. Every line's id
// is checked to be unique in the file, but only the shard's own jobs are parsed into
// requests and output names (other shards' work is theirs). A job with no seed gets one
// derived from its id (FNV-1a, 32 bits), so re-running or resuming a file renders the same
// images. Outputs are checked to stay inside the output folder (relative, no "..") and not
// to collide with an earlier job's of the same shard.
std::vector<Job> read_jobs(const std::string& path, const Shard& shard = {});
Shard parse_shard(const std::string& text);  // InvalidArgument when malformed

// The ids recorded with status "ok" in a results file (missing file: none). A torn last
// line (the process killed while writing it) is ignored.
std::set<std::string> completed_jobs(const std::string& results_path);

// The seed used for a job without one.
std::uint64_t job_seed(const std::string& id);

}  // namespace gen::frontend
