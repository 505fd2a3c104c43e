// gen — the embedding API: an Engine that loads models from files and runs Requests.
// No libtorch types appear here; link gen::gen (libgen-engine) and include <gen/gen.hpp>.
//
//   gen::EngineOptions options;
//   options.model = "sd15.safetensors";
//   options.vocab = "bpe_simple_vocab_16e6.txt.gz";
//   gen::Engine engine(options);
//   gen::Request r;
//   r.prompt = "a lighthouse";
//   r.seed = 42;
//   for (auto& img : engine.generate(r))
//     gen::write_png(gen::output_path("out-{index}.png", img.index, img.seed, 0, 0), img.image, img.metadata);
//
// Thread safety: one Engine runs one generate() at a time — calls from several threads are
// serialised (each waits for the one before). cancel(), last_timings() and summary() may be
// called from any thread at any time. Callbacks run on the thread that called generate(),
// between model calls; an exception thrown by a callback ends generate() with that exception.
// Different Engine objects are independent, but each holds its own copy of the weights.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gen/export.hpp"
#include "gen/image.hpp"
#include "gen/request.hpp"

namespace gen {

struct EngineOptions {
  // Defaults for requests that leave these fields empty (model, vae, vocab) or auto
  // (device, dtype). A request naming its own model uses that one.
  std::string model;
  std::string vae;
  std::string vocab;
  // The CLIP vocabulary (bpe_simple_vocab_16e6.txt.gz) taken when nothing else gives one: not
  // the request's vocab, nor the model folder's tokenizer/, nor that file beside the model.
  // The CLI sets it to $GEN_VOCAB or else the copy installed with gen (share/gen/clip/).
  std::string fallback_vocab;
  std::string lora_dir;        // where <lora:NAME> tags and --lora NAME look (the CLI: $GEN_LORA_DIR)
  std::string embeddings_dir;  // where prompts find embeddings by name (the CLI: $GEN_EMBEDDINGS_DIR)
  std::string annotator_dir;   // where annotators find their weights by name (the CLI: $GEN_ANNOTATOR_DIR)
  std::string upscaler_dir;    // where hires_upscaler_model NAME looks (the CLI: $GEN_UPSCALER_DIR)
  Device device = Device::Auto;        // auto (CUDA when present) | cpu | cuda
  Precision dtype = Precision::Auto;   // auto (fp16 on CUDA, fp32 on CPU) | fp32 | fp16 | bf16
  int threads = 0;              // CPU threads for tensor work (process-wide), at most the CPUs this
                                // process may use; 0: one per CPU, one for tiny work. Programs that
                                // embed gen on shared machines should set OMP_WAIT_POLICY=PASSIVE
                                // (docs/performance.md#threads)
  // Models kept loaded between requests, least recently used dropped first.
  int max_models = 1;           // base models (UNet + VAE + text encoder)
  int max_controlnets = 4;      // ControlNets (for the current base model)
  // How weights are held in memory. auto: on the CPU in fp32, F16/BF16 weights stay 16-bit
  // and each layer widens its own on use (exact; half the memory, ~5% slower per model
  // call, docs/performance.md); otherwise converted to the dtype at load (on CUDA: straight
  // to the GPU). wide: always converted at load. offload (CUDA only; the CPU ignores it):
  // kept in page-locked host memory in the compute dtype, each layer's copied to the GPU as
  // it runs (sequential offload, for GPUs too small for the model; the same images, slower).
  WeightsMode weights = WeightsMode::Auto;
  // Synchronise the device around every model call so that Timings' per-model times (UNet,
  // ControlNets) are exact (for benchmarks). Costs the overlap between calls on a GPU, and
  // the step then runs eagerly instead of as a CUDA graph.
  bool profile = false;
  // Switches for side-by-side measurements (docs/performance.md); the defaults are the
  // fast path. On CUDA: the denoising step as CUDA graphs; the UNet and ControlNets in
  // channels-last layout; gen's fused kernels (GroupNorm+SiLU) instead of ATen's.
  bool cuda_graphs = true;
  bool channels_last = true;
  bool fused_kernels = true;
  // Tests: the CUDA-graph bookkeeping run eagerly on any device (the same images).
  bool emulate_graphs = false;
  // The memory guard (docs/performance.md#memory-guard): a request whose estimated peak memory
  // does not fit what the device has free is refused (OutOfMemory) before its first step.
  bool memory_guard = true;
  // Bytes the guard lets a request's peak reach (0: what the device has free). On the CPU the
  // process's RSS counts against it.
  std::int64_t memory_limit = 0;
};

// The defaults, as a function (whisper.cpp's *_default_params pattern): programs built
// against one version keep working when later versions add fields with their defaults.
GEN_API EngineOptions default_engine_options();

struct GeneratedImage {
  Image image;                  // 8-bit RGB, the request's width × height
  std::uint64_t seed = 0;       // re-running the request with this seed and batch_size 1 gives this image
  int index = 0;                // over the whole request (batch_count × batch_size)
  int batch = 0;                // which batch
  int index_in_batch = 0;
  // PNG text chunks: "parameters" (A1111 infotext) and "gen" (this image's request as JSON).
  std::map<std::string, std::string> metadata;
};

struct Progress {
  int batch = 0, batches = 1;   // 0-based batch, number of batches
  // Sampling steps done within the batch, and in all (Heun's two model calls are one step;
  // image-to-image counts the steps its strength runs; hires fix's second pass counts again
  // from 1 with its own total).
  int step = 0, steps = 0;
  double seconds = 0;           // since the batch started
  // The batch's sampling passes: 1, or 2 with hires fix (its second pass) or an SDXL refiner
  // (which goes on counting the base's steps), 3 with both; `pass` is 0-based.
  int pass = 0, passes = 1;
  double elapsed = 0;           // seconds since generate() started (model loading included)
  // The fraction of the call's sampling done, 0..1, over every batch (each pass of a batch
  // weighs the same): what a total ETA is estimated from.
  double done = 0;
};

// A cheap preview of the latents (a fixed linear map from the 4 latent channels to RGB,
// no VAE): 1/8 of the image size, first image of the batch.
struct Preview {
  int batch = 0;
  int step = 0, steps = 0;
  Image image;                  // 8-bit RGB
};

// Seconds spent in each stage of the last generate() (all batches).
struct Timings {
  double load = 0;              // reading model files (0 when all were cached)
  double lora = 0;              // taking the previous LoRA set off and applying this one (0 when unchanged)
  std::size_t lora_backup_bytes = 0;  // host memory held to restore the weights the LoRAs are merged into
  double encode = 0;            // tokenizing and text encoding
  double vae_encode = 0;        // editing: reading the init image and mask, VAE encoding (once)
  double denoise = 0;           // the sampling loop (UNet, ControlNets, scheduler)
  double decode = 0;            // VAE decode and conversion to 8-bit
  double total = 0;             // the whole call
  int images = 0;
  int steps = 0;                // sampling steps run per batch (Heun: 2 model calls each, 1 for the last)
  int models_loaded = 0;        // model files read by this call (0: everything was cached)
  // Seconds of each denoising step (all batches): model calls and scheduler. Measured with
  // CUDA events on a GPU (no synchronisation in the loop); with EngineOptions::profile,
  // with the device synchronised around every model call instead. unet/controlnet: the time
  // inside the UNet and the ControlNets, with EngineOptions::profile only.
  std::vector<double> step_seconds;
  double unet = 0;
  double controlnet = 0;
  // Floating-point operations done (convolutions, matrix products, attention; counted as
  // torch.utils.flop_counter does), per stage.
  double flops_encode = 0;
  double flops_vae_encode = 0;
  double flops_denoise = 0;
  double flops_decode = 0;
  std::int64_t peak_device_bytes = -1;  // peak GPU memory held by tensors during the call; -1 on the CPU
  // Peak GPU memory reserved from the driver during the call: tensors, the allocator's cache
  // and CUDA graphs' memory pools (what the process really holds); -1 on the CPU.
  std::int64_t peak_device_reserved_bytes = -1;
  // CUDA graphs of the denoising step (docs/performance.md): captured and replayed during
  // this call, or why they were not used ("not on CUDA", "profiling", a failed capture...).
  int graph_captures = 0;
  int graph_replays = 0;
  std::string graphs_off;
  // How the VAE decoded the last batch: "untiled", "exact" or "blended" tiles (--vae-tiling).
  std::string vae_decode;
  // The memory guard's estimate (docs/performance.md#memory-guard), in bytes: held when the
  // request started (CPU: RSS), the largest stage's working memory, and what was available
  // (-1: unknown or the guard was off).
  std::int64_t memory_in_use_bytes = -1;
  std::int64_t memory_work_bytes = -1;
  std::int64_t memory_available_bytes = -1;
};

// Progress while models load: called before each part is read.
struct LoadProgress {
  std::string what;             // "UNet", "VAE", "text encoder", "ControlNet"
  std::string path;             // the file or folder it comes from
  int index = 0;                // 1-based count of parts read by this call so far
  double seconds = 0;           // since the call started
};

struct Callbacks {
  std::function<void(const GeneratedImage&)> on_image;  // as each image is ready
  std::function<void(const Progress&)> on_progress;     // after every sampling step
  std::function<void(const Preview&)> on_preview;       // every `preview_every` model calls
  std::function<void(const LoadProgress&)> on_load;     // before each model part is read
  // Something worth knowing that does not stop the request (a setting the request's
  // sampler ignores, ...): one sentence. Without a callback, warnings are dropped.
  std::function<void(const std::string&)> on_warning;
  int preview_every = 1;
  // false: generate() returns no images, they only reach on_image (long runs stay small).
  bool keep_images = true;
};

GEN_API Callbacks default_callbacks();
GEN_API Request default_request();

// The request as an engine with these options runs it: empty model, vae and vocab and
// "auto" device and dtype taken from the options.
GEN_API Request with_defaults(Request request, const EngineOptions& options);

// Optional and process-wide (glibc's malloc settings; a no-op elsewhere): freed host
// memory stays in the process for the next allocation instead of going back to the
// kernel block by block. CPU generation allocates and frees large blocks every model
// call (activations, weight layouts), and each fresh block costs a page fault per 4 KiB:
// on SD 1.5 at 256x256 on 2 cores a model call took 2.6-2.75 s instead of 3.6 s (docs/performance.md).
// The price: the process keeps its high-water mark until it exits. Call it first thing in
// main(), before other threads start. gen's CLI does.
GEN_API void retain_freed_host_memory() noexcept;

// Whether a CUDA GPU is usable (what device "auto" picks).
GEN_API bool cuda_available() noexcept;

class GEN_API Engine {
 public:
  explicit Engine(EngineOptions options = default_engine_options());
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;
  // Movable (not while a call runs on it): the moved-from Engine may only be destroyed or
  // assigned to.
  Engine(Engine&&) noexcept;
  Engine& operator=(Engine&&) noexcept;

  // Runs a request and returns its images (batch_count × batch_size, in order). The seed
  // is drawn at random when the request has none (each image reports the seed it used).
  // Nothing is written to disk. Throws gen::Error: InvalidArgument for a bad request,
  // NotFound/InvalidFormat/ModelMismatch/… for model and image files, OutOfMemory,
  // Cancelled after cancel().
  std::vector<GeneratedImage> generate(const Request& request, const Callbacks& callbacks = {});

  // Stops the generate() in progress between two blocks of the model call running (the UNet,
  // ControlNets and VAE check once per block; it throws gen::Error with ErrorCode::Cancelled).
  // Returns false, and does nothing, when no call is in progress.
  bool cancel();

  Timings last_timings() const;
  // What the last request ran on: model layout and family, device, dtype.
  std::string summary() const;
  // Drops every cached model (the next request loads again).
  void clear_cache();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gen
