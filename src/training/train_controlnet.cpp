// gen::train_controlnet (include/gen/training.hpp): the data cached once (images fitted to
// --resolution, control images made by --preprocess, VAE latent distributions, text contexts,
// hint images), then ControlNetTrainer over micro-batches whose
// samples, noise, timesteps and caption dropout are functions of (seed, micro-batch index), so a
// resumed run draws what the uninterrupted one would have drawn.
#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <nlohmann/json.hpp>

#include "control/controlnet_files.hpp"
#include "core/fail.hpp"
#include "core/files.hpp"
#include "control/control_image.hpp"
#include "core/fs.hpp"
#include "gen/control.hpp"
#include "gen/training.hpp"
#include "models/model_files.hpp"
#include "pipeline/threads.hpp"
#include "schedulers/scheduler.hpp"
#include "text/clip_tokenizer.hpp"
#include "training/controlnet_init.hpp"
#include "training/controlnet_step.hpp"
#include "training/dataset.hpp"
#include "training/train_loop.hpp"
#include "training/validation.hpp"

namespace gen {

namespace {

struct Cached {
  at::Tensor mean, std, hint, context;  // [4, h, w] ×2, [3, 8h, 8w], [L, C]
};

nlohmann::json settings_of(const TrainControlNetOptions& o, const std::string& target, std::size_t samples) {
  nlohmann::json j = {{"model", o.model},           {"controlnet", o.controlnet},       {"data", o.data},
                      {"samples", samples},         {"batch_size", o.batch_size},       {"accumulation", o.accumulation},
                      {"learning_rate", o.learning_rate}, {"max_grad_norm", o.max_grad_norm}, {"prediction", target},
                      {"empty_prompts", o.empty_prompts}, {"seed", o.seed}};
  // Settings added later: written when not the default, so older checkpoints still resume.
  if (o.resolution > 0) j["resolution"] = o.resolution;
  if (o.random_crop) j["random_crop"] = true;
  if (!o.preprocess.empty()) j["preprocess"] = o.preprocess;
  if (o.preprocess_always) j["preprocess_always"] = true;
  if (o.mixed_precision != "no") j["mixed_precision"] = o.mixed_precision;
  return j;
}

void check_options(const TrainControlNetOptions& o) {
  if (o.batch_size < 1 || o.batch_size > 4096) fail(ErrorCode::InvalidArgument, "--batch-size", "must be 1..4096");
  if (!(o.learning_rate > 0)) fail(ErrorCode::InvalidArgument, "--learning-rate", "must be positive");
  if (!(o.empty_prompts >= 0 && o.empty_prompts <= 1)) fail(ErrorCode::InvalidArgument, "--empty-prompts", "must be in [0, 1]");
  if (o.output.empty()) fail(ErrorCode::InvalidArgument, "--output", "is empty");
  if (o.resolution != 0 && (o.resolution < 8 || o.resolution > 4096 || o.resolution % 8 != 0))
    fail(ErrorCode::InvalidArgument, "--resolution", std::to_string(o.resolution) + ": a multiple of 8 from 8 to 4096");
  if (o.random_crop && o.resolution == 0) fail(ErrorCode::InvalidArgument, "--random-crop", "needs --resolution");
  if (o.preprocess_always && o.preprocess.empty())
    fail(ErrorCode::InvalidArgument, "--preprocess-always", "needs --preprocess");
  if (!o.preprocess.empty()) {
    if (o.preprocess == "none" || o.preprocess == "inpaint_only")
      fail(ErrorCode::InvalidArgument, "--preprocess", "'" + o.preprocess + "' makes no control image from a picture");
    control::check_preprocess(o.preprocess);
  }
  training::precision_of(o.mixed_precision);
  training::Validation::check(o.validation_every, o.validation_prompts, o.validation_images, o.validation_steps);
}

// The sample's image and control image as 8-bit RGB at the training size: read, fitted to
// --resolution (the same crop for both), the control image made by the preprocessor when asked.
std::pair<Image, Image> sample_images(const TrainControlNetOptions& o, const training::Sample& s, std::size_t index,
                                      const std::string& where, ControlMapper* mapper) {
  auto img = training::read_rgb8(s.image);
  const bool make = mapper && (o.preprocess_always || s.control.empty());
  Image ctl;
  if (!make) {
    ctl = training::read_rgb8(s.control);
    if (img.width != ctl.width || img.height != ctl.height)
      fail(ErrorCode::InvalidArgument, where,
           "image " + std::to_string(img.width) + "x" + std::to_string(img.height) + " and control image " +
               std::to_string(ctl.width) + "x" + std::to_string(ctl.height) + " differ in size");
  }
  if (o.resolution > 0) {
    const auto box = training::crop_box(img.width, img.height, {o.resolution, o.random_crop, o.seed}, index);
    img = training::fit_image(img, box, o.resolution);
    if (!make) ctl = training::fit_image(ctl, box, o.resolution);
  } else if (img.width % 8 != 0 || img.height % 8 != 0) {
    fail(ErrorCode::InvalidArgument, where, "image sides must be multiples of 8 (or give --resolution)");
  }
  if (make) ctl = mapper->map(img, o.preprocess, ResizeMode::Just, img.width, img.height);
  return {std::move(img), std::move(ctl)};
}

}  // namespace

void train_controlnet(const TrainControlNetOptions& o, const std::function<void(const TrainProgress&)>& progress) {
  check_options(o);
  const auto data = training::read_dataset(
      o.data, o.preprocess.empty() ? training::ControlColumn::Required : training::ControlColumn::Optional);
  const auto files = models::ModelFiles::open(o.model);
  if (!files.has_unet() || !files.has_vae() || !files.has_text_encoder())
    fail(ErrorCode::NotFound, o.model, "training needs the UNet, the VAE and the text encoder");
  const std::string target = o.prediction.empty() ? files.prediction_type() : o.prediction;
  if (target != "epsilon" && target != "v_prediction")
    fail(ErrorCode::Unsupported, "--prediction", "'" + target + "': epsilon or v_prediction");
  const auto lo = training::loop_options_of(o, "controlnet", settings_of(o, target, data.samples.size()));
  const auto resumed = training::prepare_output(lo);
  std::unique_ptr<ControlMapper> mapper;
  if (!o.preprocess.empty()) {
    PreprocessOptions po;
    po.annotator_dir = o.annotator_dir;
    po.resolution = o.preprocess_resolution;
    po.seed = o.seed;
    mapper = std::make_unique<ControlMapper>(po);
  }

  auto unet = files.load_unet(at::kFloat, at::kCPU);
  auto vae = files.load_vae(at::kFloat, at::kCPU);
  auto text = files.load_text_encoder(at::kFloat, at::kCPU);
  if (files.tokenizer_dir().empty() && o.vocab.empty())
    fail(ErrorCode::InvalidArgument, "--vocab", "the model has no tokenizer folder: give the CLIP vocabulary");
  const auto tokenizer = !files.tokenizer_dir().empty() ? text::ClipTokenizer::from_folder(files.tokenizer_dir())
                                                        : text::ClipTokenizer::from_clip_bpe_gz(o.vocab);
  auto net = control::load_controlnet(resumed.checkpoint.empty() ? o.controlnet : core::join(resumed.checkpoint, "controlnet"),
                                      *unet, at::kFloat, at::kCPU);
  const auto sched_cfg = files.scheduler_config().is_null()
                             ? SchedulerConfig{}
                             : SchedulerConfig::from_json(files.scheduler_config(), "ddim", files.path());
  const auto alphas = sched::alphas_cumprod(sched_cfg);
  const double scaling = files.vae_config().scaling_factor;

  training::ValidationOptions vo;
  vo.every = o.validation_every;
  vo.prompts = o.validation_prompts;
  vo.images = o.validation_images;
  vo.steps = o.validation_steps;
  vo.seed = o.seed;
  if (o.resolution > 0) {
    vo.width = vo.height = o.resolution;
  } else {
    const auto first = training::read_rgb8(data.samples[0].image);
    vo.width = first.width;
    vo.height = first.height;
  }
  vo.prediction = target;
  vo.output = o.output;
  if (o.preprocess_always) vo.preprocess = o.preprocess;
  vo.mapper = mapper.get();
  const training::Validation validation(vo, files, tokenizer, *text);

  // The cache: every sample encoded once, without autograd.
  std::vector<Cached> cache;
  at::Tensor empty_context;
  {
    c10::AutoGradMode no_grad(false);
    auto encode_text = [&](const std::string& caption) {
      const auto ids = tokenizer.encode_padded(caption, tokenizer.default_padding());
      std::vector<std::int64_t> ids64(ids.begin(), ids.end());
      return text->forward(at::tensor(ids64, at::kLong).unsqueeze(0), files.default_clip_skip())[0];
    };
    empty_context = encode_text("");
    for (std::size_t i = 0; i < data.samples.size(); ++i) {
      const auto& s = data.samples[i];
      const auto where = data.file + ":" + std::to_string(s.line);
      const auto [image, control] = sample_images(o, s, i, where, mapper.get());
      const auto img = training::rgb_tensor(image), ctl = training::rgb_tensor(control);
      auto [mean, logvar] = vae->encode((img * 2 - 1).unsqueeze(0));
      Cached c;
      c.mean = mean[0];
      c.std = (0.5 * logvar[0].clamp(-30, 20)).exp();
      const std::int64_t hh = c.mean.size(1) * 8, hw = c.mean.size(2) * 8;  // the hint encoder's input size
      c.hint = ctl.size(1) == hh && ctl.size(2) == hw
                   ? ctl
                   : at::upsample_bilinear2d(ctl.unsqueeze(0), {hh, hw}, false)[0];
      c.context = encode_text(s.caption);
      if (o.batch_size > 1 && !cache.empty() && c.mean.sizes() != cache[0].mean.sizes())
        fail(ErrorCode::InvalidArgument, where, "a batch needs images of one size: this one differs from the first sample's");
      cache.push_back(std::move(c));
    }
  }

  validation.prepare(*vae);  // (the cache is the VAE's last encode)

  training::TrainSettings ts;
  ts.learning_rate = o.learning_rate;
  ts.max_grad_norm = o.max_grad_norm;
  ts.accumulation = o.accumulation;
  ts.target = target == "epsilon" ? training::Target::Epsilon : training::Target::VPrediction;
  ts.precision = training::precision_of(o.mixed_precision);
  ts.gradient_checkpointing = o.gradient_checkpointing;
  training::ControlNetTrainer trainer(*unet, *net, alphas, ts);
  training::load_optimizer_state(resumed, trainer.trainer());

  // As for generation (pipeline/threads.hpp): small work on one thread, else every CPU.
  pipeline::use_threads(pipeline::threads_for(
      pipeline::request_work(cache[0].hint.size(2), cache[0].hint.size(1), files.unet_config().model_channels,
                             o.batch_size),
      o.threads, pipeline::available_cpus()));
  training::SampleOrder sample_at(o.seed, static_cast<std::int64_t>(cache.size()));
  const auto train_steps = static_cast<std::int64_t>(sched_cfg.num_train_timesteps);
  auto micro = [&](std::int64_t m) {
    auto g = training::generator_for(o.seed, 2, static_cast<std::uint64_t>(m));
    std::vector<at::Tensor> lat, hint, ctx;
    for (int b = 0; b < o.batch_size; ++b) {
      const auto& c = cache[sample_at(m * o.batch_size + b)];
      lat.push_back((c.mean + c.std * at::randn(c.mean.sizes(), g)) * scaling);
      hint.push_back(c.hint);
      const bool drop = o.empty_prompts > 0 && at::rand({1}, g).item<double>() < o.empty_prompts;
      ctx.push_back(drop ? empty_context : c.context);
    }
    training::TrainSample s;
    s.latents = at::stack(lat);
    s.noise = at::randn(s.latents.sizes(), g);
    s.timesteps = at::randint(0, train_steps, {o.batch_size}, g, at::kLong);
    s.context = at::stack(ctx);
    s.hint = at::stack(hint);
    return trainer.forward_backward(s);
  };
  training::run_loop(
      lo, resumed, trainer.trainer(), micro,
      [&](const std::string& folder) { training::save_controlnet(*net, folder, "diffusers"); }, progress,
      [&](int step) { return validation.render(step, *unet, *vae, *net); });
}

}  // namespace gen
