#include "pipeline/engine.hpp"

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <c10/util/Exception.h>
#include <c10/core/InferenceMode.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <list>
#include <cstdlib>
#include <random>
#include <sstream>

#include "control/control_image.hpp"
#include "control/controlnet_files.hpp"
#include "gen/error.hpp"
#include "kernels.hpp"
#include "models/flops.hpp"
#include "models/model_files.hpp"
#include "pipeline/conditioning.hpp"
#include "pipeline/generate.hpp"
#include "pipeline/preview.hpp"
#include "text/clip_tokenizer.hpp"

namespace gen::pipeline {
namespace {

bool is_dir(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
bool is_file(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}
std::string dirname_of(const std::string& p) {
  const auto slash = p.find_last_of('/');
  return slash == std::string::npos ? "." : p.substr(0, slash);
}

c10::Device pick_device(const std::string& name) {
  if (name == "cpu") return c10::Device(c10::kCPU);
  if (name == "cuda") {
    if (!at::hasCUDA()) fail(ErrorCode::Unsupported, "device", "cuda was asked for but no CUDA GPU is available");
    return c10::Device(c10::kCUDA, 0);
  }
  return at::hasCUDA() ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
}

at::ScalarType pick_dtype(const std::string& name, const c10::Device& device) {
  if (name == "fp32") return at::kFloat;
  if (name == "fp16") return at::kHalf;
  if (name == "bf16") return at::kBFloat16;
  return device.is_cuda() ? at::kHalf : at::kFloat;
}

// One base model with what its files said (kept after they are closed, so the file
// mappings are released and their pages do not stay resident beside the converted weights)
// and the ControlNets loaded against it.
struct Loaded {
  std::string key;
  models::ModelFamily family = models::ModelFamily::SD1;
  std::int64_t clip_skip = 0;
  nlohmann::json scheduler_config;
  std::string prediction = "epsilon";
  std::string tokenizer_dir;
  std::string summary;
  std::unique_ptr<models::UNet> unet;
  std::unique_ptr<models::Vae> vae;
  std::unique_ptr<models::ClipTextModel> text;
  // Most recently used first.
  std::list<std::pair<std::string, std::unique_ptr<control::ControlNet>>> controlnets;
  c10::Device device = c10::Device(c10::kCPU);
  at::ScalarType dtype = at::kFloat;
  // CUDA graphs of the denoising step (refer to the models above: cleared whenever a
  // ControlNet goes; declared last, so destroyed first).
  std::unique_ptr<StepGraphs> graphs;
  std::string no_graphs_because;  // when `graphs` is null
};

}  // namespace

struct Engine::State {
  CacheLimits limits;
  std::list<std::unique_ptr<Loaded>> models;  // most recently used first
  std::string vocab_key;
  std::unique_ptr<text::ClipTokenizer> tokenizer;
  bool tokenizer_from_folder = false;
  std::string summary;
  Timings timings;
  std::string stage;  // what run() is doing, for error messages
  bool gpu = false;   // the last request ran on a GPU
};

Engine::Engine(CacheLimits limits) : s_(std::make_unique<State>()) {
  s_->limits.models = std::max(1, limits.models);
  s_->limits.controlnets = std::max(1, limits.controlnets);
  s_->limits.profile = limits.profile;
  s_->limits.wide_weights = limits.wide_weights;
  s_->limits.offload = limits.offload;
}
Engine::~Engine() = default;

std::string Engine::summary() const { return s_->summary; }
Timings Engine::last_timings() const { return s_->timings; }
void Engine::clear_cache() {
  s_->models.clear();
  s_->tokenizer.reset();
  s_->vocab_key.clear();
}

Request resolve_seed(Request r) {
  if (!r.seed) r.seed = random_seed();
  return r;
}

namespace {

std::unique_ptr<text::ClipTokenizer> open_tokenizer(const Request& r, const std::string& tokenizer_dir,
                                                    bool& from_folder) {
  std::string vocab = r.vocab;
  if (vocab.empty() && !tokenizer_dir.empty()) vocab = tokenizer_dir;
  if (vocab.empty()) {
    const std::string beside = dirname_of(r.model) + "/bpe_simple_vocab_16e6.txt.gz";
    if (is_file(beside)) vocab = beside;
  }
  if (vocab.empty()) {
    if (const char* env = std::getenv("GEN_VOCAB")) vocab = env;
  }
  if (vocab.empty())
    fail(ErrorCode::NotFound, r.model,
         "no CLIP vocabulary: pass --vocab bpe_simple_vocab_16e6.txt.gz (or a tokenizer/ folder), "
         "put that file beside the model, or set GEN_VOCAB");
  from_folder = is_dir(vocab);
  // auto: what the model's own ecosystem does — diffusers folders are tokenized by
  // transformers 5 (NFC, whitespace, lower case), the bare CLIP vocabulary as A1111 / CLIP do.
  const auto cleanup = r.text_cleanup == "ftfy" ? text::Cleanup::Ftfy
                       : r.text_cleanup == "nfc" ? text::Cleanup::NfcOnly
                       : from_folder             ? text::Cleanup::NfcOnly
                                                 : text::Cleanup::Ftfy;
  auto tok = from_folder ? text::ClipTokenizer::from_folder(vocab, cleanup)
                         : text::ClipTokenizer::from_clip_bpe_gz(vocab, cleanup);
  return std::make_unique<text::ClipTokenizer>(std::move(tok));
}

// The name of the first parameter holding NaN or Inf, or "".
std::string first_nonfinite(models::Module& m) {
  std::string found;
  m.visit([&](const std::string& name, models::Module::Param& p) {
    if (found.empty() && p.value.defined() && p.value.is_floating_point() && !p.value.isfinite().all().item<bool>())
      found = name;
  });
  return found;
}

// 4-D weights (convolutions) in channels-last layout, for NHWC activations.
void to_channels_last(models::Module& m) {
  m.visit([](const std::string&, models::Module::Param& p) {
    if (p.value.defined() && p.value.dim() == 4) p.value = p.value.contiguous(at::MemoryFormat::ChannelsLast);
  });
}

// Sequential offload: the weights stay in page-locked host memory, so that each layer's copy
// to the GPU (models::as_operand) is asynchronous.
void pin(models::Module& m) {
  m.visit([](const std::string&, models::Module::Param& p) {
    if (p.value.defined() && !p.value.is_pinned()) p.value = p.value.pin_memory();
  });
}

// Switches for side-by-side measurements (docs/performance.md): GEN_NCHW=1 keeps the UNet and
// ControlNet in NCHW on CUDA.
bool env_set(const char* name) {
  const char* v = std::getenv(name);
  return v && *v && std::string(v) != "0";
}

bool all_finite(const at::Tensor& t) { return t.isfinite().all().item<bool>(); }

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

void Engine::generate(const Request& req, const Callbacks& callbacks, const std::atomic<bool>* cancel) {
  // libtorch's errors become gen::Error here, so callers see one error type; running out of
  // memory names the stage and what to try.
  s_->stage = "loading the models";
  auto oom = [&](const std::string& what, bool gpu) {
    const bool decoding = s_->stage.find("decod") != std::string::npos;
    fail(ErrorCode::OutOfMemory, s_->stage,
         std::string("out of ") + (gpu ? "GPU" : "host") + " memory for " + std::to_string(req.width) + "x" +
             std::to_string(req.height) + " × batch_size " + std::to_string(req.batch_size) + " (" + what + "); try " +
             (decoding ? "vae_tiling on (--vae-tiling on), a smaller batch_size or size" : "a smaller batch_size or size") +
             (gpu ? ", dtype fp16, or device cpu" : ", or fewer models kept loaded"));
  };
  try {
    run(req, callbacks, cancel);
  } catch (const c10::OutOfMemoryError& e) {
    oom(e.what_without_backtrace(), req.device != "cpu" && s_->gpu);
  } catch (const std::bad_alloc&) {
    oom("allocation failed", false);
  } catch (const c10::Error& e) {
    const std::string what = e.what_without_backtrace();
    // The CPU allocator reports failure as a plain c10::Error.
    if (what.find("can't allocate memory") != std::string::npos || what.find("not enough memory") != std::string::npos)
      oom(what.substr(0, what.find('\n')), false);
    fail(ErrorCode::Internal, s_->stage, what);
  }
}

void Engine::run(const Request& req, const Callbacks& callbacks, const std::atomic<bool>* cancel) {
  const auto t_start = std::chrono::steady_clock::now();
  req.validate();
  if (!req.seed) fail(ErrorCode::Internal, "request", "seed not resolved");
  if (req.model.empty()) fail(ErrorCode::InvalidArgument, "model", "no model given (-m FILE|FOLDER)");
  auto& s = *s_;
  s.timings = Timings{};
  auto& timings = s.timings;
  const auto device = pick_device(req.device);
  const auto dtype = pick_dtype(req.dtype, device);
  s.gpu = device.is_cuda();
  if (s.gpu) kernels::cuda_reset_peak();
  // On the CPU, 16-bit weights computed in fp32 stay 16-bit in memory and are widened layer
  // by layer (exact: models::LoadOptions::keep_16bit).
  const bool compact = device.is_cpu() && dtype == at::kFloat && !s.limits.wide_weights;
  // Sequential offload (CUDA only): weights loaded to host memory in the compute dtype, each
  // layer's copied to the GPU as it runs.
  const bool offload = device.is_cuda() && s.limits.offload;
  const c10::Device weight_device = offload ? c10::Device(c10::kCPU) : device;
  // On CUDA the UNet and ControlNets run channels-last (NHWC): cuDNN's tensor-core
  // convolutions and the fused GroupNorm+SiLU kernel want it.
  const bool nhwc = device.is_cuda() && !env_set("GEN_NCHW");
  const std::string key = req.model + "\n" + req.vae + "\n" + req.prediction + "\n" + device.str() + "\n" +
                          std::to_string(static_cast<int>(dtype));

  // The base model: from the cache (moved to the front) or loaded, dropping the least
  // recently used first so that two models are never held beyond the limit.
  auto t0 = std::chrono::steady_clock::now();
  auto it = std::find_if(s.models.begin(), s.models.end(), [&](const auto& m) { return m->key == key; });
  if (it != s.models.end()) {
    s.models.splice(s.models.begin(), s.models, it);
  } else {
    while (static_cast<int>(s.models.size()) >= s.limits.models) s.models.pop_back();
    auto l = std::make_unique<Loaded>();
    models::ModelFilesOptions opt;
    opt.vae_path = req.vae;
    opt.prediction_type = req.prediction;
    {
      const auto files = models::ModelFiles::open(req.model, opt);
      l->unet = files.load_unet(dtype, weight_device, compact);
      l->vae = files.load_vae(dtype, weight_device, compact);
      l->text = files.load_text_encoder(dtype, weight_device, compact);
      to_channels_last(*l->vae);  // the decode runs NHWC (generate.hpp: Models::vae_channels_last)
      if (nhwc) to_channels_last(*l->unet);
      if (offload) {
        pin(*l->unet);
        pin(*l->vae);
        pin(*l->text);
      }
      l->family = files.family();
      l->clip_skip = files.default_clip_skip();
      l->scheduler_config = files.scheduler_config();
      l->prediction = files.prediction_type();
      l->tokenizer_dir = files.tokenizer_dir();
      l->summary = files.summary();
    }
    l->device = device;
    l->dtype = dtype;
    // The step as a CUDA graph: not with sequential offload (its weight copies belong to the
    // step) nor when GEN_NO_GRAPHS is set (side-by-side measurements).
    l->no_graphs_because = !device.is_cuda()                    ? "not on CUDA"
                           : offload                            ? "sequential offload"
                           : env_set("GEN_NO_GRAPHS")           ? "GEN_NO_GRAPHS is set"
                           : !kernels::cuda_graphs_available() ? "CUDA graphs unavailable in this build"
                                                                : "";
    if (l->no_graphs_because.empty())
      l->graphs = std::make_unique<StepGraphs>(StepGraphs::Mode::Cuda);
    else if (env_set("GEN_EMULATE_GRAPHS"))  // tests: the graph bookkeeping, eagerly, on any device
      l->graphs = std::make_unique<StepGraphs>(StepGraphs::Mode::Emulate);
    l->key = key;
    ++timings.models_loaded;
    s.models.push_front(std::move(l));
  }
  Loaded& L = *s.models.front();

  const std::string vocab_key = req.vocab + "\n" + req.model + "\n" + req.text_cleanup;
  if (vocab_key != s.vocab_key || !s.tokenizer) {
    s.tokenizer = open_tokenizer(req, L.tokenizer_dir, s.tokenizer_from_folder);
    s.vocab_key = vocab_key;
  }
  if (s.tokenizer->vocab_size() > static_cast<std::size_t>(L.text->config().vocab_size))
    fail(ErrorCode::ModelMismatch, req.model,
         "the tokenizer has " + std::to_string(s.tokenizer->vocab_size()) + " tokens but the text encoder only " +
             std::to_string(L.text->config().vocab_size));

  // ControlNets: loaded once per path and kept (at most limits.controlnets); the base stays.
  std::vector<ControlUnit> units;
  std::vector<std::pair<control::ControlNet*, std::string>> used;  // for the NaN diagnosis
  for (std::size_t i = 0; i < req.controls.size(); ++i) {
    const auto& c = req.controls[i];
    const std::string ckey = c.model + (c.global_pool ? "\npool" : "");
    auto cit = std::find_if(L.controlnets.begin(), L.controlnets.end(), [&](const auto& e) { return e.first == ckey; });
    if (cit != L.controlnets.end()) {
      L.controlnets.splice(L.controlnets.begin(), L.controlnets, cit);
    } else {
      // Keep the ControlNets this request already placed; drop older ones beyond the limit.
      while (static_cast<int>(L.controlnets.size()) >= std::max<int>(s.limits.controlnets, static_cast<int>(i) + 1)) {
        if (L.graphs) L.graphs->clear();  // their keys name ControlNets by address
        L.controlnets.pop_back();
      }
      auto net = control::load_controlnet(c.model, *L.unet, dtype, weight_device, c.global_pool, compact);
      if (nhwc) to_channels_last(*net);
      if (offload) pin(*net);
      L.controlnets.emplace_front(ckey, std::move(net));
      ++timings.models_loaded;
    }
    auto* net = L.controlnets.front().second.get();
    // Its residuals must fit the base UNet's skips and its context the text encoder's.
    const auto& cu = net->config().unet;
    const auto& bu = L.unet->config();
    if (cu.context_dim != bu.context_dim || cu.model_channels != bu.model_channels ||
        cu.channel_mult != bu.channel_mult || cu.num_res_blocks != bu.num_res_blocks)
      fail(ErrorCode::ModelMismatch, c.model,
           "this ControlNet does not fit the base model (text context " + std::to_string(cu.context_dim) + " vs " +
               std::to_string(bu.context_dim) + ", channels " + std::to_string(cu.model_channels) + " vs " +
               std::to_string(bu.model_channels) + "): an SD 1.x ControlNet needs an SD 1.x model, SD 2.x an SD 2.x");
    ControlUnit u;
    u.net = net;
    u.image = control::prepare_control_image(c.image, c.preprocess, c.resize, req.width, req.height);
    u.scale = c.scale;
    u.start = c.start;
    u.end = c.end;
    units.push_back(u);
    used.emplace_back(net, c.model);
  }
  timings.load = since(t0);

  std::ostringstream sum;
  sum << L.summary << "device " << device.str() << ", dtype " << c10::toString(dtype);
  s.summary = sum.str();

  // A non-finite result is diagnosed: a weight file holding NaN/Inf is named, anything else
  // is numerical overflow (fp16 is the usual cause).
  auto nonfinite = [&](const char* stage) {
    for (auto& [net, path] : used)
      if (auto name = first_nonfinite(*net); !name.empty())
        fail(ErrorCode::ModelMismatch, path, "the weights contain NaN or Inf (tensor " + name + ")");
    const std::string base_file = req.model;
    if (auto name = first_nonfinite(*L.text); !name.empty())
      fail(ErrorCode::ModelMismatch, base_file, "the text encoder's weights contain NaN or Inf (tensor " + name + ")");
    if (auto name = first_nonfinite(*L.unet); !name.empty())
      fail(ErrorCode::ModelMismatch, base_file, "the UNet's weights contain NaN or Inf (tensor " + name + ")");
    if (auto name = first_nonfinite(*L.vae); !name.empty())
      fail(ErrorCode::ModelMismatch, req.vae.empty() ? base_file : req.vae,
           "the VAE's weights contain NaN or Inf (tensor " + name + ")");
    fail(ErrorCode::Unsupported, "generation",
         std::string("the ") + stage + " produced NaN or Inf values (numerical overflow: try dtype " +
             (dtype == at::kHalf ? "bf16 or fp32" : "fp32") + ")");
  };

  t0 = std::chrono::steady_clock::now();
  s.stage = "text encoding";
  TextEncoder enc;
  enc.tokenizer = s.tokenizer.get();
  enc.model = L.text.get();
  // A tokenizer folder names its pad token (diffusers pads with it); the bare CLIP vocabulary
  // does not, so the family decides: SD 1.x pads with <|endoftext|>, SD 2.x (OpenCLIP) with 0.
  enc.padding = s.tokenizer_from_folder ? s.tokenizer->default_padding()
                : L.family == models::ModelFamily::SD2 ? text::ClipPadding::Zero
                                                       : text::ClipPadding::EndToken;
  enc.emphasis = req.prompt_syntax == "a1111";
  enc.skip = req.clip_skip > 0 ? req.clip_skip - 1 : L.clip_skip;
  enc.dtype = dtype;
  enc.device = device;
  at::Tensor neg, pos;
  {
    c10::InferenceMode inference;
    const double f0 = models::flops::total();
    std::tie(neg, pos) = encode_prompts(enc, req.prompt, req.negative_prompt);
    timings.flops_encode = models::flops::total() - f0;
    if (!all_finite(neg) || !all_finite(pos)) nonfinite("text encoder");
  }
  timings.encode = since(t0);

  DenoiseRequest d;
  d.width = req.width;
  d.height = req.height;
  d.batch_size = req.batch_size;
  d.cfg_scale = req.cfg_scale;
  d.sampler = req.sampler;
  d.steps = req.steps;
  if (!L.scheduler_config.is_null()) d.scheduler = SchedulerConfig::from_json(L.scheduler_config, req.model);
  // As diffusers' Stable Diffusion pipelines do when they load a folder: an old scheduler
  // config with steps_offset != 1 or clip_sample on is corrected (SD never used either).
  d.scheduler.steps_offset = 1;
  d.scheduler.clip_sample = false;
  d.scheduler.prediction_type = L.prediction == "v_prediction" ? Prediction::VPrediction : Prediction::Epsilon;
  d.scheduler.use_karras_sigmas = req.scheduler == "karras";
  d.scheduler.eta = req.eta;
  d.controls = units;
  d.guess_mode = req.guess_mode;
  d.control_mode = req.control_mode == "prompt"    ? ControlMode::PromptImportant
                   : req.control_mode == "control" ? ControlMode::ControlImportant
                                                   : ControlMode::Balanced;
  Models m{L.unet.get(), L.vae.get(), dtype, device, /*vae_channels_last=*/true, /*unet_channels_last=*/nhwc,
           L.graphs.get()};
  DenoiseProfile profile;
  std::vector<double> step_times;
  if (s.limits.profile)
    d.profile = &profile;  // synchronised around each model call, so the step runs eagerly
  else
    d.step_times = &step_times;
  const auto graph_stats0 = L.graphs ? L.graphs->stats() : StepGraphs::Stats{};

  const int preview_every = std::max(1, callbacks.preview_every);
  for (int batch = 0; batch < req.batch_count; ++batch) {
    d.seed = *req.seed + static_cast<std::uint64_t>(batch) * static_cast<std::uint64_t>(req.batch_size);
    const auto t_batch = std::chrono::steady_clock::now();
    s.stage = "denoising (batch " + std::to_string(batch + 1) + ")";
    const double f_batch = models::flops::total();
    at::Tensor images;
    {
      c10::InferenceMode inference;
      auto latents = denoise(m, d, neg, pos,
                             [&](const StepInfo& info, const at::Tensor& x) {
                               timings.steps = info.total;
                               if (callbacks.on_progress) {
                                 Progress p;
                                 p.batch = batch;
                                 p.batches = req.batch_count;
                                 p.step = info.step;
                                 p.steps = info.total;
                                 p.seconds = since(t_batch);
                                 callbacks.on_progress(p);
                               }
                               if (callbacks.on_preview && (info.step % preview_every == 0 || info.step == info.total)) {
                                 Preview p;
                                 p.batch = batch;
                                 p.step = info.step;
                                 p.steps = info.total;
                                 p.image = latent_preview(x[0]);
                                 if (!p.image.empty()) callbacks.on_preview(p);
                               }
                             },
                             cancel);
      if (!all_finite(latents)) nonfinite("denoising");  // also waits for the GPU: honest timings
      timings.denoise += since(t_batch);
      timings.flops_denoise += models::flops::total() - f_batch;
      const auto t_decode = std::chrono::steady_clock::now();
      s.stage = "VAE decoding (batch " + std::to_string(batch + 1) + ")";
      if (cancel && cancel->load()) fail(ErrorCode::Cancelled, "generation", "cancelled before decoding");
      const double f_decode = models::flops::total();
      const auto tiling = req.vae_tiling == "off" ? Tiling::Off : req.vae_tiling == "auto" ? Tiling::Auto : Tiling::On;
      VaeTiling tiles;
      if (req.vae_tiling == "exact") tiles.method = VaeTiling::Method::Exact;
      if (req.vae_tiling == "blended") tiles.method = VaeTiling::Method::Blended;
      images = decode(m, latents, tiling, tiles, &timings.vae_decode).permute({0, 2, 3, 1}).contiguous().to(at::kCPU, at::kFloat);
      timings.flops_decode += models::flops::total() - f_decode;
      if (!all_finite(images)) nonfinite("VAE decode");
      timings.decode += since(t_decode);
    }
    const auto t_convert = std::chrono::steady_clock::now();
    for (int k = 0; k < req.batch_size; ++k) {
      GeneratedImage out;
      out.seed = d.seed + static_cast<std::uint64_t>(k);
      out.batch = batch;
      out.index_in_batch = k;
      out.index = batch * req.batch_size + k;
      auto hwc = images[k].contiguous();
      out.image = image_from_float_rgb(hwc.data_ptr<float>(), req.width, req.height);
      out.metadata["parameters"] = req.a1111_parameters(out.seed, k);
      out.metadata["gen"] = image_request_json(req, out.seed);
      ++timings.images;
      if (callbacks.on_image) callbacks.on_image(out);
    }
    timings.decode += since(t_convert);
  }
  timings.step_seconds = s.limits.profile ? profile.steps : step_times;
  if (L.graphs) {
    const auto& g = L.graphs->stats();
    timings.graph_captures = g.captures - graph_stats0.captures;
    timings.graph_replays = g.replays - graph_stats0.replays;
    timings.graphs_off = g.disabled_why;
  } else {
    timings.graphs_off = L.no_graphs_because;
  }
  if (s.limits.profile && L.graphs) timings.graphs_off = "profiling (EngineOptions::profile)";
  timings.unet = profile.unet;
  timings.controlnet = profile.controlnet;
  if (s.gpu) {
    timings.peak_device_bytes = kernels::cuda_peak_allocated();
    timings.peak_device_reserved_bytes = kernels::cuda_peak_reserved();
  }
  timings.total = since(t_start);
}

}  // namespace gen::pipeline
