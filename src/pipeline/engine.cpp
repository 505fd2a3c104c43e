#include "pipeline/engine.hpp"

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <c10/core/InferenceMode.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <sstream>

#include "annotators/annotators.hpp"
#include "control/control_image.hpp"
#include "core/fail.hpp"
#include "kernels.hpp"
#include "models/flops.hpp"
#include "models/stop.hpp"
#include "pipeline/batch_runner.hpp"
#include "pipeline/conditioning.hpp"
#include "pipeline/diagnose.hpp"
#include "editing/mask_ops.hpp"
#include "pipeline/edit.hpp"
#include "pipeline/embedding_stage.hpp"
#include "pipeline/hires.hpp"
#include "upscalers/esrgan_net.hpp"
#include "pipeline/lora_stage.hpp"
#include "pipeline/memory_guard.hpp"
#include "pipeline/model_cache.hpp"
#include "pipeline/refiner.hpp"
#include "pipeline/sampling_config.hpp"
#include "pipeline/sdxl_stage.hpp"
#include "pipeline/t2i_stage.hpp"
#include "pipeline/threads.hpp"
#include "pipeline/unicontrol_stage.hpp"

namespace gen::pipeline {

c10::Device pick_device(Device d) {
  if (d == Device::Cpu) return c10::Device(c10::kCPU);
  if (d == Device::Cuda) {
    if (!at::hasCUDA()) fail(ErrorCode::Unsupported, "device", "cuda was asked for but no CUDA GPU is available");
    return c10::Device(c10::kCUDA, 0);
  }
  return at::hasCUDA() ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
}

at::ScalarType pick_dtype(Precision p, const c10::Device& device) {
  switch (p) {
    case Precision::Fp32: return at::kFloat;
    case Precision::Fp16: return at::kHalf;
    case Precision::Bf16: return at::kBFloat16;
    case Precision::Auto: break;
  }
  return device.is_cuda() ? at::kHalf : at::kFloat;
}

namespace {

// How this engine loads and runs models for a request on `device` in `dtype`.
LoadSettings load_settings(const EngineOptions& o, c10::Device device, at::ScalarType dtype) {
  LoadSettings s;
  s.device = device;
  s.dtype = dtype;
  s.compact = device.is_cpu() && dtype == at::kFloat && o.weights != WeightsMode::Wide;
  s.offload = device.is_cuda() && o.weights == WeightsMode::Offload;
  s.channels_last = device.is_cuda() && o.channels_last;
  // The step as a CUDA graph: not with sequential offload (its weight copies belong to the step).
  s.no_graphs_because = !device.is_cuda()                    ? "not on CUDA"
                        : s.offload                          ? "sequential offload"
                        : !o.cuda_graphs                     ? "EngineOptions::cuda_graphs is off"
                        : !kernels::cuda_graphs_available() ? "CUDA graphs unavailable in this build"
                                                             : "";
  s.emulate_graphs = o.emulate_graphs;
  return s;
}

// The denoising settings of `req` on `base` (the scheduler config of a diffusers folder, as
// diffusers' Stable Diffusion pipelines correct it on load).
DenoiseRequest denoise_settings(const Request& req, const BaseModel& base) {
  DenoiseRequest d;
  d.width = req.width;
  d.height = req.height;
  d.batch_size = req.batch_size;
  d.cfg_scale = req.cfg_scale;
  d.sampler = name_of(req.sampler);
  d.steps = req.steps;
  // The folder's config as diffusers reads it, corrected as its SD pipelines do (pipeline/sampling_config.hpp).
  d.scheduler = sampling_config(base.scheduler_config, d.sampler, base.prediction,
                                req.model + "/scheduler/scheduler_config.json");
  // --scheduler auto keeps the folder's sigma choice; normal and karras replace it.
  if (req.scheduler != Schedule::Auto) {
    d.scheduler.use_karras_sigmas = req.scheduler == Schedule::Karras;
    d.scheduler.use_exponential_sigmas = d.scheduler.use_beta_sigmas = false;
  }
  d.scheduler.eta = req.eta;
  d.guess_mode = req.guess_mode;
  d.control_mode = req.control_mode;
  return d;
}

// Settings a request gives that its other choices make meaningless.
void warn_about(const Request& req, const Callbacks& callbacks) {
  if (!callbacks.on_warning) return;
  if (req.eta != 0.0 && req.sampler != Sampler::Ddim)
    callbacks.on_warning(std::string("eta ") + field_text(req, "eta") + " is ignored by the " + name_of(req.sampler) +
                         " sampler (only ddim uses it)");
  if (req.controls.empty() && (req.guess_mode || req.control_mode != ControlMode::Balanced))
    callbacks.on_warning("guess_mode and control_mode act on ControlNets, and this request has none");
}

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

struct Engine::State {
  EngineOptions options;
  ModelCache models;
  TokenizerCache tokenizers;
  TokenizerCache tokenizers2;  // SDXL's second
  TokenizerCache refiner_tokenizers;  // an SDXL refiner's (both roles: it has the second encoder only)
  LoraStage loras;
  EmbeddingStage embeddings;
  annotators::Annotators annotators;  // annotator networks, loaded once (by file identity)
  upscalers::UpscalerCache upscalers;  // hires fix's ESRGAN nets
  T2IAdapterCache t2i;                 // T2I-Adapters
  std::string summary;
  Timings timings;
  std::string stage;  // what run() is doing, for error messages
  bool gpu = false;   // the last request ran on a GPU

