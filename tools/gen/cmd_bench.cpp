// `gen bench`: runs a workload (W1–W4, W-cpu, W4-cpu, or any request) with warm-up and repeats and
// reports medians and spread per stage, images/s, peak memory and achieved TFLOP/s
// (FLOPs counted as the models run, as torch.utils.flop_counter counts them).
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "bench_annotators.hpp"
#include "commands.hpp"
#include "gen/engine.hpp"
#include "core/fail.hpp"
#include "core/files.hpp"
#include "gen/image.hpp"
#include "gen/request.hpp"
#include "request_options.hpp"

namespace gen::cli {
namespace {

struct Options {
  std::string workload = "w1";
  std::string request_file;
  std::string model, control, vocab;
  Device device = Device::Auto;
  Precision dtype = Precision::Auto;
  int warmup = 1;
  int repeats = 0;  // 0: the workload's default
  int threads = 0;
  WeightsMode weights = WeightsMode::Auto;
  std::optional<TilingMode> vae_tiling;  // unset: the workload's (auto)
  // Side-by-side switches (EngineOptions): the step without CUDA graphs, NCHW on CUDA,
  // ATen instead of gen's fused kernels.
  bool no_graphs = false, nchw = false, no_kernels = false;
  bool json = false;
  std::vector<LoraRequest> loras;  // applied to the workload's request
  LoraMode lora_mode = LoraMode::Auto;
  // -w annotators (bench_annotators.hpp)
  std::vector<std::string> preprocess;
  std::string annotator_dir, image;
};

struct Workload {
  std::string name, what;
  Request request;
  int repeats = 5;
};

Workload make_workload(const Options& o) {
  Workload w;
  Request& r = w.request;
  if (!o.request_file.empty()) {
    // A request is one JSON object; 1 MiB is the job-line limit of gen batch too.
    r = Request::from_json(core::read_input(o.request_file, std::size_t{1} << 20, "request file"), o.request_file);
    w.name = "request";
    w.what = o.request_file;
  } else {
    const std::string& n = o.workload;
    r.prompt = "a photograph of a lighthouse on a cliff at sunset, dramatic sky, detailed";
    r.negative_prompt = "blurry, low quality";
    r.width = r.height = 512;
    r.steps = 20;
    r.cfg_scale = 7.5;
    r.sampler = Sampler::Euler;
    r.seed = 1;
    if (n == "w1") {
      w.what = "SD 1.5 + 1 ControlNet, 512x512, 20 steps, CFG 7.5, batch 1, Euler";
    } else if (n == "w2") {
      r.batch_size = 8;
      w.what = "SD 1.5 + 1 ControlNet, 512x512, 20 steps, CFG 7.5, batch 8, Euler";
      w.repeats = 3;
    } else if (n == "w3") {
      r.width = r.height = 1024;
      w.what = "SD 1.5 + 1 ControlNet, 1024x1024, 20 steps, CFG 7.5, batch 1, Euler";
      w.repeats = 3;
    } else if (n == "w3-decode") {
      r.width = r.height = 2048;
      r.steps = 1;
      r.cfg_scale = 1;
      w.what = "2048x2048: one UNet call (no CFG, no ControlNet) and the VAE decode";
      w.repeats = 3;
    } else if (n == "w-cpu") {
      r.width = r.height = 256;
      r.steps = 4;
      r.device = Device::Cpu;
      r.dtype = Precision::Fp32;
      w.what = "SD 1.5 + 1 ControlNet, 256x256, 4 steps, CFG 7.5, batch 1, Euler, fp32 CPU";
      w.repeats = 3;
    } else if (n == "w4" || n == "w4-cpu") {
      // SDXL base + one SDXL ControlNet (-m and --control: full size, e.g. tools/make_sdxl_random.py).
      const bool cpu = n == "w4-cpu";
      r.width = r.height = cpu ? 256 : 1024;
      r.steps = cpu ? 2 : 20;
      if (cpu) {
        r.device = Device::Cpu;
        r.dtype = Precision::Fp32;
      }
      w.what = std::string("SDXL base + 1 SDXL ControlNet, ") + (cpu ? "256x256, 2 steps" : "1024x1024, 20 steps") +
               ", CFG 7.5, batch 1, Euler" + (cpu ? ", fp32 CPU" : "");
      w.repeats = 3;
    } else if (n == "i2i" || n == "i2i-cpu" || n == "inpaint" || n == "inpaint-cpu") {
      // The editing workloads: ControlNet img2img, 25 steps at strength 0.8 (20 run; the init
      // image is VAE-encoded once per request), or ControlNet inpainting (4-channel UNet) of a
      // centred square, 20 steps. The -cpu variants: 256x256, 4 steps run, fp32 on the CPU.
      const bool inpaint = n.rfind("inpaint", 0) == 0, cpu = n.size() > 4 && n.substr(n.size() - 4) == "-cpu";
      r.strength = inpaint ? 1.0 : 0.8;
      r.steps = inpaint ? (cpu ? 4 : 20) : (cpu ? 5 : 25);
      r.init_image = "*";
      if (inpaint) r.mask = "*";
      if (cpu) {
        r.width = r.height = 256;
        r.device = Device::Cpu;
        r.dtype = Precision::Fp32;
      }
      w.what = std::string("SD 1.5 + 1 ControlNet ") + (inpaint ? "inpainting" : "img2img") + ", " +
               (cpu ? "256x256" : "512x512") + ", " + std::to_string(r.steps) + " steps" +
               (inpaint ? "" : " at strength 0.8 (" + std::to_string(cpu ? 4 : 20) + " run)") + ", CFG 7.5, Euler" +
               (cpu ? ", fp32 CPU" : "");
      w.repeats = 3;
    } else {
      fail(ErrorCode::InvalidArgument, "--workload",
           "'" + n + "': known: w1, w2, w3, w3-decode, w-cpu, w4, w4-cpu, i2i, i2i-cpu, inpaint, inpaint-cpu, annotators");
    }
    w.name = n;
    if (n != "w3-decode") {
      if (o.control.empty())
        fail(ErrorCode::InvalidArgument, "--control", "workload " + n + " needs a ControlNet (--control FILE)");
      ControlRequest c;
      c.model = o.control;
      r.controls.push_back(c);
    }
  }
  if (!o.model.empty()) r.model = o.model;
  if (!o.vocab.empty()) r.vocab = o.vocab;
  if (o.device != Device::Auto) r.device = o.device;
  if (o.dtype != Precision::Auto) r.dtype = o.dtype;
  if (o.vae_tiling) r.vae_tiling = *o.vae_tiling;
  if (o.repeats > 0) w.repeats = o.repeats;
  if (!r.seed) r.seed = 1;
  return w;
}

// A control image for the workload: a white disc and bars on black (what an edge map looks like).
std::string write_control_image(int width, int height) {
  char dir[] = "/tmp/gen-bench-XXXXXX";
  if (!::mkdtemp(dir)) fail(ErrorCode::Io, "/tmp", "cannot make a scratch folder");
  Image img = Image::make(width, height, 3);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      const double dx = x - width / 2.0, dy = y - height / 2.0, r = std::min(width, height) / 3.0;
      const bool on = std::abs(std::sqrt(dx * dx + dy * dy) - r) < 2 || (x % 64 < 2) || (y % 96 < 2);
      for (int c = 0; c < 3; ++c) img.data8[(static_cast<std::size_t>(y) * width + x) * 3 + c] = on ? 255 : 0;
    }
  const std::string path = std::string(dir) + "/control.png";
  write_png(path, img);
  return path;
}

struct Stat {
  double median = 0, min = 0, max = 0;
};
Stat stat(std::vector<double> v) {
  if (v.empty()) return {};
  std::sort(v.begin(), v.end());
  const auto n = v.size();
  return {n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2, v.front(), v.back()};
}

double peak_rss_gib() {
  rusage ru {};
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / (1024.0 * 1024.0);  // ru_maxrss is in KiB
}

// Switching the LoRA set on a loaded model: `repeats` times applying `o.loras` to the model
// without any and taking them off again, each timed by the engine (Timings::lora), on a
// one-step 64x64 request (the switch does not depend on the image).
nlohmann::json lora_switch(const Options& o, const Request& base, const EngineOptions& eo, Callbacks& quiet, int repeats) {
  Request with = base;
  with.width = with.height = 64;
  with.steps = 1;
  with.batch_size = with.batch_count = 1;
  with.controls.clear();
  with.init_image.clear();
  with.mask.clear();
  Request without = with;
  without.loras.clear();
  Engine engine(eo);
  engine.generate(without, quiet);  // loads the model
  std::vector<double> apply, remove;
  std::size_t backup = 0;
  for (int i = 0; i < repeats; ++i) {
    engine.generate(with, quiet);
    apply.push_back(engine.last_timings().lora);
    backup = engine.last_timings().lora_backup_bytes;
    engine.generate(without, quiet);
    remove.push_back(engine.last_timings().lora);
  }
  const auto a = stat(apply), r = stat(remove);
  if (!o.json)
    std::fprintf(stderr, "  LoRA switch (%s, %d times): apply median %.3f s, remove median %.3f s, %.1f MiB held to restore\n",
                 name_of(base.lora_mode), repeats, a.median, r.median, static_cast<double>(backup) / (1 << 20));
  return {{"mode", name_of(base.lora_mode)}, {"repeats", repeats},
          {"apply_s", {{"median", a.median}, {"min", a.min}, {"max", a.max}}},
          {"remove_s", {{"median", r.median}, {"min", r.min}, {"max", r.max}}},
          {"backup_gib", static_cast<double>(backup) / (1 << 30)}};
}

int run(const Options& o) {
  if (o.workload == "annotators") {
    AnnotatorBenchOptions a;
    a.annotators = o.preprocess;
    a.annotator_dir = o.annotator_dir.empty() ? folder_from_env("GEN_ANNOTATOR_DIR", "annotator") : o.annotator_dir;
    a.image = o.image;
    a.device = o.device == Device::Auto ? (cuda_available() ? Device::Cuda : Device::Cpu) : o.device;
    a.threads = o.threads;
    a.warmup = o.warmup;
    a.repeats = o.repeats;
    a.json = o.json;
    return run_annotator_bench(a);
  }
  auto w = make_workload(o);
  Request& r = w.request;
  r.loras = o.loras;
  r.lora_mode = o.lora_mode;
  std::string scratch;
  for (auto& c : r.controls)
    if (c.image.empty()) {
      if (scratch.empty()) scratch = write_control_image(r.width, r.height);
      c.image = scratch;
    }
  // The editing workloads start from the control image, repainting a centred square.
  if (r.init_image == "*") {
    if (scratch.empty()) scratch = write_control_image(r.width, r.height);
    r.init_image = scratch;
  }
  if (r.mask == "*") {
    Image m = Image::make(r.width, r.height, 1);
    for (int y = r.height / 4; y < 3 * r.height / 4; ++y)
      for (int x = r.width / 4; x < 3 * r.width / 4; ++x) m.data8[static_cast<std::size_t>(y) * r.width + x] = 255;
    r.mask = scratch.substr(0, scratch.rfind('/')) + "/mask.png";
    write_png(r.mask, m);
  }
  EngineOptions eo = default_engine_options();
  environment_defaults(eo);
  eo.threads = o.threads;
  eo.weights = o.weights;
  eo.cuda_graphs = !o.no_graphs;
  eo.channels_last = !o.nchw;
  eo.fused_kernels = !o.no_kernels;
  Callbacks quiet;
  quiet.keep_images = false;
  quiet.on_image = [](const GeneratedImage&) {};
  if (!o.json) std::fprintf(stderr, "gen bench %s: %s\n", w.name.c_str(), w.what.c_str());

  // Phase 1, the timed runs: as users run (on a GPU the step is a CUDA graph, step times
  // come from CUDA events). On the CPU they are also profiled, which costs nothing there.
  // Phase 2, on a GPU only: a profiled engine (synchronised around each model call, step
  // run eagerly) for the UNet/ControlNet shares and the eager step time.
  std::vector<Timings> runs, profiled;
  double load = 0;
  std::string summary;
  auto timed = [&](bool profile, int warmup, int repeats, std::vector<Timings>& out, const char* label) {
    eo.profile = profile;
    Engine engine(eo);
    for (int i = 0; i < warmup + repeats; ++i) {
      engine.generate(r, quiet);
      const auto t = engine.last_timings();
      if (&out == &runs && i == 0) load = t.load;
      if (!o.json)
        std::fprintf(stderr, "  %s%s %d/%d: %.3f s\n", label, i < warmup ? "warm-up" : "run",
                     i < warmup ? i + 1 : i - warmup + 1, i < warmup ? warmup : repeats, t.total - t.load);
      if (i >= warmup) out.push_back(t);
    }
    if (summary.empty()) summary = engine.summary();
  };
  const bool gpu = r.device == Device::Cuda || (r.device == Device::Auto && cuda_available());
  timed(!gpu, o.warmup, w.repeats, runs, "");
  if (gpu) timed(true, o.warmup > 0 ? 1 : 0, std::min(w.repeats, 3), profiled, "profiled ");
  nlohmann::json lora;
  if (!r.loras.empty()) lora = lora_switch(o, r, eo, quiet, std::max(w.repeats, 3));
  if (!scratch.empty()) {
    std::remove(scratch.c_str());
    ::rmdir(scratch.substr(0, scratch.rfind('/')).c_str());
  }

  auto series_of = [](const std::vector<Timings>& from, auto f) {
    std::vector<double> v;
    for (const auto& t : from) v.push_back(f(t));
    return stat(v);
  };
  auto series = [&](auto f) { return series_of(runs, f); };
  const auto e2e = series([](const Timings& t) { return t.total - t.load; });
  const auto enc = series([](const Timings& t) { return t.encode; });
  const auto den = series([](const Timings& t) { return t.denoise; });
  const auto venc = series([](const Timings& t) { return t.vae_encode; });
  const auto dec = series([](const Timings& t) { return t.decode; });
  std::vector<double> steps;
  for (const auto& t : runs) steps.insert(steps.end(), t.step_seconds.begin(), t.step_seconds.end());
  const auto step = stat(steps);
  const int calls = runs.empty() ? 0 : static_cast<int>(runs[0].step_seconds.size());
  // The per-model shares come from the profiled runs (phase 2 on a GPU, the same runs on the CPU).
  const auto& prof = gpu ? profiled : runs;
  const auto unet = series_of(prof, [&](const Timings& t) { return calls ? t.unet / calls : 0.0; });
  const auto cn = series_of(prof, [&](const Timings& t) { return calls ? t.controlnet / calls : 0.0; });
  std::vector<double> eager_steps;
  for (const auto& t : profiled) eager_steps.insert(eager_steps.end(), t.step_seconds.begin(), t.step_seconds.end());
  const auto step_eager = stat(eager_steps);
  const Timings& any = runs.at(0);
  int captures = 0, replays = 0;
  for (const auto& t : runs) {
    captures += t.graph_captures;
    replays += t.graph_replays;
  }
  const std::string graphs_off = runs.back().graphs_off;
  std::int64_t peak_gpu = -1;
  std::int64_t peak_reserved = -1;
  for (const auto& t : runs) {
    peak_gpu = std::max(peak_gpu, t.peak_device_bytes);
    peak_reserved = std::max(peak_reserved, t.peak_device_reserved_bytes);
  }
  const double images_per_s = e2e.median > 0 ? any.images / e2e.median : 0;
  const double tflop_step = calls ? any.flops_denoise / calls / 1e12 : 0;

  nlohmann::json j = {{"schema", "gen.bench/1"},
                      {"workload", w.name},
                      {"what", w.what},
                      {"summary", summary},
                      {"warmup", o.warmup},
                      {"repeats", w.repeats},
                      {"request", nlohmann::json::parse(r.to_json())}};
  auto put = [&](const char* key, const Stat& s) { j["seconds"][key] = {{"median", s.median}, {"min", s.min}, {"max", s.max}}; };
  j["seconds"]["load_first"] = load;
  put("end_to_end", e2e);
  put("text_encoding", enc);
  if (r.has_init_image()) put("vae_encode", venc);
  put("denoise", den);
  put("step", step);
  if (gpu) put("step_profiled_eager", step_eager);
  put("unet_per_step", unet);
  put("controlnet_per_step", cn);
  put("vae_decode", dec);
  j["images_per_second"] = images_per_s;
  j["tflop"] = {{"text_encoding", any.flops_encode / 1e12}, {"vae_encode", any.flops_vae_encode / 1e12},
                {"denoise", any.flops_denoise / 1e12},
                {"per_step", tflop_step}, {"vae_decode", any.flops_decode / 1e12}};
  j["tflops_per_second"] = {{"denoise", den.median > 0 ? any.flops_denoise / 1e12 / den.median : 0},
                            {"step", step.median > 0 ? tflop_step / step.median : 0},
                            {"vae_decode", dec.median > 0 ? any.flops_decode / 1e12 / dec.median : 0}};
  auto gib = [](std::int64_t b) { return b >= 0 ? nlohmann::json(static_cast<double>(b) / (1 << 30)) : nlohmann::json(nullptr); };
  j["peak_gpu_gib"] = gib(peak_gpu);
  j["peak_gpu_reserved_gib"] = gib(peak_reserved);
  j["peak_rss_gib"] = peak_rss_gib();
  // The memory guard's estimate of the last run (docs/performance.md#memory-guard).
  j["memory_estimate_gib"] = {{"in_use", gib(runs.back().memory_in_use_bytes)},
                              {"work", gib(runs.back().memory_work_bytes)},
                              {"peak", runs.back().memory_work_bytes >= 0
                                           ? gib(std::max<std::int64_t>(0, runs.back().memory_in_use_bytes) +
                                                 runs.back().memory_work_bytes)
                                           : nlohmann::json(nullptr)},
                              {"available", gib(runs.back().memory_available_bytes)}};
  j["cuda_graphs"] = {{"on", graphs_off.empty()}, {"captures", captures}, {"replays", replays},
                      {"off_because", graphs_off}};
  j["vae_decode"] = runs.back().vae_decode;
  if (!lora.is_null()) j["lora"] = lora;
  if (o.json) {
    std::printf("%s\n", j.dump(1).c_str());
    return 0;
  }
  std::printf("%s\n%s (%d warm-up, %d repeats)\n", w.what.c_str(), summary.c_str(), o.warmup, w.repeats);
  if (graphs_off.empty())
    std::printf("CUDA graphs: on (%d captures, %d replays in the timed runs)\n", captures, replays);
  else
    std::printf("CUDA graphs: off (%s)\n", graphs_off.c_str());
  std::printf("VAE decode: %s (--vae-tiling %s)\n\n", runs.back().vae_decode.c_str(), name_of(r.vae_tiling));
  std::printf("%-26s %10s %10s %10s\n", "seconds", "median", "min", "max");
  auto row = [](const char* name, const Stat& s) {
    std::printf("%-26s %10.4f %10.4f %10.4f\n", name, s.median, s.min, s.max);
  };
  std::printf("%-26s %10.3f\n", "load (first run)", load);
  row("text encoding", enc);
  if (r.has_init_image()) row("init image (VAE encode)", venc);
  row("denoise", den);
  row("  per model call", step);
  if (gpu) row("  per call, profiled eager", step_eager);
  row("    UNet", unet);
  row("    ControlNet(s)", cn);
  row("VAE decode (+ to 8-bit)", dec);
  row("end to end (loaded)", e2e);
  std::printf("\nimages/s %.3f\n", images_per_s);
  std::printf("TFLOP: per model call %.3f, denoise %.2f, VAE decode %.3f, text %.4f\n", tflop_step,
              any.flops_denoise / 1e12, any.flops_decode / 1e12, any.flops_encode / 1e12);
  std::printf("TFLOP/s: per model call %.2f, denoise %.2f, VAE decode %.2f\n",
              j["tflops_per_second"]["step"].get<double>(), j["tflops_per_second"]["denoise"].get<double>(),
              j["tflops_per_second"]["vae_decode"].get<double>());
  if (peak_gpu >= 0)
    std::printf("peak GPU memory %.2f GiB in tensors, %.2f GiB reserved (cache and CUDA graph pools included)\n",
                static_cast<double>(peak_gpu) / (1 << 30), static_cast<double>(peak_reserved) / (1 << 30));
  if (!lora.is_null())
    std::printf("LoRA (%zu file(s), %s): apply %.4f s, remove %.4f s (medians of %d), %.3f GiB held to restore\n",
                r.loras.size(), name_of(r.lora_mode), lora["apply_s"]["median"].get<double>(),
                lora["remove_s"]["median"].get<double>(), lora["repeats"].get<int>(), lora["backup_gib"].get<double>());
  std::printf("peak host RSS %.2f GiB\n", peak_rss_gib());
  return 0;
}

}  // namespace

