// gen — runs Requests: loads (and keeps) the models a request names, encodes the
// prompts, runs the denoising loop and decodes, returning 8-bit RGB images with their
// metadata. Models are cached by path, so a sequence of requests on the same model
// loads it once; a ControlNet is swapped without reloading the base model.
// Not thread-safe: use one Engine per thread (or serialise calls).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "image/image.hpp"
#include "pipeline/request.hpp"

namespace gen::pipeline {

struct GeneratedImage {
  Image image;               // 8-bit RGB
  std::uint64_t seed = 0;
  int index = 0;             // over the whole request (batch_count × batch_size)
  int batch = 0;             // which batch
  int index_in_batch = 0;
  std::map<std::string, std::string> text;  // PNG text chunks: "parameters" (A1111), "gen" (request JSON)
};

struct Progress {
  int batch = 0, batches = 1;
  int step = 0, steps = 0;   // model calls within the batch
  double seconds = 0;        // since the batch started
};

class Engine {
 public:
  Engine();
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // `request.seed` must be set (resolve_seed). Calls `on_image` as each batch is
  // decoded, so images can be written while the next batch runs.
  void generate(const Request& request, const std::function<void(const GeneratedImage&)>& on_image,
                const std::function<void(const Progress&)>& on_progress = nullptr,
                const std::atomic<bool>* cancel = nullptr);
  // A human summary of what was loaded for the last request (layout, family, device).
  std::string summary() const;

 private:
  void run(const Request& request, const std::function<void(const GeneratedImage&)>& on_image,
           const std::function<void(const Progress&)>& on_progress, const std::atomic<bool>* cancel);
  struct State;
  std::unique_ptr<State> s_;
};

// The request with its seed chosen (random 32-bit when absent).
Request resolve_seed(Request r);

}  // namespace gen::pipeline