  explicit State(const EngineOptions& o) : options(o), models(o.max_models) {}
};

Engine::Engine(const EngineOptions& options) : s_(std::make_unique<State>(options)) {}
Engine::~Engine() = default;

std::string Engine::summary() const { return s_->summary; }
Timings Engine::last_timings() const { return s_->timings; }
void Engine::clear_cache() {
  s_->models.clear();
  s_->tokenizers.clear();
  s_->tokenizers2.clear();
  s_->refiner_tokenizers.clear();
  s_->loras.clear();
  s_->embeddings.clear();
  s_->annotators.clear();
  s_->upscalers.clear();
  s_->t2i.clear();
}

Request resolve_seed(Request r) {
  if (!r.seed) r.seed = random_seed();
  return r;
}

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
  // The model code of this thread checks `cancel` between its blocks (models/stop.hpp).
  const models::StopScope stop(cancel);
  try {
    run(req, callbacks, cancel);
  } catch (const c10::OutOfMemoryError& e) {
    oom(e.what_without_backtrace(), req.device != Device::Cpu && s_->gpu);
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

void Engine::run(const Request& asked, const Callbacks& callbacks, const std::atomic<bool>* cancel) {
  const auto t_start = std::chrono::steady_clock::now();
  asked.validate();
  // Outpainting renders the extended canvas: its size replaces width and height.
  std::optional<Request> outpainted;
  s_->stage = "reading the init image";
  if (const auto canvas = outpaint_canvas(asked, callbacks.on_warning)) {
    outpainted = asked;
    outpainted->width = canvas->first;
    outpainted->height = canvas->second;
  }
  const Request& req = outpainted ? *outpainted : asked;
  s_->stage = "loading the models";
  if (!req.seed) fail(ErrorCode::Internal, "request", "seed not resolved");
  if (req.model.empty()) fail(ErrorCode::InvalidArgument, "model", "no model given (-m FILE|FOLDER)");
  auto& s = *s_;
  s.timings = Timings{};
  auto& timings = s.timings;
  warn_about(req, callbacks);
  // The adapter files (the request's and its prompts' <lora:...> tags, removed from the text).
  s.stage = "finding the LoRA files";
  adapters::CleanPrompts prompts;
  std::vector<std::string> ignored_tags;
  const auto loras = adapters::resolve_loras(req, &prompts, &ignored_tags);
  if (!ignored_tags.empty() && callbacks.on_warning) {
    std::string list;
    for (const auto& t : ignored_tags) list += (list.empty() ? "" : ", ") + t;
    callbacks.on_warning("prompt tags of networks gen does not have are removed and ignored: " + list);
  }
  s.stage = "loading the models";
  const auto device = pick_device(req.device);
  const auto dtype = pick_dtype(req.dtype, device);
  s.gpu = device.is_cuda();
  if (s.gpu) kernels::cuda_reset_peak();
  const kernels::KernelScope kernel_scope(s.options.fused_kernels);
  const auto settings = load_settings(s.options, device, dtype);

  // Stage 1: the models (base model, then the ControlNets it keeps).
  auto t0 = std::chrono::steady_clock::now();
  int parts = 0;
  LoadReport report;
  if (callbacks.on_load)
    report = [&](const std::string& what, const std::string& path) {
      LoadProgress p;
      p.what = what;
      p.path = path;
      p.index = ++parts;
      p.seconds = since(t_start);
      callbacks.on_load(p);
    };
  const int loaded_before = timings.models_loaded;
  BaseModel& base = s.models.base(req, settings, timings.models_loaded, report);
  if (timings.models_loaded > loaded_before && !base.note.empty() && callbacks.on_warning)
    callbacks.on_warning(base.note);
  use_threads(device.is_cuda() ? s.options.threads
                               : threads_for(request_work(req.width, req.height, base.unet->config().model_channels,
                                                          req.batch_size),
                                             s.options.threads, available_cpus()));
  if (base.text2) check_sdxl_request(req, base);
  // The SDXL hand-off: the refiner, loaded beside the base (pipeline/refiner.hpp).
  BaseModel* refiner = nullptr;
  Request refiner_req;
  if (!req.refiner.empty()) {
    refiner_req = refiner_request(req, base);
    refiner = &s.models.base(refiner_req, settings, timings.models_loaded, report, &base);
    check_refiner(req, base, *refiner);
  }
  // (a refiner's only tokenizer is its tokenizer_2/)
  const auto& tokenizer =
      s.tokenizers.get(req, base.refiner ? base.tokenizer2_dir : base.tokenizer_dir, s.options.fallback_vocab);
  TextEncoder encoder = text_encoder_for(req, base, s.tokenizers, tokenizer);
  if (base.text2)
    add_second_encoder(encoder, req, base, s.tokenizers2,
                       s.tokenizers2.get(req, base.tokenizer2_dir, s.options.fallback_vocab));
  // Textual-inversion embeddings the prompts name (their files read now, before the slow parts).
  s.stage = "finding the embeddings";
  const auto embeddings = s.embeddings.prepare(
      req, {prompts.prompt, prompts.negative_prompt, prompts.hires_prompt, prompts.hires_negative_prompt}, encoder,
      base.text2 ? (base.text ? base.text->config().width : 0) : base.text->config().width, req.model,
      base.text2 ? base.text2->config().width : 0);
  encoder.embeddings = embeddings.get();
  s.stage = "loading the models";

  BatchJob job;
  job.request = &req;
  job.started = t_start;
  job.base = &base;
  job.denoise = denoise_settings(req, base);
  // Editing: the init image and mask in pixels (before the control images, which follow
  // --inpaint-area masked's crop).
  EditImages images;
  if (req.has_init_image()) {
    s.stage = "reading the init image";
    images = load_edit_images(req, callbacks.on_warning);
    job.edit_images = &images;
    s.stage = "loading the models";
  }
  // The control units at a size (the request's; hires fix's second pass at its own). With
  // --inpaint-area masked each control image is cropped to the mask's box and fitted as the
  // init image is (diffusers' ControlNet inpaint pipeline with padding_mask_crop).
  s.annotators.set_dir(req.annotator_dir);
  auto control_units = [&](int width, int height, bool record) {
    std::vector<ControlUnit> units;
    // One control image (a group's, or a Union group's further condition `k`) at the size, with
    // k's preprocessor and the group's resize mode.
    auto prepare = [&](const ControlRequest& c, const ControlRequest& k, const std::string& subject,
                       const std::string& field) {
      annotators::RunSettings run;  // annotators: fp32 on the request's device, seeded by the request
      run.resolution = k.preprocess_resolution;
      run.seed = req.seed.value_or(0);
      run.device = device;
      const control::AnnotatorUse use{&s.annotators, &run};
      // --preprocess unicontrol: the preparation of the group's task (docs/unicontrol.md).
      const std::string prep = annotators::resolve_unicontrol(k.preprocess, c.task, field + ".preprocess");
      if (images.crop) {
        const Image full = k.pixels.empty() ? read_image(k.image) : k.pixels;
        if (full.width != images.original.width || full.height != images.original.height)
          fail(ErrorCode::InvalidArgument, subject,
               "is " + std::to_string(full.width) + "x" + std::to_string(full.height) + " but the init image is " +
                   std::to_string(images.original.width) + "x" + std::to_string(images.original.height) +
                   ": with --inpaint-area masked a control image is cropped as the init image is, so it must be the same size");
        const Image cropped = editing::preprocess_image(to_rgb8(full), width, height, editing::ResizeMode::Fill,
                                                        &*images.crop, 8, subject);
        return control::prepare_control_image(cropped, prep, "just", width, height, subject, use);
      }
      return k.pixels.empty()
                 ? control::prepare_control_image(k.image, prep, name_of(c.resize), width, height, use)
                 : control::prepare_control_image(k.pixels, prep, name_of(c.resize), width, height, subject, use);
    };
    for (std::size_t i = 0; i < req.controls.size(); ++i) {
      const auto& c = req.controls[i];
      auto& net = s.models.controlnet(base, c, s.options.max_controlnets, i, timings.models_loaded, report);
      ControlUnit u;
      u.net = &net;
      const std::string subject = c.pixels.empty() ? c.image : "controls[" + std::to_string(i) + "].pixels";
      if (c.image.empty() && c.pixels.empty()) {  // inpaint_only without an image: the init image
        u.image = control::prepare_control_image(images.pixels, "none", "just", width, height, "init image");
      } else {
        u.image = prepare(c, c, subject, "controls[" + std::to_string(i) + "]");
      }
      if (c.preprocess == "inpaint_only") {  // masked pixels = −1 (make_inpaint_condition)
        auto m = images.mask;
        if (m.size(2) != height || m.size(3) != width) m = at::upsample_nearest2d(m, {height, width});
        u.image = at::where(m > 0.5, at::full_like(u.image, -1.0), u.image);
      }
      u.scale = c.scale;
      u.start = c.start;
      u.end = c.end;
      u.pooled_by_request = c.global_pool;
      u.task = unicontrol_task(net, c, encoder, tokenizer);
      u.union_types = union_types_of(net, c);
      for (std::size_t k = 0; k < c.conditions.size(); ++k) {  // a Union's further conditions, stacked
        const auto& more = c.conditions[k];
        const std::string ks = more.pixels.empty()
                                   ? more.image
                                   : "controls[" + std::to_string(i) + "].conditions[" + std::to_string(k) + "].pixels";
        u.image = at::cat({u.image, prepare(c, more, ks,
                                            "controls[" + std::to_string(i) + "].conditions[" + std::to_string(k) + "]")},
                          0);
      }
      units.push_back(u);
      if (record) job.controlnets.emplace_back(&net, c.model);
    }
    return units;
  };
  LoraStage::release_controlnets(base);  // before ControlNets are loaded or dropped
  job.denoise.controls = control_units(req.width, req.height, true);
  job.denoise.adapters = t2i_units(req, base, s.t2i, settings, req.width, req.height, timings.models_loaded, report);
  {
    s.stage = "applying the LoRAs";
    std::vector<control::ControlNet*> nets;
    for (const auto& u : job.denoise.controls) nets.push_back(const_cast<control::ControlNet*>(u.net));
    c10::InferenceMode inference;
    const auto applied = s.loras.apply(base, nets, loras, req, callbacks.on_warning);
    timings.lora = applied.seconds;
    timings.lora_backup_bytes = base.adapters ? base.adapters->backup_bytes() : 0;
    s.stage = "loading the models";
  }
  // diffusers' ControlNet pipeline: guess_mode = guess_mode or the first ControlNet's
  // global_pool_conditions (its config, not --control-pool).
  const auto& units = job.denoise.controls;
  if (!units.empty() && units[0].net->config().global_average_pooling && !units[0].pooled_by_request)
    job.denoise.guess_mode = true;
  timings.load = since(t0);

  // The memory guard: refused here, with the estimate, rather than after minutes of work.
  if (s.options.memory_guard) {
    s.stage = "estimating the memory";
    const auto need = estimate_memory(req, base.unet->config(), *base.vae, static_cast<int>(units.size()),
                                      static_cast<int>(vae_factor(*base.vae)), device, dtype, s.options.memory_limit);
    timings.memory_in_use_bytes = need.in_use;
    timings.memory_work_bytes = need.work;
    timings.memory_available_bytes = need.available;
    check_memory(need, req);
  }

  std::ostringstream sum;
  sum << base.summary << "device " << device.str() << ", dtype " << c10::toString(dtype);
  s.summary = sum.str();

  // Stage 2: the prompts' conditioning.
  RefinerJob refining;
  t0 = std::chrono::steady_clock::now();
  s.stage = "text encoding";
  std::vector<int> used;  // the embeddings the prompts use (hires fix's too), for "TI hashes"
  {
    c10::InferenceMode inference;
    const double f0 = models::flops::total();
    PooledPair pooled;
    std::tie(job.negative, job.positive) =
        encode_prompts(encoder, prompts.prompt, prompts.negative_prompt, &used, base.text2 ? &pooled : nullptr);
    if (base.text2) {
      sdxl_zero_negative(req, base, prompts.negative_prompt, job.negative, pooled);
      set_sdxl_added(job.denoise, req, base, pooled);
    }
    job.ti_hashes = ti_hashes_text(*embeddings, used);
    job.lora_hashes = adapters::lora_hashes_text(loras);
    if (refiner) {  // the refiner's own conditioning (its bigG encoder, size, crop, aesthetic score)
      const auto& tok = s.refiner_tokenizers.get(refiner_req, refiner->tokenizer2_dir, s.options.fallback_vocab);
      TextEncoder renc = text_encoder_for(refiner_req, *refiner, s.refiner_tokenizers, tok);
      add_second_encoder(renc, refiner_req, *refiner, s.refiner_tokenizers, tok);
      PooledPair rpooled;
      std::tie(refining.negative, refining.positive) =
          encode_prompts(renc, prompts.prompt, prompts.negative_prompt, nullptr, &rpooled);
      sdxl_zero_negative(refiner_req, *refiner, prompts.negative_prompt, refining.negative, rpooled);
      refining.denoise = denoise_settings(refiner_req, *refiner);
      set_sdxl_added(refining.denoise, refiner_req, *refiner, rpooled);
      refining.switch_at = req.refiner_switch;
      job.denoise.denoising_end = req.refiner_switch;
    }
    timings.flops_encode = models::flops::total() - f0;
    if (!all_finite(job.negative) || !all_finite(job.positive))
      diagnose_nonfinite("text encoder", base, job.controlnets);
  }
  timings.encode = since(t0);

  // Hires fix: the second pass's settings, control images and (its own) prompts.
  HiresJob hires;
  if (req.has_hires()) {
    Request second = req;
    hires.plan = hires_plan(req, static_cast<int>(vae_factor(*base.vae)));
    second.width = hires.plan.width;
    second.height = hires.plan.height;
    if (req.hires_steps > 0) second.steps = req.hires_steps;
    if (!req.hires_sampler.empty()) second.sampler = *enum_from_name<Sampler>(req.hires_sampler);
    hires.upscaler = req.hires_upscaler;
    if (!req.hires_upscaler_model.empty()) {
      s.stage = "loading the hires upscaler";
      const auto path =
          upscalers::find_upscaler_file(req.hires_upscaler_model, s.options.upscaler_dir, "hires_upscaler_model");
      hires.net = &s.upscalers.get(path, dtype, device);
    }
    hires.strength = req.hires_strength;
    hires.denoise = denoise_settings(second, base);
    hires.denoise.guess_mode = job.denoise.guess_mode;
    hires.denoise.controls = control_units(second.width, second.height, false);
    hires.denoise.adapters = t2i_units(req, base, s.t2i, settings, second.width, second.height,
                                       timings.models_loaded, report);
    hires.negative = job.negative;
    hires.positive = job.positive;
    hires.denoise.added_negative = job.denoise.added_negative;
    hires.denoise.added_positive = job.denoise.added_positive;
    if (!req.hires_prompt.empty() || !req.hires_negative_prompt.empty() || base.text2) {
      c10::InferenceMode inference;
      PooledPair pooled;
      std::vector<int> hires_used;
      const auto& negative = req.hires_negative_prompt.empty() ? prompts.negative_prompt : prompts.hires_negative_prompt;
      std::tie(hires.negative, hires.positive) =
          encode_prompts(encoder, req.hires_prompt.empty() ? prompts.prompt : prompts.hires_prompt, negative,
                         &hires_used, base.text2 ? &pooled : nullptr);
      if (base.text2) {  // SDXL: the second pass's size is its default original and target size
        sdxl_zero_negative(req, base, negative, hires.negative, pooled);
        set_sdxl_added(hires.denoise, second, base, pooled);
      }
      // A1111 lists every embedding the request's encodings used, the second pass's included.
      for (int i : hires_used)
        if (std::find(used.begin(), used.end(), i) == used.end()) used.push_back(i);
      job.ti_hashes = ti_hashes_text(*embeddings, used);
    }
    job.hires = &hires;
  }

  job.models = Models{base.unet.get(), base.vae.get(), dtype, device, /*vae_channels_last=*/true,
                      /*unet_channels_last=*/settings.channels_last, base.graphs.get()};
  if (refiner) {
    refining.models = Models{refiner->unet.get(), refiner->vae.get(), dtype, device, true, settings.channels_last,
                             refiner->graphs.get()};
    job.refiner = &refining;
  }

  // Stage 3 (editing requests): the init image and mask, encoded once for every batch.
  EditInputs edit;
  const auto unet_in = static_cast<int>(base.unet->config().in_channels);
  if (req.has_init_image()) {
    t0 = std::chrono::steady_clock::now();
    s.stage = "VAE encoding the init image";
    c10::InferenceMode inference;
    const double f0 = models::flops::total();
    edit = encode_edit(job.models, images, req, unet_in);
    timings.flops_vae_encode += models::flops::total() - f0;
    if (!all_finite(edit.mean) || !all_finite(edit.std)) diagnose_nonfinite("VAE encoder", base, job.controlnets);
    job.denoise.edit = &edit;
    timings.vae_encode += since(t0);
  } else if (unet_in != base.vae->config().latent_channels) {
    inpainting_model_needs_a_mask(req.model, unet_in);
  }

  // Stages 4-6, per batch: latents → denoise with controls → decode → images.
  DenoiseProfile profile;
  std::vector<double> step_times;
  if (s.options.profile)
    job.denoise.profile = &profile;  // synchronised around each model call, so the step runs eagerly
  else
    job.denoise.step_times = &step_times;
  refining.denoise.profile = job.denoise.profile;
  refining.denoise.step_times = job.denoise.step_times;
  const auto graph_stats0 = base.graphs ? base.graphs->stats() : StepGraphs::Stats{};
  run_batches(job, callbacks, cancel, timings, s.stage);

  timings.step_seconds = s.options.profile ? profile.steps : step_times;
  if (base.graphs) {
    const auto& g = base.graphs->stats();
    timings.graph_captures = g.captures - graph_stats0.captures;
    timings.graph_replays = g.replays - graph_stats0.replays;
    timings.graphs_off = g.disabled_why;
  } else {
    timings.graphs_off = base.no_graphs_because;
  }
  if (s.options.profile && base.graphs) timings.graphs_off = "profiling (EngineOptions::profile)";
  timings.unet = profile.unet;
  timings.controlnet = profile.controlnet;
  if (s.gpu) {
    timings.peak_device_bytes = kernels::cuda_peak_allocated();
    timings.peak_device_reserved_bytes = kernels::cuda_peak_reserved();
  }
  timings.total = since(t_start);
}

}  // namespace gen::pipeline
