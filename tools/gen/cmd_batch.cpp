// `gen batch JOBS.jsonl`: many requests, models loaded once, results appended per job,
// --resume after any interruption, --shard I/N for job arrays. docs/batch.md.
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "gen/engine.hpp"
#include "core/atomic_file.hpp"
#include "core/fail.hpp"
#include "core/fs.hpp"
#include "gen/image.hpp"
#include "frontend/jobs.hpp"
#include "gen/metadata.hpp"
#include "memory_options.hpp"
#include "progress.hpp"
#include "request_options.hpp"

namespace gen::cli {
namespace {

struct Options {
  std::string jobs;
  std::string output_dir = ".";
  std::string results;
  std::string shard = "0/1";
  bool resume = false;
  EngineOptions engine;
  std::string progress = "auto";
  bool quiet = false;
  bool overwrite = false;
  std::string metadata = "portable";  // --metadata: jobs without their own "metadata"
};

// The results file: opened for appending without following a link and without blocking
// (it must be a regular file: a FIFO or device is refused, not waited on), locked against
// a second process on the same file, one JSON line per job written in one call and
// flushed to disk.
class Results {
 public:
  Results(const std::string& path, bool resume) : path_(path) {
    fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0644);
    if (fd_ < 0) {
      if (errno == ELOOP)
        fail(ErrorCode::InvalidArgument, path, "the results file is a symbolic link: gen writes only regular files");
      if (errno == ENXIO)  // a FIFO nobody reads
        fail(ErrorCode::InvalidArgument, path, "the results file is not a regular file (a device, pipe or socket)");
      fail(ErrorCode::Io, path, std::string("cannot open the results file: ") + std::strerror(errno));
    }
    struct stat st {};
    if (::fstat(fd_, &st) != 0) fail(ErrorCode::Io, path, std::string("cannot stat the results file: ") + std::strerror(errno));
    if (!S_ISREG(st.st_mode))
      fail(ErrorCode::InvalidArgument, path, "the results file is not a regular file (a device, pipe or socket)");
    if (const int flags = ::fcntl(fd_, F_GETFL); flags >= 0) ::fcntl(fd_, F_SETFL, flags & ~O_NONBLOCK);
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0)
      fail(ErrorCode::Io, path, "another gen batch is writing this results file (one process per shard)");
    if (!resume && st.st_size > 0)
      fail(ErrorCode::InvalidArgument, path,
           "exists from an earlier run: pass --resume to skip its completed jobs, or remove it to start over");
  }
  ~Results() {
    if (fd_ >= 0) ::close(fd_);
  }
  void append(const nlohmann::json& record) {
    const std::string line = record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    if (::write(fd_, line.data(), line.size()) != static_cast<ssize_t>(line.size()) || ::fsync(fd_) != 0)
      fail(ErrorCode::Io, path_, std::string("cannot append to the results file: ") + std::strerror(errno));
  }

 private:
  std::string path_;
  int fd_ = -1;
};

nlohmann::json timings_json(const Timings& t) {
  return {{"load_s", t.load}, {"models_loaded", t.models_loaded}, {"lora_s", t.lora}, {"encode_s", t.encode},
          {"denoise_s", t.denoise}, {"decode_s", t.decode}, {"total_s", t.total}};
}

// The "gen" chunk of an image's metadata ("" when --metadata none writes none: never equal to a
// file's, whose absence is not a match).
std::string gen_chunk(const std::map<std::string, std::string>& meta) {
  const auto it = meta.find("gen");
  return it == meta.end() ? std::string("\x01none") : it->second;
}

