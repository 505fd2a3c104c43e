// Plain `gen` generates: the request options live on the root command.
#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>

#include "frontend/request_paths.hpp"
#include "commands.hpp"
#include "core/atomic_file.hpp"
#include "core/fail.hpp"
#include "core/fs.hpp"
#include "gen/image.hpp"
#include "gen/engine.hpp"
#include "gen/metadata.hpp"
#include "gen/output.hpp"
#include "gen/request.hpp"
#include "memory_options.hpp"
#include "progress.hpp"
#include "request_options.hpp"

namespace gen::cli {
namespace {

struct Options {
  RequestOptions request;
  std::string output = "gen-{index}-{seed}.png";
  std::string from;
  std::string progress = "auto";
  bool quiet = false;
  bool overwrite = false;
  std::string metadata = "portable";
  int threads = 0;
  WeightsMode weights = WeightsMode::Auto;
  EngineOptions memory;  // memory_guard, memory_limit
};

// The value of field `path` ("model", "controls[0].image") in `r`; nullopt when `r` has no
// such control group.
std::optional<std::string> value_at(const gen::Request& r, const std::string& path) {
  if (path.rfind("controls[", 0) != 0) return gen::field_text(r, path);
  const auto close = path.find("].");
  const auto i = static_cast<std::size_t>(std::stoul(path.substr(9, close - 9)));
  if (i >= r.controls.size()) return std::nullopt;
  return gen::field_text(r.controls[i], path.substr(close + 2));
}

// What an A1111 image's text holds that gen leaves out or cannot match: one warning line each
// (after the command line has settled what gen cannot honour, so that an error stays one line).
void warn_a1111(const Options& o, const gen::A1111Import& imp) {
  if (o.quiet || o.progress == "json") return;
  if (!imp.unknown.empty()) {
    std::string keys;
    for (const auto& k : imp.unknown) keys += (keys.empty() ? "" : ", ") + k;
    std::fprintf(stderr, "gen: warning: %s: A1111 keys gen does not use (left out): %s\n", o.from.c_str(), keys.c_str());
  }
  for (const auto& n : imp.notes) std::fprintf(stderr, "gen: warning: %s: %s\n", o.from.c_str(), n.c_str());
}

int run(Options& o) {
  gen::Request base;
  gen::A1111Import a1111;
  if (!o.from.empty()) {
    auto text = read_png_text(o.from);
    auto it = text.find("gen");
    const auto params = text.find("parameters");
    if (it != text.end()) {
      // Only the request is taken: where to write is the command line's choice (-o), never
      // the image's (an "output" it may carry is ignored).
      base = gen::Request::from_json(it->second, o.from);
      // Its relative paths are relative to the image's folder (as they were written).
      gen::frontend::resolve_paths(base, std::filesystem::path(o.from).parent_path().string());
    } else if (params != text.end()) {
      // An A1111 image: its text read as A1111 reads it, files found by name (docs/metadata.md).
      a1111 = gen::request_from_a1111(params->second, a1111_lookup());
      base = a1111.request;
    } else {
      fail(ErrorCode::NotFound, o.from, "no gen request and no A1111 parameters in this image's metadata (no 'gen' or 'parameters' text chunk)");
    }
  }
  // Options given on the command line override the request read with --from.
  gen::Request out = o.request.apply(base);
  // An A1111 value gen cannot honour is an error unless the command line changed that field.
  for (const auto& [field, message] : a1111.problems) {
    const auto now = value_at(out, field);
    if (now && *now == value_at(base, field).value_or("")) fail(ErrorCode::InvalidArgument, o.from, message);
  }
  warn_a1111(o, a1111);
  // Image-to-image and inpainting without -W/-H render at the init image's size, rounded
  // down to a multiple of 8, as diffusers' img2img pipeline does (docs/editing.md).
  if (o.from.empty() && out.has_init_image() && out.outpaint.empty() && !o.request.given("width") &&
      !o.request.given("height")) {
    const Image init = read_image(out.init_image);
    if (init.width >= 8 && init.height >= 8 && init.width <= 16384 && init.height <= 16384) {
      out.width = init.width / 8 * 8;
      out.height = init.height / 8 * 8;
      if (!o.quiet && o.progress != "json")
        std::fprintf(stderr, "gen: size %dx%d from the init image (-W/-H choose another)\n", out.width, out.height);
    }
  }
  out.validate();
  if (!out.seed) out.seed = gen::random_seed();
  if (o.output.empty()) fail(ErrorCode::InvalidArgument, "--output", "is empty");
  // Refuse a missing output folder, or a target that is not a regular file, now, not after
  // the whole generation.
  gen::check_output_path(gen::output_path(o.output, 0, *out.seed, 0, 0));

  const bool json = o.progress == "json";
  BarLine line(!o.quiet && !json && (o.progress == "bar" || (o.progress == "auto" && ::isatty(2))));
  // The seed is reported once the models are loaded and the first step ran, so that a
  // request that fails early prints exactly one line: its error.
  bool announced = o.quiet || json;
  auto announce = [&] {
    if (announced) return;
    announced = true;
    line.message("gen: seed " + std::to_string(*out.seed));
  };
  auto emit = [&](const nlohmann::json& event) {
    std::printf("%s\n", event.dump().c_str());
    std::fflush(stdout);
  };
  gen::EngineOptions eo = gen::default_engine_options();
  eo.threads = o.threads;
  eo.weights = o.weights;
  eo.memory_guard = o.memory.memory_guard;
  eo.memory_limit = o.memory.memory_limit;
  eo.upscaler_dir = o.request.upscaler_dir;
  environment_defaults(eo);
  gen::Engine engine(eo);
  // SIGINT / SIGTERM: the engine stops between two blocks of the model call running (exit 10,
  // no partial file; images of finished batches are written).
  const SignalStop stop(engine);
  auto check_stop = [] {
    if (SignalStop::requested())
      fail(ErrorCode::Cancelled, "generation", std::string("interrupted by ") + SignalStop::signal_name());
  };
  gen::Callbacks cb;
  cb.keep_images = false;
  cb.on_warning = [&](const std::string& w) {
    if (o.quiet || json) return;
    line.message("gen: warning: " + w);
  };
  cb.on_load = [&](const gen::LoadProgress& p) {
    check_stop();
    if (json)
      emit({{"event", "load"}, {"what", p.what}, {"path", p.path}, {"index", p.index}, {"elapsed_s", p.seconds}});
    else if (line.enabled())
      line.message(load_line(p));
  };
  cb.on_image = [&](const gen::GeneratedImage& img) {
    announce();
    const auto wanted = gen::output_path(o.output, img.index, img.seed, img.batch, img.index_in_batch);
    // Never over an existing file unless asked: the next free name, as A1111 numbers its files,
    // claimed atomically (a file another program creates meanwhile is not replaced).
    std::string path = wanted;
    if (o.overwrite) {
      write_png(path, img.image, gen::file_metadata(img.metadata, path, gen::metadata_mode_from_name(o.metadata)));
    } else {
      const auto png = encode_png(img.image, gen::file_metadata(img.metadata, wanted, gen::metadata_mode_from_name(o.metadata)), {}, wanted);
      path = write_file_new(wanted, png.data(), png.size());
    }
    if (json) {
      emit({{"event", "image"}, {"path", path}, {"seed", img.seed}, {"index", img.index}});
    } else if (!o.quiet) {
      line.message("gen: wrote " + path + " (seed " + std::to_string(img.seed) + ")" +
                   (path == wanted ? "" : "; " + wanted + " exists, --overwrite replaces it"));
    }
  };
  double sampling_from = -1;  // seconds into the call when sampling started (for the total ETA)
  cb.on_progress = [&](const gen::Progress& p) {
    check_stop();
    announce();
    if (sampling_from < 0) sampling_from = p.elapsed - p.seconds;
    const double rate = p.seconds > 0 ? p.step / p.seconds : 0;
    const double eta = eta_seconds(sampling_from, p.elapsed, p.done);
    if (json) {
      emit({{"event", "step"}, {"batch", p.batch + 1}, {"batches", p.batches}, {"pass", p.pass + 1},
            {"passes", p.passes}, {"step", p.step}, {"steps", p.steps}, {"it_per_s", rate}, {"done", p.done},
            {"elapsed_s", p.elapsed}, {"eta_s", eta < 0 ? nlohmann::json(nullptr) : nlohmann::json(eta)}});
    } else if (line.enabled()) {
      char buf[160];
      std::snprintf(buf, sizeof buf, " %d/%d  %.2f it/s  elapsed %s  ETA %s", p.step, p.steps, rate,
                    clock_text(p.elapsed).c_str(), eta < 0 ? "?" : clock_text(eta).c_str());
      line.show("batch " + std::to_string(p.batch + 1) + "/" + std::to_string(p.batches) +
                (p.passes > 1 ? " pass " + std::to_string(p.pass + 1) + "/" + std::to_string(p.passes) : "") + " " +
                bar_text(p.done, 30) + buf);
    }
  };
  try {
    engine.generate(out, cb);
  } catch (const Error& e) {
    line.end();  // the bar's line ends; the error (or "interrupted") starts a clean one
    // Stopped between two blocks of a model call by the signal: say so as a step would.
    if (e.code() == ErrorCode::Cancelled) check_stop();
    throw;
  } catch (...) {
    line.end();
    throw;
  }
  line.close();
  return 0;
}

}  // namespace

Command register_generate(CLI::App& app) {
  auto o = std::make_shared<Options>();
  o->request.add(app);
  app.add_option("-o,--output", o->output, "Output PNG pattern: {index}, {seed}, {batch}, {n}")->capture_default_str();
  app.add_option("--from", o->from,
                 "Re-run the request stored in a PNG gen or A1111 wrote (options given override it; -o says where "
                 "to write; an A1111 image's files are found by name in $GEN_MODEL_DIR / $GEN_CONTROLNET_DIR)");
  app.add_option("--metadata", o->metadata,
                 "What the PNG says about its making: portable (no absolute paths), full (absolute paths) or none "
                 "(docs/metadata.md)")
      ->check(CLI::IsMember({"portable", "full", "none"}))
      ->capture_default_str();
  app.add_option("--progress", o->progress,
                 "auto (a bar on a terminal), bar, json (JSON lines on stdout: docs/cli.md#progress-events) or none")
      ->check(CLI::IsMember({"auto", "bar", "json", "none"}))
      ->capture_default_str();
  add_choice(app, "--weights", o->weights, kWeightsHelp);
  app.add_option("-t,--threads", o->threads, "CPU threads (0: one per core); results are bit-identical only for the same count");
  app.add_flag("-q,--quiet", o->quiet, "Print nothing but errors");
  add_memory_options(app, o->memory);
  app.add_flag("--overwrite", o->overwrite,
               "Replace an existing output file (by default the next free name is taken: out-1.png, out-2.png, ...)");
  return {&app, [o] { return run(*o); }};
}

}  // namespace gen::cli
