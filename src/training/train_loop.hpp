// gen — the loop every `gen train` command shares (docs/training.md): the output folder
// (checkpoint-<step>/ written whole under a temporary name, then renamed; the finished model at
// the end), resuming from the newest checkpoint with the same settings (optimizer state, step
// and data order restored: each micro-batch's samples and noise are functions of (seed,
// micro-batch index), so a resumed run draws what the uninterrupted one would have drawn),
// progress with loss, steps/s and ETA, out of memory as one error with the last checkpoint intact.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "gen/training.hpp"
#include "training/trainer.hpp"

namespace gen::training {

struct LoopOptions {
  std::string output;
  int steps = 100;
  int accumulation = 1;
  int checkpoint_every = 0;
  bool resume = false;
  std::uint64_t seed = 0;
  std::string model_name;    // the finished model's folder in output ("controlnet", "unet", "vae")
  nlohmann::json settings;   // what a resumed run must share with the checkpoint
};

struct ResumePoint {
  int step = 0;             // optimizer steps done
  std::string checkpoint;   // its folder ("" for a new run); the model inside is model_name/
  std::int64_t adam_step = 0;
};

// The loop's options from a command's options (TrainControlNetOptions, TrainModelOptions: the
// same field names), the finished model's folder name and the settings a resume must share.
template <class Options>
LoopOptions loop_options_of(const Options& o, std::string model_name, nlohmann::json settings) {
  LoopOptions lo;
  lo.output = o.output;
  lo.steps = o.steps;
  lo.accumulation = o.accumulation;
  lo.checkpoint_every = o.checkpoint_every;
  lo.resume = o.resume;
  lo.seed = o.seed;
  lo.model_name = std::move(model_name);
  lo.settings = std::move(settings);
  return lo;
}

// Checks the options, creates the output folder, refuses one holding checkpoints (without
// resume) or a finished model, and reads the newest checkpoint's state when resuming (refusing
// other settings, naming the first difference).
ResumePoint prepare_output(const LoopOptions& o);

// Restores the optimizer state of a checkpoint (after the trainer was built on its weights).
void load_optimizer_state(const ResumePoint& r, ParameterTrainer& trainer);

// A distinct CPU generator per (seed, stream, index).
at::Generator generator_for(std::uint64_t seed, std::uint64_t stream, std::uint64_t index);

// Which sample the k-th draw takes: a fresh permutation of the n samples every epoch.
class SampleOrder {
 public:
  SampleOrder(std::uint64_t seed, std::int64_t n) : seed_(seed), n_(n) {}
  std::int64_t operator()(std::int64_t k);

 private:
  std::uint64_t seed_;
  std::int64_t n_;
  std::map<std::int64_t, at::Tensor> orders_;
};

// Runs optimizer steps r.step .. o.steps. `micro(m)` does forward and backward of micro-batch m
// (m = step × accumulation + a) and returns its loss; `save(folder)` writes the trained model as
// the folder `folder` (created by it). Checkpoints every o.checkpoint_every steps and at the end;
// the finished model goes to output/model_name. `after_step(step)` (optional) runs after each
// step's checkpoint (validation images); the files it returns go to the step's progress.
void run_loop(const LoopOptions& o, const ResumePoint& r, ParameterTrainer& trainer,
              const std::function<double(std::int64_t)>& micro, const std::function<void(const std::string&)>& save,
              const std::function<void(const TrainProgress&)>& progress,
              const std::function<std::vector<std::string>(int)>& after_step = {});

}  // namespace gen::training
