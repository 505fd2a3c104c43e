// gen::Engine: the public face of pipeline::Engine — defaults from EngineOptions, one call
// at a time, cancellation from any thread.
#include "gen/engine.hpp"

#include <ATen/Context.h>
#include <ATen/Parallel.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <atomic>
#include <mutex>

#include "core/fail.hpp"
#include "pipeline/engine.hpp"
#include "pipeline/threads.hpp"

namespace gen {
struct Engine::Impl {
  EngineOptions options;
  pipeline::Engine engine;
  std::mutex run_mutex;            // one generate() at a time
  mutable std::mutex state_mutex;  // guards running, timings, summary
  bool running = false;
  std::atomic<bool> cancel{false};
  Timings timings;
  std::string summary;

  explicit Impl(EngineOptions o) : options(std::move(o)), engine(options) {}
};

void retain_freed_host_memory() noexcept {
#if defined(__GLIBC__)
  mallopt(M_MMAP_MAX, 0);                 // large blocks from the heap, reused once freed,
  mallopt(M_TRIM_THRESHOLD, 0x7fffffff);  // and the heap's top not handed back either
  mallopt(M_ARENA_MAX, 1);                // one heap: a block freed by one thread serves the next
#endif
}

bool cuda_available() noexcept {
  try {
    return at::hasCUDA();
  } catch (...) {
    return false;
  }
}

EngineOptions default_engine_options() { return EngineOptions{}; }
Callbacks default_callbacks() { return Callbacks{}; }
Request default_request() { return Request{}; }

Request with_defaults(Request r, const EngineOptions& o) {
  if (r.model.empty()) r.model = o.model;
  if (r.vae.empty()) r.vae = o.vae;
  if (r.vocab.empty()) r.vocab = o.vocab;
  if (r.lora_dir.empty()) r.lora_dir = o.lora_dir;
  if (r.embeddings_dir.empty()) r.embeddings_dir = o.embeddings_dir;
  if (r.annotator_dir.empty()) r.annotator_dir = o.annotator_dir;
  if (r.device == Device::Auto) r.device = o.device;
  if (r.dtype == Precision::Auto) r.dtype = o.dtype;
  return r;
}

Engine::Engine(EngineOptions options) {
  if (options.max_models < 1) fail(ErrorCode::InvalidArgument, "max_models", "must be at least 1");
  if (options.max_controlnets < 1) fail(ErrorCode::InvalidArgument, "max_controlnets", "must be at least 1");
  if (options.threads < 0) fail(ErrorCode::InvalidArgument, "threads", "must be 0 (default) or more");
  if (options.memory_limit < 0) fail(ErrorCode::InvalidArgument, "memory_limit", "must be 0 (none) or more bytes");
  // Checked like a request's fields, before anything is loaded.
  Request probe;
  probe.device = options.device;
  probe.dtype = options.dtype;
  probe.validate();
  if (options.threads > 0) {
    // More threads than CPUs only adds waiting (and 100000 of them exhaust the process).
    const int cpus = pipeline::available_cpus();
    if (options.threads > cpus)
      fail(ErrorCode::InvalidArgument, "threads",
           std::to_string(options.threads) + " is more than the " + std::to_string(cpus) +
               " CPUs this process may use (0: gen's default, docs/performance.md#threads)");
  }
  impl_ = std::make_unique<Impl>(std::move(options));
}

Engine::~Engine() = default;
Engine::Engine(Engine&&) noexcept = default;
Engine& Engine::operator=(Engine&&) noexcept = default;

std::vector<GeneratedImage> Engine::generate(const Request& request, const Callbacks& callbacks) {
  std::lock_guard<std::mutex> run_lock(impl_->run_mutex);
  Request r = pipeline::resolve_seed(with_defaults(request, impl_->options));
  {
    std::lock_guard<std::mutex> lock(impl_->state_mutex);
    impl_->running = true;
    impl_->cancel.store(false);
  }
  struct Done {
    Impl& impl;
    ~Done() {
      std::lock_guard<std::mutex> lock(impl.state_mutex);
      impl.running = false;
      impl.cancel.store(false);
      impl.timings = impl.engine.last_timings();
      impl.summary = impl.engine.summary();
    }
  } done{*impl_};
  std::vector<GeneratedImage> images;
  Callbacks inner = callbacks;
  inner.on_image = [&](const GeneratedImage& img) {
    if (callbacks.on_image) callbacks.on_image(img);
    if (callbacks.keep_images) images.push_back(img);
  };
  impl_->engine.generate(r, inner, &impl_->cancel);
  return images;
}

bool Engine::cancel() {
  std::lock_guard<std::mutex> lock(impl_->state_mutex);
  if (!impl_->running) return false;
  impl_->cancel.store(true);
  return true;
}

Timings Engine::last_timings() const {
  std::lock_guard<std::mutex> lock(impl_->state_mutex);
  return impl_->timings;
}

std::string Engine::summary() const {
  std::lock_guard<std::mutex> lock(impl_->state_mutex);
  return impl_->summary;
}

void Engine::clear_cache() {
  std::lock_guard<std::mutex> run_lock(impl_->run_mutex);
  impl_->engine.clear_cache();
}

}  // namespace gen