// An image already on disk from an earlier run of this very job (its "gen" metadata equal; an
// image written with --metadata none cannot tell and is rendered again),
// reached inside the output folder without following links: at `relative` or, as the earlier
// run may have found that name taken, at one of its numbered names (up to the first free one).
// Returns where ("": nowhere). `numbered` false: only `relative` (--overwrite writes there).
std::string already_written(const OutputFolder& folder, const std::string& relative, const std::string& expected_meta,
                            bool numbered = true) {
  for (int k = 0; k < (numbered ? 1000000 : 1); ++k) {
    const auto candidate = k == 0 ? relative : numbered_name(relative, k);
    if (!folder.has_regular_file(candidate)) {
      std::string name;
      core::Fd dir;
      try {
        dir = folder.open_parent(candidate, false, &name);
      } catch (const Error&) {
        return "";
      }
      struct stat st {};
      // Something that is not a regular file holds the name: the earlier run skipped it too.
      if (dir.get() >= 0 && ::fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) continue;
      return "";
    }
    try {
      const auto text = read_png_text(folder.display(candidate));
      const auto it = text.find("gen");
      if (it != text.end() && it->second == expected_meta) return candidate;
    } catch (const Error&) {
    }
  }
  return "";
}

// Temporary files a killed run left beside this shard's outputs (the atomic writer's
// temp_prefix(name)). Only this shard writes these names, so none belongs to a live process.
int remove_stale_temps(const OutputFolder& folder, const std::vector<frontend::Job>& jobs) {
  std::map<std::string, std::set<std::string>> prefixes;  // subfolder (relative) → temporary name prefixes
  for (const auto& job : jobs)
    for (const auto& out : job.outputs) {
      const auto slash = out.rfind('/');
      const std::string sub = slash == std::string::npos ? "" : out.substr(0, slash);
      prefixes[sub].insert(temp_prefix(out.substr(slash == std::string::npos ? 0 : slash + 1)));
    }
  int removed = 0;
  for (const auto& [sub, starts] : prefixes) {
    core::Fd dir;
    try {
      dir = sub.empty() ? core::Fd(::dup(folder.fd())) : folder.open_parent(sub + "/x", false, nullptr);
    } catch (const Error&) {
      continue;  // a link or not a folder: nothing of ours is there
    }
    if (dir.get() < 0) continue;
    const int listing = ::dup(dir.get());
    DIR* d = listing >= 0 ? ::fdopendir(listing) : nullptr;
    if (!d) {
      if (listing >= 0) ::close(listing);
      continue;
    }
    std::vector<std::string> stale;
    while (const dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      for (const auto& start : starts)
        if (name.rfind(start, 0) == 0 && name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0) stale.push_back(name);
    }
    ::closedir(d);
    for (const auto& name : stale)
      if (::unlinkat(dir.get(), name.c_str(), 0) == 0) ++removed;
  }
  return removed;
}

