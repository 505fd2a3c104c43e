// gen — validation images while a ControlNet trains (docs/training.md), as diffusers'
// train_controlnet.py's log_validation: every N optimizer steps each (prompt, control image) pair
// is drawn with the ControlNet as it is at that step, through the generation pipeline itself
// (pipeline::denoise and decode: UniPC, CFG 7.5 with the empty negative prompt, the run's seed;
// no second sampler), and written atomically as <out>/validation/step-<N>-<k>.png.
// Pairs as the script pairs them: as many prompts as images, or one of either for all of the other.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "control/controlnet.hpp"
#include "gen/control.hpp"
#include "models/clip_text.hpp"
#include "models/model_files.hpp"
#include "models/unet.hpp"
#include "models/vae.hpp"
#include "schedulers/scheduler.hpp"
#include "text/clip_tokenizer.hpp"

namespace gen::training {

struct ValidationOptions {
  int every = 0;  // optimizer steps; 0: none
  std::vector<std::string> prompts, images;
  int steps = 20;
  std::uint64_t seed = 0;
  int width = 0, height = 0;  // the training images' size
  std::string prediction;     // the training target ("epsilon", "v_prediction")
  std::string output;         // the run's folder
  // Non-empty: the images are photos, made into control maps as the training images were.
  std::string preprocess;
  ControlMapper* mapper = nullptr;
};

class Validation {
 public:
  // Checks the options and reads every image (their errors come before any training) and
  // encodes the prompts. InvalidArgument naming the option for counts that do not pair.
  Validation(ValidationOptions options, const models::ModelFiles& files, const text::ClipTokenizer& tokenizer,
             const models::ClipTextModel& text);
  // The option checks alone (before anything loads); the images must exist.
  static void check(int every, const std::vector<std::string>& prompts, const std::vector<std::string>& images,
                    int steps);
  bool due(int step) const { return options_.every > 0 && step % options_.every == 0; }
  // Readies the VAE for decoding as the engine decodes (channels-last weights: the same float
  // rounding, so the images equal `gen`'s); call after the VAE's last encode.
  void prepare(models::Vae& vae) const;
  // Draws every pair with `net` (and a VAE made ready by prepare); returns the files written.
  std::vector<std::string> render(int step, const models::UNet& unet, const models::Vae& vae,
                                  const control::ControlNet& net) const;

 private:
  ValidationOptions options_;
  SchedulerConfig scheduler_;
  std::vector<at::Tensor> negative_, positive_, control_;  // per pair
};

}  // namespace gen::training
