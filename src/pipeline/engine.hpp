// gen — runs Requests inside the library: loads (and keeps) the models a request names,
// encodes the prompts, runs the denoising loop and decodes, returning 8-bit RGB images
// with their metadata. Base models are cached by path (least recently used dropped first);
// each keeps its own ControlNets, so a ControlNet is swapped without reloading the base.
// Not thread-safe: the public gen::Engine (src/api) serialises calls and adds cancel().
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "gen/engine.hpp"
#include "pipeline/request.hpp"

namespace gen::pipeline {

struct CacheLimits {
  int models = 1;
  int controlnets = 4;
  bool profile = false;  // see gen::EngineOptions::profile
  bool wide_weights = false;  // gen::EngineOptions::weights == "wide"
  bool offload = false;       // gen::EngineOptions::weights == "offload"
};

class Engine {
 public:
  explicit Engine(CacheLimits limits = {});
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

}  // namespace gen::pipeline
