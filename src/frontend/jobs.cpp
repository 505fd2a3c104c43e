#include "frontend/jobs.hpp"

#include "gen/metadata.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <optional>

#include "core/fail.hpp"
#include "frontend/request_paths.hpp"
#include "core/files.hpp"
#include "core/json.hpp"
#include "gen/request.hpp"

namespace gen::frontend {
namespace {

constexpr std::size_t kMaxLine = 1 << 20;  // 1 MiB: a request is a few hundred bytes

bool safe_id(const std::string& id) {
  if (id.empty() || id.size() > 128 || id[0] == '.' || id[0] == '-') return false;
  for (char c : id)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) return false;
  return true;
}

// Relative, no empty / "." / ".." component: stays inside the output folder.
bool inside_folder(const std::string& path) {
  if (path.empty() || path[0] == '/') return false;
  std::size_t start = 0;
  while (start <= path.size()) {
    const auto end = std::min(path.find('/', start), path.size());
    const auto part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

// The line's JSON and its id (every line's, so that ids are unique over the whole file).
nlohmann::json parse_id(Job& job, const std::string& text, const std::string& subject) {
  nlohmann::json j = core::parse_json(text, subject, ErrorCode::InvalidArgument);
  if (!j.is_object()) fail(ErrorCode::InvalidArgument, subject, "a job must be a JSON object (a request)");
  if (j.contains("id")) {
    const auto& v = j["id"];
    if (v.is_string()) job.id = v.get<std::string>();
    else if (v.is_number_unsigned()) job.id = std::to_string(v.get<std::uint64_t>());
    else fail(ErrorCode::InvalidArgument, subject, "field 'id' must be a string or a non-negative integer");
    if (!safe_id(job.id))
      fail(ErrorCode::InvalidArgument, subject,
           "id '" + core::json_excerpt(v) + "' must be 1 to 128 letters, digits, '.', '_' or '-', not starting with '.' or '-'");
    j.erase("id");
  }
  return j;
}

// The request and the output names of a job of this shard.
void parse_request(Job& job, nlohmann::json& j, const std::string& subject, const std::string& dir) {
  // Where a job's images go is the job file's business, not the request's.
  job.output = kJobOutput;
  if (j.contains("output")) {
    if (!j["output"].is_string()) fail(ErrorCode::InvalidArgument, subject, "field 'output' has the wrong type");
    job.output = j["output"].get<std::string>();
    if (job.output.empty()) fail(ErrorCode::InvalidArgument, subject + " (id " + job.id + ")", "output is empty");
    j.erase("output");
  }
  // How much the images say about their making (docs/metadata.md), like the output: the job file's.
  if (j.contains("metadata")) {
    if (!j["metadata"].is_string()) fail(ErrorCode::InvalidArgument, subject, "field 'metadata' has the wrong type");
    job.metadata = j["metadata"].get<std::string>();
    metadata_mode_from_name(job.metadata, subject + " (id " + job.id + ") metadata");
    j.erase("metadata");
  }
  auto r = Request::from_json(j.dump(), subject + " (id " + job.id + ")");
  // A job's relative paths are relative to the job file's folder (docs/batch.md).
  resolve_paths(r, dir);
  if (!r.seed) r.seed = job_seed(job.id);
  for (int b = 0; b < r.batch_count; ++b)
    for (int k = 0; k < r.batch_size; ++k) {
      const int index = b * r.batch_size + k;
      const auto seed = *r.seed + static_cast<std::uint64_t>(index);
      const auto out = output_path(job.output, index, seed, b, k, job.id);
      if (!inside_folder(out))
        fail(ErrorCode::InvalidArgument, subject + " (id " + job.id + ")",
             "output '" + out + "' leaves the output folder (give a relative path without '..')");
      if (out.size() < 5 || out.compare(out.size() - 4, 4, ".png") != 0)
        fail(ErrorCode::InvalidArgument, subject + " (id " + job.id + ")", "output '" + out + "' must end in .png");
      job.outputs.push_back(out);
      job.seeds.push_back(seed);
    }
  job.request = std::move(r);
}

}  // namespace

std::uint64_t job_seed(const std::string& id) {
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a 64
  for (unsigned char c : id) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return (h ^ (h >> 32)) & 0xffffffffu;
}

std::vector<Job> read_jobs(const std::string& path, const Shard& shard) {
  core::LineReader in(path, kMaxLine, "job file");  // a regular file, read a line at a time
  std::vector<Job> jobs;
  std::map<std::string, int> id_line;        // id → line of its first job
  std::map<std::string, std::string> owner;  // output → id of the job writing it (this shard)
  std::string text;
  int ordinal = 0;
  bool too_long = false;
  while (in.next(text, &too_long)) {
    const int line = in.number();
    if (line == 1 && text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);  // UTF-8 BOM
    if (!too_long && text.find_first_not_of(" \t") == std::string::npos) continue;
    Job job;
    job.line = line;
    job.ordinal = ordinal++;
    job.id = "line-" + std::to_string(line);
    const bool mine = shard.contains(job);
    const std::string subject = path + ":" + std::to_string(line);
    try {
      if (too_long) fail(ErrorCode::InvalidArgument, subject, "the line is longer than 1 MiB");
      auto j = parse_id(job, text, subject);
      if (auto it = id_line.find(job.id); it != id_line.end())
        fail(ErrorCode::InvalidArgument, subject, "id '" + job.id + "' is already used on line " + std::to_string(it->second));
      id_line.emplace(job.id, line);
      if (!mine) continue;  // another shard's: its request is that shard's work
      parse_request(job, j, subject, std::filesystem::path(path).parent_path().string());
      for (const auto& out : job.outputs)
        if (auto it = owner.find(out); it != owner.end())
          fail(ErrorCode::InvalidArgument, subject + " (id " + job.id + ")",
               "output '" + out + "' is also written by job " + it->second + " (add {job} or {seed} to 'output')");
      std::set<std::string> names(job.outputs.begin(), job.outputs.end());
      if (names.size() != job.outputs.size())
        fail(ErrorCode::InvalidArgument, subject + " (id " + job.id + ")",
             "its images would overwrite each other (add {index} to 'output')");
      for (const auto& out : job.outputs) owner.emplace(out, job.id);
    } catch (const Error& e) {
      if (!mine) continue;
      job.request.reset();
      job.error = e.code();
      job.message = e.what();
      // A field check (validate) names the field only: say which line it was.
      if (job.message.rfind(path + ":", 0) != 0) job.message = subject + " (id " + job.id + "): " + job.message;
      job.outputs.clear();
      job.seeds.clear();
    }
    id_line.emplace(job.id, line);
    jobs.push_back(std::move(job));
  }
  return jobs;
}

Shard parse_shard(const std::string& text) {
  Shard s;
  const auto slash = text.find('/');
  try {
    if (slash == std::string::npos) throw 1;
    std::size_t a = 0, b = 0;
    s.index = std::stoi(text.substr(0, slash), &a);
    s.count = std::stoi(text.substr(slash + 1), &b);
    if (a != slash || b != text.size() - slash - 1) throw 1;
  } catch (...) {
    fail(ErrorCode::InvalidArgument, "--shard", "'" + text + "' is not I/N (e.g. 0/4)");
  }
  if (s.count < 1 || s.index < 0 || s.index >= s.count)
    fail(ErrorCode::InvalidArgument, "--shard", "'" + text + "': need 0 <= I < N");
  return s;
}

std::set<std::string> completed_jobs(const std::string& results_path) {
  std::set<std::string> done;
  std::optional<core::LineReader> reader;
  try {
    reader.emplace(results_path, kMaxLine);
  } catch (const Error& e) {
    if (e.code() == ErrorCode::NotFound) return done;  // no earlier run
    throw;
  }
  auto& in = *reader;
  std::string text;
  bool too_long = false;
  while (in.next(text, &too_long)) {
    if (too_long) continue;
    try {
      const auto j = core::parse_json(text, results_path);
      if (j.is_object() && j.contains("status") && j["status"] == "ok" && j.contains("id") && j["id"].is_string())
        done.insert(j["id"].get<std::string>());
    } catch (const Error&) {
      // a torn line from a killed run: that job was not completed
    }
  }
  return done;
}

}  // namespace gen::frontend
