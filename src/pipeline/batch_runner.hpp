// gen — the batches of one request, each through the same stages: prepare latents (the
// seeds' noise) → denoise with the controls → decode → 8-bit images with their metadata,
// handed to on_image as each batch is ready. Timings and the NaN diagnosis per stage.
#pragma once

#include <ATen/core/Tensor.h>

#include <atomic>
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "gen/engine.hpp"
#include "pipeline/generate.hpp"
#include "pipeline/hires.hpp"
#include "pipeline/model_cache.hpp"
#include "pipeline/refiner.hpp"

namespace gen::pipeline {

struct BatchJob {
  const Request* request = nullptr;  // seed resolved
  const BaseModel* base = nullptr;
  std::vector<std::pair<control::ControlNet*, std::string>> controlnets;  // for the diagnosis
  Models models;
  DenoiseRequest denoise;            // everything but the seed, which each batch sets
  at::Tensor negative, positive;     // the prompts' conditioning
  const EditImages* edit_images = nullptr;  // editing: how each image is finished (overlay)
  const HiresJob* hires = nullptr;          // hires fix: the second pass
  const RefinerJob* refiner = nullptr;      // SDXL: the refiner takes over (and decodes)
  std::string lora_hashes;                  // the infotext's "Lora hashes" ("": none)
  std::string ti_hashes;                    // the infotext's "TI hashes" ("": none)
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();  // Progress::elapsed
};

// Runs every batch of `job`. `stage` is kept up to date for error messages ("denoising
// (batch 2)"); `timings` accumulates denoise/decode times, FLOPs, steps and images.
void run_batches(BatchJob& job, const Callbacks& callbacks, const std::atomic<bool>* cancel, Timings& timings,
                 std::string& stage);

}  // namespace gen::pipeline