int run(Options& o) {
  const auto shard = frontend::parse_shard(o.shard);
  // The engine's options are checked before anything is written (no empty results file).
  environment_defaults(o.engine);
  Engine engine(o.engine);
  const auto mine = frontend::read_jobs(o.jobs, shard);
  const OutputFolder folder(o.output_dir, true);
  if (o.results.empty()) {
    std::string stem = std::filesystem::path(o.jobs).filename().string();
    if (const auto dot = stem.rfind('.'); dot != std::string::npos && dot > 0) stem.erase(dot);
    o.results = o.output_dir + "/" + stem + ".results" +
                (shard.count > 1 ? "." + std::to_string(shard.index) + "-of-" + std::to_string(shard.count) : "") +
                ".jsonl";
  }
  Results results(o.results, o.resume);
  const auto done = o.resume ? frontend::completed_jobs(o.results) : std::set<std::string>{};

  if (o.resume) remove_stale_temps(folder, mine);

  const bool json = o.progress == "json";
  BarLine bar(!o.quiet && !json && (o.progress == "bar" || (o.progress == "auto" && ::isatty(2))));
  auto emit = [&](const nlohmann::json& event) {
    if (!json) return;
    std::printf("%s\n", event.dump().c_str());
    std::fflush(stdout);
  };
  auto say = [&](const std::string& line) {
    if (o.quiet || json) return;
    bar.message(line);
  };

  // SIGINT / SIGTERM stop the job running between two blocks of a model call; --resume goes on.
  const SignalStop stop(engine);
  int ok = 0, failed = 0, skipped = 0, position = 0;
  bool cancelled = false;
  const auto total = static_cast<int>(mine.size());
  // The total ETA: over the jobs to render (not those done by an earlier run or unreadable),
  // from the time rendering started.
  int to_render = 0, rendered = 0;
  for (const auto& j : mine) to_render += j.ok() && !done.count(j.id) ? 1 : 0;
  const auto t_run = std::chrono::steady_clock::now();
  double render_from = -1;  // seconds into the run when the first step's batch started
  for (const auto& one_job : mine) {
    const auto* job = &one_job;
    ++position;
    if (SignalStop::requested()) {
      cancelled = true;
      break;
    }
    nlohmann::json record = {{"id", job->id}, {"line", job->line}, {"shard", o.shard}};
    if (job->ok() && done.count(job->id)) {
      ++skipped;
      continue;
    }
    if (!job->ok()) {
      ++failed;
      record["status"] = "failed";
      record["error"] = {{"code", code_name(job->error)}, {"exit_code", static_cast<int>(job->error)},
                         {"message", job->message}};
      results.append(record);
      emit({{"event", "job"}, {"id", job->id}, {"status", "failed"}, {"outputs", nlohmann::json::array()},
            {"error", job->message}});
      say("gen: job " + job->id + " failed [" + code_name(job->error) + "]: " + job->message);
      continue;
    }
    // Filled here (as the engine would) so the expected metadata of written images is known.
    const Request r = with_defaults(*job->request, o.engine);
    const MetadataMode metadata = metadata_mode_from_name(job->metadata.empty() ? o.metadata : job->metadata);
    Timings sum;
    int reused = 0;
    std::vector<std::string> written;
    const auto t0 = std::chrono::steady_clock::now();
    emit({{"event", "job_start"}, {"id", job->id}, {"position", position}, {"jobs", total}});
    try {
      for (int b = 0; b < r.batch_count; ++b) {
        // A batch whose images are all on disk from an earlier (killed) run is not rendered again.
        bool have_all = true;
        std::vector<std::string> found;
        for (int k = 0; k < r.batch_size && have_all; ++k) {
          const auto i = static_cast<std::size_t>(b * r.batch_size + k);
          found.push_back(already_written(
              folder, job->outputs[i],
              gen_chunk(file_metadata(image_metadata(r, job->seeds[i], 0), folder.display(job->outputs[i]), metadata)),
              !o.overwrite));
          have_all = !found.back().empty();
        }
        if (have_all) {
          reused += r.batch_size;
          for (const auto& f : found) written.push_back(folder.display(f));
          continue;
        }
        Request one = r;
        one.batch_count = 1;
        one.seed = *r.seed + static_cast<std::uint64_t>(b) * static_cast<std::uint64_t>(r.batch_size);
        Callbacks cb;
        cb.keep_images = false;
        cb.on_image = [&](const GeneratedImage& img) {
          const auto& relative = job->outputs[static_cast<std::size_t>(b * r.batch_size + img.index)];
          const auto path = folder.display(relative);
          const auto meta = file_metadata(img.metadata, path, metadata);
          const auto png = encode_png(img.image, meta, {}, path);
          std::string actual = path;
          // This job's own image from an interrupted run (its request in the metadata) is
          // replaced where it is; anything else is never overwritten unless asked.
          const auto mine = o.overwrite ? std::string() : already_written(folder, relative, gen_chunk(meta));
          if (o.overwrite || !mine.empty()) {
            write_file_atomic(folder, mine.empty() ? relative : mine, png.data(), png.size());
            actual = folder.display(mine.empty() ? relative : mine);
          } else {  // never over an existing file: the next free name, claimed atomically (as plain gen)
            actual = folder.display(write_file_new(folder, relative, png.data(), png.size()));
            if (actual != path) say("gen: " + path + " exists; job " + job->id + " wrote " + actual + " (--overwrite replaces)");
          }
          written.push_back(actual);
          emit({{"event", "image"}, {"id", job->id}, {"path", actual}, {"seed", img.seed}});
        };
        cb.on_load = [&](const LoadProgress& p) {
          if (SignalStop::requested()) fail(ErrorCode::Cancelled, "batch", "interrupted");
          if (json)
            emit({{"event", "load"}, {"id", job->id}, {"what", p.what}, {"path", p.path}, {"index", p.index},
                  {"elapsed_s", p.seconds}});
          else if (bar.enabled())
            bar.message(load_line(p));
        };
        cb.on_progress = [&](const Progress& p) {
          if (SignalStop::requested()) fail(ErrorCode::Cancelled, "batch", "interrupted");
          const double now = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_run).count();
          if (render_from < 0) render_from = now - p.seconds;
          // This job's share: its batches (each a generate() call here) and the current one's progress.
          const double job_done = (b + p.done) / r.batch_count;
          const double all_done = to_render > 0 ? std::min(1.0, (rendered + job_done) / to_render) : 1.0;
          const double eta = eta_seconds(render_from, now, all_done);
          if (json) {
            emit({{"event", "step"}, {"id", job->id}, {"batch", b + 1}, {"batches", r.batch_count},
                  {"pass", p.pass + 1}, {"passes", p.passes}, {"step", p.step}, {"steps", p.steps},
                  {"done", all_done}, {"elapsed_s", now},
                  {"eta_s", eta < 0 ? nlohmann::json(nullptr) : nlohmann::json(eta)}});
          } else if (bar.enabled()) {
            bar.show("jobs " + bar_text(all_done, 24) + " " + std::to_string(position - 1) + "/" + std::to_string(total) +
                     " (" + std::to_string(failed) + " failed)  job " + job->id + " batch " + std::to_string(b + 1) +
                     "/" + std::to_string(r.batch_count) + " step " + std::to_string(p.step) + "/" +
                     std::to_string(p.steps) + "  elapsed " + clock_text(now) + "  ETA " +
                     (eta < 0 ? std::string("?") : clock_text(eta)));
          }
        };
        engine.generate(one, cb);
        const auto t = engine.last_timings();
        sum.load += t.load;
        sum.lora += t.lora;
        sum.models_loaded += t.models_loaded;
        sum.encode += t.encode;
        sum.denoise += t.denoise;
        sum.decode += t.decode;
      }
      sum.total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      ++ok;
      ++rendered;
      record["status"] = "ok";
      record["outputs"] = written;
      record["seeds"] = job->seeds;
      record["reused"] = reused;
      record["timings"] = timings_json(sum);
      record["error"] = nullptr;
      results.append(record);
      emit({{"event", "job"}, {"id", job->id}, {"status", "ok"}, {"outputs", written}, {"error", nullptr}});
      say("gen: job " + job->id + " ok: " + std::to_string(written.size()) + " image(s)" +
          (reused ? " (" + std::to_string(reused) + " already there)" : ""));
    } catch (const Error& e) {
      if (e.code() == ErrorCode::Cancelled) {  // not a failure: --resume continues it
        cancelled = true;
        break;
      }
      ++failed;
      ++rendered;
      record["status"] = "failed";
      record["outputs"] = written;
      record["error"] = {{"code", code_name(e.code())}, {"exit_code", e.exit_code()}, {"message", e.what()}};
      results.append(record);
      emit({{"event", "job"}, {"id", job->id}, {"status", "failed"}, {"outputs", written}, {"error", e.what()}});
      say(std::string("gen: job ") + job->id + " failed [" + code_name(e.code()) + "]: " + e.what());
    }
  }
  if (cancelled) bar.end();  // the bar's line ends; the summary and "interrupted" follow on clean lines
  else bar.close();
  const std::string summary = std::to_string(ok) + " ok, " + std::to_string(failed) + " failed, " +
                              std::to_string(skipped) + " already done" +
                              (shard.count > 1 ? " (shard " + o.shard + ")" : "") + "; results in " + o.results;
  emit({{"event", "done"}, {"ok", ok}, {"failed", failed}, {"skipped", skipped}, {"cancelled", cancelled},
        {"results", o.results}});
  if (!o.quiet && !json) std::fprintf(stderr, "gen batch: %s\n", summary.c_str());
  if (cancelled)
    fail(ErrorCode::Cancelled, "batch",
         std::string("interrupted") + (*SignalStop::signal_name() ? std::string(" by ") + SignalStop::signal_name() : "") +
             "; run the same command with --resume to continue");
  if (failed > 0) fail(ErrorCode::JobsFailed, o.jobs, std::to_string(failed) + " job(s) failed (see " + o.results + ")");
  return 0;
}

}  // namespace

