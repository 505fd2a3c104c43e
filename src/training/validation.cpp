#include "training/validation.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "control/control_image.hpp"
#include "core/fail.hpp"
#include "core/fs.hpp"
#include "pipeline/channels_last.hpp"
#include "pipeline/conditioning.hpp"
#include "pipeline/generate.hpp"
#include "pipeline/sampling_config.hpp"
#include "training/dataset.hpp"

namespace gen::training {

namespace {
constexpr const char* kSampler = "unipc";  // train_controlnet.py's UniPCMultistepScheduler
constexpr double kGuidance = 7.5;          // StableDiffusionControlNetPipeline's default
}  // namespace

void Validation::check(int every, const std::vector<std::string>& prompts, const std::vector<std::string>& images,
                       int steps) {
  if (every < 0) fail(ErrorCode::InvalidArgument, "--validation-every", "must not be negative");
  if (every == 0) {
    if (!prompts.empty() || !images.empty())
      fail(ErrorCode::InvalidArgument, "--validation-every", "is needed with --validation-prompt / --validation-image");
    return;
  }
  if (prompts.empty() || images.empty())
    fail(ErrorCode::InvalidArgument, prompts.empty() ? "--validation-prompt" : "--validation-image",
         "is needed with --validation-every (one or more, paired with the other)");
  if (prompts.size() != images.size() && prompts.size() != 1 && images.size() != 1)
    fail(ErrorCode::InvalidArgument, "--validation-prompt",
         std::to_string(prompts.size()) + " prompts and " + std::to_string(images.size()) +
             " images do not pair: give as many of each, or one of either");
  if (steps < 1 || steps > 1000) fail(ErrorCode::InvalidArgument, "--validation-steps", "must be 1..1000");
  for (const auto& f : images)
    if (!core::is_file(f)) fail(ErrorCode::NotFound, f, "no such validation image (--validation-image)");
}

Validation::Validation(ValidationOptions o, const models::ModelFiles& files, const text::ClipTokenizer& tokenizer,
                       const models::ClipTextModel& text)
    : options_(std::move(o)) {
  const auto& v = options_;
  check(v.every, v.prompts, v.images, v.steps);
  if (v.every == 0) return;
  scheduler_ = pipeline::sampling_config(files.scheduler_config(), kSampler, v.prediction,
                                         files.path() + "/scheduler/scheduler_config.json");
  pipeline::TextEncoder encoder;
  encoder.tokenizer = &tokenizer;
  encoder.model = &text;
  encoder.padding = tokenizer.default_padding();  // as the training captions are encoded
  encoder.skip = files.default_clip_skip();
  encoder.emphasis = false;  // plain text, as diffusers
  c10::InferenceMode guard;
  const std::size_t n = std::max(v.prompts.size(), v.images.size());
  for (std::size_t k = 0; k < n; ++k) {
    const auto& prompt = v.prompts[v.prompts.size() == 1 ? 0 : k];
    const auto& image = v.images[v.images.size() == 1 ? 0 : k];
    auto [neg, pos] = pipeline::encode_prompts(encoder, prompt, "");
    negative_.push_back(neg);
    positive_.push_back(pos);
    if (v.preprocess.empty()) {
      control_.push_back(control::prepare_control_image(image, "none", "crop", v.width, v.height));
    } else {
      const auto map = v.mapper->map(read_image(image), v.preprocess, ResizeMode::Crop, v.width, v.height);
      control_.push_back(rgb_tensor(map).unsqueeze(0));
    }
  }
}

void Validation::prepare(models::Vae& vae) const {
  if (options_.every > 0) pipeline::to_channels_last(vae);
}

std::vector<std::string> Validation::render(int step, const models::UNet& unet, const models::Vae& vae,
                                            const control::ControlNet& net) const {
  std::vector<std::string> written;
  if (!due(step)) return written;
  const auto dir = core::join(options_.output, "validation");
  if (!core::is_dir(dir) && ::mkdir(dir.c_str(), 0755) != 0)
    fail(ErrorCode::Io, dir, std::string("cannot create the folder: ") + std::strerror(errno));
  c10::InferenceMode guard;
  pipeline::Models models;
  models.unet = &unet;
  models.vae = &vae;
  models.vae_channels_last = true;  // as the engine decodes (the caller converted the weights)
  for (std::size_t k = 0; k < control_.size(); ++k) {
    pipeline::DenoiseRequest d;
    d.width = options_.width;
    d.height = options_.height;
    d.seed = options_.seed;
    d.cfg_scale = kGuidance;
    d.sampler = kSampler;
    d.steps = options_.steps;
    d.scheduler = scheduler_;
    pipeline::ControlUnit unit;
    unit.net = &net;
    unit.image = control_[k];
    d.controls.push_back(unit);
    const auto latents = pipeline::denoise(models, d, negative_[k], positive_[k]);
    const auto hwc = pipeline::decode(models, latents).permute({0, 2, 3, 1}).contiguous().to(at::kFloat)[0].contiguous();
    const auto image = image_from_float_rgb(hwc.data_ptr<float>(), static_cast<int>(hwc.size(1)),
                                            static_cast<int>(hwc.size(0)));
    const auto prompt = options_.prompts[options_.prompts.size() == 1 ? 0 : k];
    written.push_back(core::join(dir, "step-" + std::to_string(step) + "-" + std::to_string(k) + ".png"));
    write_png(written.back(), image, {{"gen-validation", "step " + std::to_string(step) + ": " + prompt}});
  }
  return written;
}

}  // namespace gen::training
