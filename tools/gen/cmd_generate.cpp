// Plain `gen` generates: the request options live on the root command.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "gen/error.hpp"
#include "gen/image.hpp"
#include "gen/engine.hpp"
#include "pipeline/request.hpp"

namespace gen::cli {
namespace {

struct Options {
  gen::Request r;
  std::string from;
  std::string progress = "auto";
  bool quiet = false;
  std::uint64_t seed = 0;
  std::vector<std::string> controls, images, preprocess;
  std::vector<double> scales, starts, ends;
  std::string resize = "just";
  int threads = 0;
  std::string weights = "auto";
};

// Each --control starts a ControlNet group; the --control-* options after it (in
// command-line order) set that group's fields.
void build_controls(CLI::App& app, Options& o) {
  std::map<std::string, std::size_t> used;
  auto next = [&](const std::string& name, const std::vector<std::string>& all) -> const std::string& {
    return all.at(used[name]++);
  };
  std::vector<std::string> image_vals, pre_vals, scale_vals, start_vals, end_vals;
  auto strs = [&](const char* name) { return app.get_option(name)->results(); };
  const auto controls = strs("--control"), images = strs("--control-image"), pre = strs("--preprocess"),
             scales = strs("--control-scale"), starts = strs("--control-start"), ends = strs("--control-end");
  for (const CLI::Option* opt : app.parse_order()) {
    const std::string name = opt->get_name();
    auto need_group = [&]() -> gen::ControlRequest& {
      if (o.r.controls.empty())
        fail(ErrorCode::InvalidArgument, name, "comes before any --control (give --control FILE first)");
      return o.r.controls.back();
    };
    auto number = [&](const std::string& s) {
      try {
        std::size_t pos = 0;
        double v = std::stod(s, &pos);
        if (pos != s.size() || !std::isfinite(v)) throw 1;
        return v;
      } catch (...) {
        fail(ErrorCode::InvalidArgument, name, "'" + s + "' is not a number");
      }
    };
    if (name == "--control") {
      gen::ControlRequest c;
      c.model = next(name, controls);
      c.resize = o.resize;
      o.r.controls.push_back(c);
    } else if (name == "--control-image") {
      need_group().image = next(name, images);
    } else if (name == "--preprocess") {
      need_group().preprocess = next(name, pre);
    } else if (name == "--control-scale") {
      need_group().scale = number(next(name, scales));
    } else if (name == "--control-start") {
      need_group().start = number(next(name, starts));
    } else if (name == "--control-end") {
      need_group().end = number(next(name, ends));
    } else if (name == "--control-pool") {
      need_group().global_pool = true;
    }
  }
  for (auto& c : o.r.controls) c.resize = o.resize;
}

// SIGINT/SIGTERM stop the generation at the next model call (exit code 10, no partial file).
std::atomic<bool> g_cancel{false};
void on_signal(int) { g_cancel.store(true); }

int run(CLI::App& app, Options& o) {
  gen::Request base;
  if (!o.from.empty()) {
    auto text = read_png_text(o.from);
    auto it = text.find("gen");
    if (it == text.end()) fail(ErrorCode::NotFound, o.from, "no gen request in this image's metadata (no 'gen' text chunk)");
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(it->second);
    } catch (const nlohmann::json::exception& e) {
      fail(ErrorCode::InvalidFormat, o.from, std::string("its 'gen' text chunk is not JSON: ") + e.what());
    }
    base = pipeline::request_from_json(j, o.from);
  }
  // Options given on the command line override the request read with --from.
  auto given = [&](const char* name) { return app.get_option(name)->count() > 0; };
  auto& r = o.r;
  gen::Request out = base;
#define GEN_TAKE(opt, field) \
  if (o.from.empty() || given(opt)) out.field = r.field;
  GEN_TAKE("--prompt", prompt)
  GEN_TAKE("--negative-prompt", negative_prompt)
  GEN_TAKE("--prompt-syntax", prompt_syntax)
  GEN_TAKE("--text-cleanup", text_cleanup)
  GEN_TAKE("--width", width)
  GEN_TAKE("--height", height)
  GEN_TAKE("--steps", steps)
  GEN_TAKE("--cfg-scale", cfg_scale)
  GEN_TAKE("--sampler", sampler)
  GEN_TAKE("--scheduler", scheduler)
  GEN_TAKE("--eta", eta)
  GEN_TAKE("--batch-size", batch_size)
  GEN_TAKE("--batch-count", batch_count)
  GEN_TAKE("--clip-skip", clip_skip)
  GEN_TAKE("--model", model)
  GEN_TAKE("--vae", vae)
  GEN_TAKE("--vocab", vocab)
  GEN_TAKE("--prediction", prediction)
  GEN_TAKE("--device", device)
  GEN_TAKE("--dtype", dtype)
  GEN_TAKE("--rng", rng)
  GEN_TAKE("--output", output)
  GEN_TAKE("--guess-mode", guess_mode)
  GEN_TAKE("--control-mode", control_mode)
  GEN_TAKE("--vae-tiling", vae_tiling)
#undef GEN_TAKE
  if (given("--seed")) out.seed = o.seed;
  else if (o.from.empty()) out.seed.reset();
  build_controls(app, o);
  if (o.from.empty() || given("--control")) out.controls = o.r.controls;
  out.validate();
  if (!out.seed) out.seed = gen::random_seed();
  {  // Refuse a missing output folder now, not after the whole generation.
    const auto first = gen::output_path(out.output, 0, *out.seed, 0, 0);
    const auto slash = first.find_last_of('/');
    const std::string folder = slash == std::string::npos ? "." : (slash == 0 ? "/" : first.substr(0, slash));
    struct stat st {};
    if (::stat(folder.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      fail(ErrorCode::NotFound, first, "the output folder " + folder + " does not exist");
  }

  const bool json = o.progress == "json";
  const bool bar = !o.quiet && !json && (o.progress == "bar" || (o.progress == "auto" && ::isatty(2)));
  // The seed is reported once the models are loaded and the first step ran, so that a
  // request that fails early prints exactly one line: its error.
  bool announced = o.quiet || json;
  auto announce = [&] {
    if (announced) return;
    announced = true;
    std::fprintf(stderr, "gen: seed %llu\n", static_cast<unsigned long long>(*out.seed));
  };
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  gen::EngineOptions eo;
  eo.threads = o.threads;
  eo.weights = o.weights;
  gen::Engine engine(eo);
  gen::Callbacks cb;
  cb.keep_images = false;
  cb.on_image = [&](const gen::GeneratedImage& img) {
    announce();
    const auto path = gen::output_path(out.output, img.index, img.seed, img.batch, img.index_in_batch);
    write_png(path, img.image, img.metadata);
    if (json) {
      std::printf("%s\n", nlohmann::json{{"event", "image"}, {"path", path}, {"seed", img.seed}, {"index", img.index}}
                              .dump()
                              .c_str());
      std::fflush(stdout);
    } else if (!o.quiet) {
      if (bar) std::fputs("\r\033[K", stderr);
      std::fprintf(stderr, "gen: wrote %s (seed %llu)\n", path.c_str(), static_cast<unsigned long long>(img.seed));
    }
  };
  cb.on_progress = [&](const gen::Progress& p) {
    if (g_cancel.load()) fail(ErrorCode::Cancelled, "generation", "interrupted at step " + std::to_string(p.step));
    announce();
    const double rate = p.seconds > 0 ? p.step / p.seconds : 0;
    if (json) {
      std::printf("%s\n", nlohmann::json{{"event", "step"}, {"batch", p.batch + 1}, {"batches", p.batches},
                                         {"step", p.step}, {"steps", p.steps}, {"it_per_s", rate}}
                              .dump()
                              .c_str());
      std::fflush(stdout);
    } else if (bar) {
      const double eta = rate > 0 ? (p.steps - p.step) / rate : 0;
      const int width = 30, filled = p.steps ? width * p.step / p.steps : 0;
      std::fprintf(stderr, "\r\033[Kbatch %d/%d [%s%s] %d/%d  %.2f it/s  ETA %.0fs", p.batch + 1, p.batches,
                   std::string(filled, '#').c_str(), std::string(width - filled, '.').c_str(), p.step, p.steps,
                   rate, eta);
    }
  };
  engine.generate(out, cb);
  if (bar) std::fputs("\r\033[K", stderr);
  return 0;
}

}  // namespace

Command register_generate(CLI::App& app) {
  auto o = std::make_shared<Options>();
  auto& r = o->r;
  app.add_option("-p,--prompt", r.prompt, "What to draw (A1111 syntax: (word:1.2), [word], BREAK)");
  app.add_option("-n,--negative-prompt", r.negative_prompt, "What to avoid");
  app.add_option("--prompt-syntax", r.prompt_syntax, "a1111 (emphasis, BREAK) or plain (the text as is, as diffusers)")
      ->capture_default_str();
  app.add_option("--text-cleanup", r.text_cleanup,
                 "auto (diffusers folder: NFC as transformers 5; CLIP vocabulary: ftfy as A1111), ftfy or nfc")
      ->capture_default_str();
  app.add_option("-W,--width", r.width, "Image width, a multiple of 8")->capture_default_str();
  app.add_option("-H,--height", r.height, "Image height, a multiple of 8")->capture_default_str();
  app.add_option("--steps", r.steps, "Sampling steps")->capture_default_str();
  app.add_option("--cfg-scale", r.cfg_scale, "Classifier-free guidance scale (1 turns guidance off)")->capture_default_str();
  app.add_option("--seed", o->seed, "Seed (random when omitted; image i of a batch uses seed + i)");
  app.add_option("--sampler", r.sampler,
                 "ddim, euler, euler_a, heun, lms, pndm, dpmpp_2m, dpmpp_2m_sde, unipc, lcm")->capture_default_str();
  app.add_option("--scheduler", r.scheduler, "Noise schedule: normal or karras")->capture_default_str();
  app.add_option("--eta", r.eta, "DDIM eta")->capture_default_str();
  app.add_option("--batch-size", r.batch_size, "Images per batch")->capture_default_str();
  app.add_option("--batch-count", r.batch_count, "Batches, one after the other")->capture_default_str();
  app.add_option("--clip-skip", r.clip_skip, "A1111 clip skip (1 = last layer; 0 = the model's default)");
  app.add_option("-m,--model", r.model, "Checkpoint (.safetensors) or diffusers folder");
  app.add_option("--vae", r.vae, "A VAE replacing the model's");
  app.add_option("--vocab", r.vocab, "CLIP vocabulary: bpe_simple_vocab_16e6.txt.gz or a tokenizer/ folder");
  app.add_option("--prediction", r.prediction, "epsilon or v_prediction (default: from the model)");
  app.add_option("--device", r.device, "auto, cpu or cuda")->capture_default_str();
  app.add_option("--dtype", r.dtype, "auto, fp32, fp16 or bf16")->capture_default_str();
  app.add_option("--rng", r.rng, "Noise stream: cpu (torch's CPU generator, as diffusers)")->capture_default_str();
  app.add_option("-o,--output", r.output, "Output PNG pattern: {index}, {seed}, {batch}, {n}")->capture_default_str();
  app.add_option("--control", o->controls, "ControlNet weights; starts a ControlNet group (repeatable)")
      ->allow_extra_args(false);
  app.add_option("--control-image", o->images, "The group's control image (PNG/JPEG)")
      ->allow_extra_args(false);
  app.add_option("--control-scale", o->scales, "The group's conditioning scale (default 1)")
      ->allow_extra_args(false);
  app.add_option("--control-start", o->starts, "Fraction of the steps where the group starts (default 0)")
      ->allow_extra_args(false);
  app.add_option("--control-end", o->ends, "Fraction of the steps where the group stops (default 1)")
      ->allow_extra_args(false);
  app.add_option("--preprocess", o->preprocess, "The group's preprocessor: none, canny:LOW:HIGH, invert, threshold:T")
      ->allow_extra_args(false);
  app.add_flag("--control-pool", "The group's residuals averaged over the image (shuffle models)");
  app.add_option("--control-resize", o->resize, "just, crop or fill")->capture_default_str();
  app.add_flag("--guess-mode", r.guess_mode, "ControlNets see only the conditional half (diffusers guess mode)");
  app.add_option("--control-mode", r.control_mode, "balanced, prompt or control (A1111)")->capture_default_str();
  app.add_option("--vae-tiling", r.vae_tiling, "VAE decode in tiles: auto (when it would not fit), on, off, exact, blended")
      ->capture_default_str();
  app.add_option("--from", o->from, "Re-run the request stored in a PNG gen wrote (options given override it)");
  app.add_option("--progress", o->progress, "auto, bar, json (one JSON line per step on stdout) or none")
      ->capture_default_str();
  app.add_option("--weights", o->weights, kWeightsHelp)
      ->capture_default_str();
  app.add_option("--threads", o->threads, "CPU threads (0: one per core); results are bit-identical only for the same count");
  app.add_flag("-q,--quiet", o->quiet, "Print nothing but errors");
  return {&app, [&app, o] { return run(app, *o); }};
}

}  // namespace gen::cli
