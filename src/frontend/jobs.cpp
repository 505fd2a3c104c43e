#include "core/fail.hpp"
#include "frontend/jobs.hpp"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>

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

void parse_line(Job& job, const std::string& text, const std::string& subject) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    std::string why = e.what();  // "[json.exception.parse_error.101] parse error at …"
    if (const auto b = why.find("] "); why.rfind("[json.exception", 0) == 0 && b != std::string::npos) why.erase(0, b + 2);
    fail(ErrorCode::InvalidArgument, subject, "not valid JSON: " + why);
  }
  if (!j.is_object()) fail(ErrorCode::InvalidArgument, subject, "a job must be a JSON object (a request)");
  if (j.contains("id")) {
    const auto& v = j["id"];
    if (v.is_string()) job.id = v.get<std::string>();
    else if (v.is_number_unsigned()) job.id = std::to_string(v.get<std::uint64_t>());
    else fail(ErrorCode::InvalidArgument, subject, "field 'id' must be a string or a non-negative integer");
    if (!safe_id(job.id))
      fail(ErrorCode::InvalidArgument, subject,
           "id '" + job.id + "' must be 1 to 128 letters, digits, '.', '_' or '-', not starting with '.' or '-'");
    j.erase("id");
  }
  // Where a job's images go is the job file's business, not the request's.
  job.output = kJobOutput;
  if (j.contains("output")) {
    if (!j["output"].is_string()) fail(ErrorCode::InvalidArgument, subject, "field 'output' has the wrong type");
    job.output = j["output"].get<std::string>();
    if (job.output.empty()) fail(ErrorCode::InvalidArgument, subject + " (id " + job.id + ")", "output is empty");
    j.erase("output");
  }
  auto r = Request::from_json(j.dump(), subject + " (id " + job.id + ")");
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

std::vector<Job> read_jobs(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) fail(ErrorCode::NotFound, path, "no such job file");
    fail(ErrorCode::Io, path, std::string("cannot read the job file: ") + std::strerror(errno));
  }
  std::vector<Job> jobs;
  std::map<std::string, int> id_line;        // id → line of its first job
  std::map<std::string, std::string> owner;  // output → id of the job writing it
  std::string text;
  int line = 0;
  while (std::getline(in, text)) {
    ++line;
    if (line == 1 && text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);  // UTF-8 BOM
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (text.find_first_not_of(" \t") == std::string::npos) continue;
    Job job;
    job.line = line;
    job.ordinal = static_cast<int>(jobs.size());
    job.id = "line-" + std::to_string(line);
    const std::string subject = path + ":" + std::to_string(line);
    try {
      if (text.size() > kMaxLine) fail(ErrorCode::InvalidArgument, subject, "the line is longer than 1 MiB");
      parse_line(job, text, subject);
      if (auto it = id_line.find(job.id); it != id_line.end())
        fail(ErrorCode::InvalidArgument, subject, "id '" + job.id + "' is already used on line " + std::to_string(it->second));
      for (const auto& out : job.outputs)
        if (auto it = owner.find(out); it != owner.end())
          fail(ErrorCode::InvalidArgument, subject + " (id " + job.id + ")",
               "output '" + out + "' is also written by job " + it->second + " (add {job} or {seed} to 'output')");
      std::set<std::string> mine(job.outputs.begin(), job.outputs.end());
      if (mine.size() != job.outputs.size())
        fail(ErrorCode::InvalidArgument, subject + " (id " + job.id + ")",
             "its images would overwrite each other (add {index} to 'output')");
      for (const auto& out : job.outputs) owner.emplace(out, job.id);
    } catch (const Error& e) {
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
  if (in.bad()) fail(ErrorCode::Io, path, "read error");
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
  std::ifstream in(results_path, std::ios::binary);
  if (!in) return done;
  std::string text;
  while (std::getline(in, text)) {
    try {
      const auto j = nlohmann::json::parse(text);
      if (j.is_object() && j.value("status", "") == "ok" && j.contains("id") && j["id"].is_string())
        done.insert(j["id"].get<std::string>());
    } catch (const nlohmann::json::exception&) {
      // a torn line from a killed run: that job was not completed
    }
  }
  return done;
}

}  // namespace gen::frontend