Command register_batch(CLI::App& app) {
  auto o = std::make_shared<Options>();
  auto* sub = app.add_subcommand("batch", "Render every request of a job file (JSON lines), resumable and shardable");
  sub->add_option("jobs", o->jobs, "Job file: one gen.request/1 JSON object per line, with an optional \"id\"")
      ->required();
  sub->add_option("-O,--output-dir", o->output_dir, "Folder the jobs' outputs are relative to (created)")
      ->capture_default_str();
  sub->add_option("--results", o->results, "Results file (default: OUTPUT_DIR/<jobs>.results[.I-of-N].jsonl)");
  sub->add_flag("--resume", o->resume, "Skip the jobs the results file records as done (and images already written)");
  sub->add_option("--shard", o->shard, "Render slice I of N (0-based): jobs k with k mod N = I")->capture_default_str();
  sub->add_option("-m,--model", o->engine.model, "Model for jobs that name none");
  sub->add_option("--vae", o->engine.vae, "VAE for jobs that name none");
  sub->add_option("--vocab", o->engine.vocab, "CLIP vocabulary for jobs that name none");
  sub->add_option("--upscaler-dir", o->engine.upscaler_dir,
                  "Where hires_upscaler_model NAME finds its file (default: $GEN_UPSCALER_DIR)");
  add_choice(*sub, "--device", o->engine.device, "Device for jobs that say auto: auto, cpu or cuda");
  add_choice(*sub, "--dtype", o->engine.dtype, "Dtype for jobs that say auto: auto, fp32, fp16 or bf16");
  sub->add_option("--max-models", o->engine.max_models, "Base models kept loaded")->capture_default_str();
  sub->add_option("--max-controlnets", o->engine.max_controlnets, "ControlNets kept loaded")->capture_default_str();
  sub->add_option("--progress", o->progress, "auto, bar, json (JSON lines on stdout, docs/cli.md) or none")
      ->check(CLI::IsMember({"auto", "bar", "json", "none"}))
      ->capture_default_str();
  sub->add_option("-t,--threads", o->engine.threads, "CPU threads (0: one per core)");
  add_choice(*sub, "--weights", o->engine.weights, kWeightsHelp);
  sub->add_flag("-q,--quiet", o->quiet, "Print nothing but errors");
  add_memory_options(*sub, o->engine);
  sub->add_flag("--overwrite", o->overwrite,
                "Replace existing output files (by default an image whose name is taken goes to the next free one: out-1.png, ...)");
  sub->add_option("--metadata", o->metadata,
                  "What the images say about their making: portable (no absolute paths), full or none "
                  "(a job's own \"metadata\" wins; docs/metadata.md)")
      ->check(CLI::IsMember({"portable", "full", "none"}))
      ->capture_default_str();
  return {sub, [o] { return run(*o); }};
}

}  // namespace gen::cli