Command register_bench(CLI::App& app) {
  auto o = std::make_shared<Options>();
  auto* sub = app.add_subcommand("bench", "Time a workload: stages, steps, images/s, peak memory, TFLOP/s (docs/performance.md)");
  sub->add_option("-w,--workload", o->workload,
                  "w1, w2 (batch 8), w3 (1024x1024), w3-decode (2048x2048), w-cpu, w4 / w4-cpu (SDXL + ControlNet), "
                  "i2i(-cpu), inpaint(-cpu), "
                  "annotators (each annotator at 512x512)")
      ->capture_default_str();
  sub->add_option("--request", o->request_file, "Time this gen.request/1 JSON file instead of a workload");
  sub->add_option("-m,--model", o->model, "The model (e.g. tools/make_sd15_random.py's random SD 1.5)");
  sub->add_option("--control", o->control, "The ControlNet of the workloads");
  sub->add_option("--vocab", o->vocab, "CLIP vocabulary");
  add_choice(*sub, "--device", o->device, "auto, cpu or cuda");
  add_choice(*sub, "--dtype", o->dtype, "auto, fp32, fp16 or bf16");
  sub->add_option("--warmup", o->warmup, "Untimed runs first")->capture_default_str();
  sub->add_option("--repeats", o->repeats, "Timed runs (default: 5 for w1, 3 otherwise)");
  sub->add_option("-t,--threads", o->threads, "CPU threads (0: one per core)");
  add_choice(*sub, "--weights", o->weights, kWeightsHelp);
  sub->add_option_function<std::string>(
         "--vae-tiling",
         [o](const std::string& s) {
           TilingMode t = TilingMode::Auto;
           set_choice(t, s, "--vae-tiling");
           o->vae_tiling = t;
         },
         "auto, on, off, exact or blended (as gen generate)")
      ->type_name("CHOICE");
  sub->add_flag("--no-cuda-graphs", o->no_graphs, "A/B: the denoising step run eagerly (EngineOptions::cuda_graphs)");
  sub->add_flag("--nchw", o->nchw, "A/B: the UNet and ControlNets in NCHW on CUDA (EngineOptions::channels_last)");
  sub->add_flag("--no-fused-kernels", o->no_kernels, "A/B: ATen instead of gen's fused kernels (EngineOptions::fused_kernels)");
  sub->add_flag("--json", o->json, "One JSON object on stdout (schema gen.bench/1)");
  sub->add_option_function<std::vector<std::string>>(
         "--lora",
         [o](const std::vector<std::string>& v) {
           for (const auto& s : v) o->loras.push_back(parse_lora_option(s, "--lora"));
         },
         "LoRA FILE[:WEIGHT[:TE_WEIGHT]] applied to the workload; also times switching it on and off")
      ->type_name("FILE[:W[:TE]]")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  add_choice(*sub, "--lora-mode", o->lora_mode, "auto, merge or on_the_fly (docs/adapters.md)");
  sub->add_option("--preprocess", o->preprocess,
                  "-w annotators: an annotator to time (repeat it for more; default hed, pidinet, lineart, "
                  "lineart_coarse, lineart_standard, depth_anything)")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  sub->add_option("--annotator-dir", o->annotator_dir, "-w annotators: the weights' folder (default $GEN_ANNOTATOR_DIR)");
  sub->add_option("--image", o->image, "-w annotators: the picture (default a synthetic 512x512 one)");
  return {sub, [o] { return run(*o); }};
}

}  // namespace gen::cli
