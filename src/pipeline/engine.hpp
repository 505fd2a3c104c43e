// gen — runs Requests inside the library by composing the stages: models from the cache
// (pipeline/model_cache), the prompt's conditioning (pipeline/conditioning), the control
// units, then per batch prepare latents → denoise with controls → decode → images with
// their metadata (pipeline/batch_runner). Base models are cached by path (least recently
// used dropped first); each keeps its own ControlNets, so a ControlNet is swapped without
// reloading the base.
// Not thread-safe: the public gen::Engine (src/api) serialises calls and adds cancel().
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "gen/engine.hpp"

namespace gen::pipeline {

class Engine {
 public:
  // `options`: limits, weights mode and the fast-path switches (model/vae/vocab/device/dtype
  // defaults are applied to requests by the public Engine before they reach this one).
  explicit Engine(const EngineOptions& options = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // `request.seed` must be set (resolve_seed). Calls `callbacks.on_image` as each batch is
  // decoded, so images can be written while the next batch runs. `cancel` is polled
  // between model calls.
  void generate(const Request& request, const Callbacks& callbacks, const std::atomic<bool>* cancel = nullptr);
  // A human summary of what was loaded for the last request (layout, family, device).
  std::string summary() const;
  Timings last_timings() const;
  void clear_cache();

 private:
  void run(const Request& request, const Callbacks& callbacks, const std::atomic<bool>* cancel);
  struct State;
  std::unique_ptr<State> s_;
};

// The request with its seed chosen (random 32-bit when absent).
Request resolve_seed(Request r);

// The device and dtype a request's `device` / `dtype` fields pick (auto: CUDA when present, fp16
// there and fp32 on the CPU). Unsupported when cuda is asked for without a GPU.
c10::Device pick_device(Device device);
at::ScalarType pick_dtype(Precision precision, const c10::Device& device);

}  // namespace gen::pipeline
