// gen::train_controlnet (include/gen/training.hpp): the data cached once (VAE latent
// distributions, text contexts, hint images), then ControlNetTrainer over micro-batches whose
// samples, noise, timesteps and caption dropout are functions of (seed, micro-batch index), so a
// resumed run draws what the uninterrupted one would have drawn.
#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <nlohmann/json.hpp>

#include "control/controlnet_files.hpp"
#include "core/fail.hpp"
#include "core/files.hpp"
#include "core/fs.hpp"
#include "gen/training.hpp"
#include "models/model_files.hpp"
#include "pipeline/threads.hpp"
#include "schedulers/scheduler.hpp"
#include "text/clip_tokenizer.hpp"
#include "training/controlnet_init.hpp"
#include "training/controlnet_step.hpp"
#include "training/dataset.hpp"
#include "training/train_loop.hpp"

namespace gen {

namespace {

struct Cached {
  at::Tensor mean, std, hint, context;  // [4, h, w] ×2, [3, 8h, 8w], [L, C]
};

nlohmann::json settings_of(const TrainControlNetOptions& o, const std::string& target, std::size_t samples) {
  return {{"model", o.model},           {"controlnet", o.controlnet},       {"data", o.data},
          {"samples", samples},         {"batch_size", o.batch_size},       {"accumulation", o.accumulation},
          {"learning_rate", o.learning_rate}, {"max_grad_norm", o.max_grad_norm}, {"prediction", target},
          {"empty_prompts", o.empty_prompts}, {"seed", o.seed}};
}

}  // namespace

void train_controlnet(const TrainControlNetOptions& o, const std::function<void(const TrainProgress&)>& progress) {
  if (o.batch_size < 1 || o.batch_size > 4096) fail(ErrorCode::InvalidArgument, "--batch-size", "must be 1..4096");
  if (!(o.learning_rate > 0)) fail(ErrorCode::InvalidArgument, "--learning-rate", "must be positive");
  if (!(o.empty_prompts >= 0 && o.empty_prompts <= 1)) fail(ErrorCode::InvalidArgument, "--empty-prompts", "must be in [0, 1]");
  if (o.output.empty()) fail(ErrorCode::InvalidArgument, "--output", "is empty");
  const auto data = training::read_dataset(o.data);
  const auto files = models::ModelFiles::open(o.model);
  if (!files.has_unet() || !files.has_vae() || !files.has_text_encoder())
    fail(ErrorCode::NotFound, o.model, "training needs the UNet, the VAE and the text encoder");
  const std::string target = o.prediction.empty() ? files.prediction_type() : o.prediction;
  if (target != "epsilon" && target != "v_prediction")
    fail(ErrorCode::Unsupported, "--prediction", "'" + target + "': epsilon or v_prediction");
  const auto lo = training::loop_options_of(o, "controlnet", settings_of(o, target, data.samples.size()));
  const auto resumed = training::prepare_output(lo);

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
    for (const auto& s : data.samples) {
      const auto where = data.file + ":" + std::to_string(s.line);
      const auto img = training::read_rgb(s.image), ctl = training::read_rgb(s.control);
      if (img.sizes() != ctl.sizes())
        fail(ErrorCode::InvalidArgument, where,
             "image " + std::to_string(img.size(2)) + "x" + std::to_string(img.size(1)) + " and control image " +
                 std::to_string(ctl.size(2)) + "x" + std::to_string(ctl.size(1)) + " differ in size");
      if (img.size(1) % 8 != 0 || img.size(2) % 8 != 0)
        fail(ErrorCode::InvalidArgument, where, "image sides must be multiples of 8");
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

  training::TrainSettings ts;
  ts.learning_rate = o.learning_rate;
  ts.max_grad_norm = o.max_grad_norm;
  ts.accumulation = o.accumulation;
  ts.target = target == "epsilon" ? training::Target::Epsilon : training::Target::VPrediction;
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
  training::run_loop(lo, resumed, trainer.trainer(), micro,
                     [&](const std::string& folder) { training::save_controlnet(*net, folder, "diffusers"); }, progress);
}

}  // namespace gen
