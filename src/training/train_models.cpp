// gen::train_unet and gen::train_vae (include/gen/training.hpp) over the shared loop
// (training/train_loop.hpp): the data cached once without autograd, then micro-batches whose
// samples, noise and timesteps are functions of (seed, micro-batch index).
#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "core/fail.hpp"
#include "core/files.hpp"
#include "core/fs.hpp"
#include "gen/safetensors.hpp"
#include "gen/training.hpp"
#include "models/key_map.hpp"
#include "models/model_files.hpp"
#include "pipeline/threads.hpp"
#include "schedulers/scheduler.hpp"
#include "text/clip_tokenizer.hpp"
#include "training/component_io.hpp"
#include "training/controlnet_step.hpp"
#include "training/dataset.hpp"
#include "training/train_loop.hpp"

namespace gen {

namespace {

void check_common(const TrainModelOptions& o) {
  if (o.batch_size < 1 || o.batch_size > 4096) fail(ErrorCode::InvalidArgument, "--batch-size", "must be 1..4096");
  if (!(o.learning_rate > 0)) fail(ErrorCode::InvalidArgument, "--learning-rate", "must be positive");
  if (!(o.empty_prompts >= 0 && o.empty_prompts <= 1)) fail(ErrorCode::InvalidArgument, "--empty-prompts", "must be in [0, 1]");
  if (!(o.kl_weight >= 0)) fail(ErrorCode::InvalidArgument, "--kl-weight", "must not be negative");
  training::precision_of(o.mixed_precision);
}

models::ModelFiles open_folder(const TrainModelOptions& o, const char* part) {
  if (core::is_file(o.model) || (core::is_dir(o.model) && !core::is_file(core::join(o.model, "model_index.json"))))
    fail(ErrorCode::Unsupported, o.model, std::string("training the ") + part +
                                              " needs a diffusers pipeline folder (gen train init makes one)");
  auto files = models::ModelFiles::open(o.model);
  if (!files.has_unet() || !files.has_vae() || !files.has_text_encoder())
    fail(ErrorCode::NotFound, o.model, "training needs the UNet, the VAE and the text encoder");
  return files;
}

training::LoopOptions loop_options(const TrainModelOptions& o, const char* name, nlohmann::json settings) {
  settings.update({{"model", o.model}, {"data", o.data}, {"batch_size", o.batch_size},
                   {"accumulation", o.accumulation}, {"learning_rate", o.learning_rate},
                   {"max_grad_norm", o.max_grad_norm}, {"seed", o.seed}});
  if (o.mixed_precision != "no") settings["mixed_precision"] = o.mixed_precision;  // (older checkpoints have none)
  return training::loop_options_of(o, name, std::move(settings));
}

training::TrainSettings train_settings(const TrainModelOptions& o) {
  training::TrainSettings ts;
  ts.learning_rate = o.learning_rate;
  ts.max_grad_norm = o.max_grad_norm;
  ts.accumulation = o.accumulation;
  ts.precision = training::precision_of(o.mixed_precision);
  return ts;
}

at::Tensor image_at(const training::Dataset& data, std::size_t i, const at::Tensor& first) {
  const auto& s = data.samples[i];
  const auto img = training::read_rgb(s.image);
  const auto where = data.file + ":" + std::to_string(s.line);
  if (img.size(1) % 8 != 0 || img.size(2) % 8 != 0) fail(ErrorCode::InvalidArgument, where, "image sides must be multiples of 8");
  if (first.defined() && img.sizes() != first.sizes())
    fail(ErrorCode::InvalidArgument, where, "every image must have the first one's size (" + std::to_string(first.size(2)) +
                                                "x" + std::to_string(first.size(1)) + ")");
  return img * 2 - 1;
}

nlohmann::json config_with(const std::string& path, const nlohmann::json& update) {
  auto config = nlohmann::json::parse(core::read_input(path, 1 << 20, "config"), nullptr, false);
  if (config.is_discarded() || !config.is_object()) fail(ErrorCode::InvalidFormat, path, "not a JSON object");
  config.update(update);
  return config;
}

}  // namespace

void train_unet(const TrainModelOptions& o, const std::function<void(const TrainProgress&)>& progress) {
  check_common(o);
  const auto data = training::read_dataset(o.data, training::ControlColumn::Unused);
  const auto files = open_folder(o, "UNet");
  const std::string target = o.prediction.empty() ? files.prediction_type() : o.prediction;
  if (target != "epsilon" && target != "v_prediction")
    fail(ErrorCode::Unsupported, "--prediction", "'" + target + "': epsilon or v_prediction");
  const auto lo = loop_options(o, "unet", {{"samples", data.samples.size()}, {"prediction", target},
                                           {"empty_prompts", o.empty_prompts}});
  const auto resumed = training::prepare_output(lo);
  auto unet = files.load_unet(at::kFloat, at::kCPU);
  if (!resumed.checkpoint.empty()) {  // the checkpoint's weights over the model's
    const auto ckpt = SafetensorsCheckpoint::open(core::join(resumed.checkpoint, "unet/diffusion_pytorch_model.safetensors"));
    const auto map = models::unet_key_map(files.unet_config());
    unet->visit([&](const std::string& n, models::Module::Param& p) {
      const auto key = map(n);
      if (!ckpt.contains(key) || ckpt.info(key).dtype != DType::F32 || ckpt.info(key).shape != p.shape)
        fail(ErrorCode::ModelMismatch, resumed.checkpoint, "no F32 tensor '" + key + "' of the UNet's shape");
      p.value = at::from_blob(ckpt.data(key), p.shape, at::kFloat).clone();
    });
  }
  auto vae = files.load_vae(at::kFloat, at::kCPU);
  auto text = files.load_text_encoder(at::kFloat, at::kCPU);
  const auto tokenizer = text::ClipTokenizer::from_folder(files.tokenizer_dir());
  const auto sched_cfg = files.scheduler_config().is_null()
                             ? SchedulerConfig{}
                             : SchedulerConfig::from_json(files.scheduler_config(), "ddim", files.path());
  const auto alphas = at::tensor(sched::alphas_cumprod(sched_cfg), at::kFloat);
  const double scaling = files.vae_config().scaling_factor;

  std::vector<at::Tensor> means, stds, contexts;
  at::Tensor empty_context;
  {
    c10::AutoGradMode no_grad(false);
    std::map<std::string, at::Tensor> by_caption;
    auto encode_text = [&](const std::string& caption) {
      auto it = by_caption.find(caption);
      if (it != by_caption.end()) return it->second;
      const auto ids = tokenizer.encode_padded(caption, tokenizer.default_padding());
      std::vector<std::int64_t> ids64(ids.begin(), ids.end());
      auto c = text->forward(at::tensor(ids64, at::kLong).unsqueeze(0), files.default_clip_skip())[0];
      by_caption.emplace(caption, c);
      return c;
    };
    empty_context = encode_text("");
    at::Tensor first;
    for (std::size_t i = 0; i < data.samples.size(); ++i) {
      const auto img = image_at(data, i, first);
      if (!first.defined()) first = img;
      auto [mean, logvar] = vae->encode(img.unsqueeze(0));
      means.push_back(mean[0]);
      stds.push_back((0.5 * logvar[0]).exp());
      contexts.push_back(encode_text(data.samples[i].caption));
    }
  }
  vae.reset();
  training::freeze(*text);
  auto ts = train_settings(o);
  ts.target = target == "epsilon" ? training::Target::Epsilon : training::Target::VPrediction;
  ts.gradient_checkpointing = o.gradient_checkpointing;
  training::ParameterTrainer trainer(*unet, ts);
  training::load_optimizer_state(resumed, trainer);
  pipeline::use_threads(pipeline::threads_for(
      pipeline::request_work(means[0].size(2) * 8, means[0].size(1) * 8, files.unet_config().model_channels, o.batch_size),
      o.threads, pipeline::available_cpus()));
  training::SampleOrder sample_at(o.seed, static_cast<std::int64_t>(means.size()));
  const auto train_steps = static_cast<std::int64_t>(sched_cfg.num_train_timesteps);
  auto micro = [&](std::int64_t m) {
    auto g = training::generator_for(o.seed, 2, static_cast<std::uint64_t>(m));
    std::vector<at::Tensor> lat, ctx;
    for (int b = 0; b < o.batch_size; ++b) {
      const auto k = sample_at(m * o.batch_size + b);
      lat.push_back((means[k] + stds[k] * at::randn(means[k].sizes(), g)) * scaling);
      const bool drop = o.empty_prompts > 0 && at::rand({1}, g).item<double>() < o.empty_prompts;
      ctx.push_back(drop ? empty_context : contexts[k]);
    }
    training::TrainSample s;
    s.latents = at::stack(lat);
    s.noise = at::randn(s.latents.sizes(), g);
    s.timesteps = at::randint(0, train_steps, {o.batch_size}, g, at::kLong);
    s.context = at::stack(ctx);
    at::Tensor loss;
    {
      training::ForwardScope scope(ts.precision, ts.gradient_checkpointing);
      loss = training::noise_prediction_loss(*unet, nullptr, s, alphas, ts.target);
    }
    return trainer.backward(loss);
  };
  const auto config = core::join(files.path(), "unet/config.json");
  const auto map = models::unet_key_map(files.unet_config());
  training::run_loop(lo, resumed, trainer, micro, [&](const std::string& folder) {
    training::save_component(*unet, folder, config_with(config, nlohmann::json::object()),
                             [&](const std::string& n) { return map(n); });
  }, progress);
}

void train_vae(const TrainModelOptions& o, const std::function<void(const TrainProgress&)>& progress) {
  check_common(o);
  const auto data = training::read_dataset(o.data, training::ControlColumn::Unused);
  const auto files = open_folder(o, "VAE");
  const auto lo = loop_options(o, "vae", {{"samples", data.samples.size()}, {"kl_weight", o.kl_weight}});
  const auto resumed = training::prepare_output(lo);
  models::ModelFilesOptions mo;
  if (!resumed.checkpoint.empty()) mo.vae_path = core::join(resumed.checkpoint, "vae");
  auto vae = models::ModelFiles::open(o.model, mo).load_vae(at::kFloat, at::kCPU);
  std::vector<at::Tensor> images;
  {
    at::Tensor first;
    for (std::size_t i = 0; i < data.samples.size(); ++i) {
      images.push_back(image_at(data, i, first));
      if (!first.defined()) first = images.back();
    }
  }
  training::ParameterTrainer trainer(*vae, train_settings(o));
  training::load_optimizer_state(resumed, trainer);
  pipeline::use_threads(pipeline::threads_for(
      pipeline::request_work(images[0].size(2), images[0].size(1), files.vae_config().channels, o.batch_size),
      o.threads, pipeline::available_cpus()));
  training::SampleOrder sample_at(o.seed, static_cast<std::int64_t>(images.size()));
  auto micro = [&](std::int64_t m) {
    auto g = training::generator_for(o.seed, 2, static_cast<std::uint64_t>(m));
    std::vector<at::Tensor> batch;
    for (int b = 0; b < o.batch_size; ++b) batch.push_back(images[sample_at(m * o.batch_size + b)]);
    const auto x = at::stack(batch);
    at::Tensor loss;
    {
      training::ForwardScope scope(trainer.settings().precision, false);
      auto [mean, logvar] = vae->encode(x);
      mean = mean.to(at::kFloat);
      logvar = logvar.to(at::kFloat);
      const auto z = mean + (0.5 * logvar).exp() * at::randn(mean.sizes(), g);
      const auto recon = vae->decode(z).to(at::kFloat);
      // LDM's KL of a diagonal Gaussian against N(0, I), summed over the latent, here per image
      // pixel value like the reconstruction term.
      const auto kl = 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).sum() / static_cast<double>(x.numel());
      loss = at::l1_loss(recon, x) + o.kl_weight * kl;
    }
    return trainer.backward(loss);
  };
  const auto config = core::join(files.path(), "vae/config.json");
  const auto map = models::vae_key_map(files.vae_config());
  training::run_loop(lo, resumed, trainer, micro, [&](const std::string& folder) {
    // The scaling factor that gives the posterior samples of the data unit variance (LDM's rule).
    c10::AutoGradMode no_grad(false);
    double sum = 0, sum2 = 0, count = 0;
    auto g = training::generator_for(o.seed, 3, 0);
    for (std::size_t i = 0; i < images.size(); i += 64) {
      const auto end = std::min(images.size(), i + 64);
      const auto x = at::stack(std::vector<at::Tensor>(images.begin() + i, images.begin() + end));
      auto [mean, logvar] = vae->encode(x);
      const auto z = (mean + (0.5 * logvar).exp() * at::randn(mean.sizes(), g)).to(at::kDouble);
      sum += z.sum().item<double>();
      sum2 += z.pow(2).sum().item<double>();
      count += static_cast<double>(z.numel());
    }
    const double var = sum2 / count - (sum / count) * (sum / count);
    training::save_component(*vae, folder, config_with(config, {{"scaling_factor", var > 0 ? 1 / std::sqrt(var) : 1.0}}),
                             [&](const std::string& n) { return map(n); });
  }, progress);
}

}  // namespace gen
