// gen::train_controlnet (include/gen/training.hpp): the data cached once (VAE latent
// distributions, text contexts, hint images), then ControlNetTrainer over micro-batches whose
// samples, noise, timesteps and caption dropout are functions of (seed, micro-batch index), so a
// resumed run draws what the uninterrupted one would have drawn.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/GradMode.h>
#include <c10/util/Exception.h>
#include <dirent.h>
#include <sys/stat.h>
#include <torch/optim/adamw.h>
#include <unistd.h>

#include <chrono>
#include <cerrno>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>

#include "control/controlnet_files.hpp"
#include "core/atomic_file.hpp"
#include "core/fail.hpp"
#include "core/files.hpp"
#include "core/fs.hpp"
#include "gen/safetensors.hpp"
#include "gen/training.hpp"
#include "models/model_files.hpp"
#include "pipeline/threads.hpp"
#include "schedulers/scheduler.hpp"
#include "text/clip_tokenizer.hpp"
#include "training/controlnet_init.hpp"
#include "training/controlnet_step.hpp"
#include "training/dataset.hpp"

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

// The newest checkpoint-<step> folder in `dir` (step 0: none).
int newest_checkpoint(const std::string& dir) {
  int best = 0;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (const dirent* e = ::readdir(d)) {
      const std::string n = e->d_name;
      if (n.rfind("checkpoint-", 0) == 0 && n.size() > 11 && n.find_first_not_of("0123456789", 11) == std::string::npos)
        best = std::max(best, std::stoi(n.substr(11)));
    }
    ::closedir(d);
  }
  return best;
}

at::Generator generator_for(std::uint64_t seed, std::uint64_t stream, std::uint64_t index) {
  // A distinct CPU generator per (seed, stream, index): splitmix-style mixing of the three.
  std::uint64_t z = seed * 0x9E3779B97F4A7C15ull + stream * 0xBF58476D1CE4E5B9ull + index * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return at::make_generator<at::CPUGeneratorImpl>(z);
}

void write_checkpoint(const std::string& out, int step, control::ControlNet& net, training::ControlNetTrainer& trainer,
                      const nlohmann::json& settings) {
  const auto final_dir = core::join(out, "checkpoint-" + std::to_string(step));
  const auto temp = core::join(out, ".gen-tmp-checkpoint-" + std::to_string(step) + "-" + std::to_string(::getpid()));
  if (::mkdir(temp.c_str(), 0755) != 0) fail(ErrorCode::Io, temp, std::string("cannot create: ") + std::strerror(errno));
  try {
    training::save_controlnet(net, core::join(temp, "controlnet"), "diffusers");
    std::vector<at::Tensor> keep;
    std::vector<TensorData> tensors;
    std::int64_t adam_step = 0;
    auto& state = trainer.optimizer().state();
    for (std::size_t i = 0; i < trainer.parameters().size(); ++i) {
      const auto it = state.find(trainer.parameters()[i].unsafeGetTensorImpl());
      if (it == state.end()) continue;
      auto& s = static_cast<torch::optim::AdamWParamState&>(*it->second);
      adam_step = s.step();
      for (const auto& [kind, t] : {std::pair<const char*, at::Tensor>{"exp_avg.", s.exp_avg()}, {"exp_avg_sq.", s.exp_avg_sq()}}) {
        keep.push_back(t.detach().to(at::kFloat).contiguous());
        tensors.push_back({kind + trainer.names()[i], DType::F32, keep.back().sizes().vec(), keep.back().data_ptr(),
                           static_cast<std::size_t>(keep.back().nbytes())});
      }
    }
    write_safetensors(core::join(temp, "optimizer.safetensors"), tensors);
    const nlohmann::json state_json = {{"step", step}, {"adam_step", adam_step}, {"settings", settings}};
    const auto text = state_json.dump(2) + "\n";
    write_file_atomic(core::join(temp, "state.json"), text.data(), text.size());
    if (::rename(temp.c_str(), final_dir.c_str()) != 0)
      fail(ErrorCode::Io, final_dir, std::string("cannot move the checkpoint into place: ") + std::strerror(errno));
  } catch (...) {
    std::system(("rm -rf '" + temp + "'").c_str());
    throw;
  }
}

void load_optimizer(const std::string& checkpoint, training::ControlNetTrainer& trainer, std::int64_t adam_step) {
  const auto path = core::join(checkpoint, "optimizer.safetensors");
  const auto ckpt = SafetensorsCheckpoint::open(path);
  auto& state = trainer.optimizer().state();
  for (std::size_t i = 0; i < trainer.parameters().size(); ++i) {
    const auto& p = trainer.parameters()[i];
    auto read = [&](const std::string& name) {
      if (!ckpt.contains(name)) fail(ErrorCode::ModelMismatch, path, "no tensor '" + name + "'");
      const auto& info = ckpt.info(name);
      if (info.dtype != DType::F32 || info.shape != p.sizes().vec())
        fail(ErrorCode::ModelMismatch, path, "'" + name + "' is not an F32 tensor of the parameter's shape");
      return at::from_blob(ckpt.data(name), p.sizes(), at::kFloat).clone();
    };
    auto s = std::make_unique<torch::optim::AdamWParamState>();
    s->step(adam_step);
    s->exp_avg(read("exp_avg." + trainer.names()[i]));
    s->exp_avg_sq(read("exp_avg_sq." + trainer.names()[i]));
    state[p.unsafeGetTensorImpl()] = std::move(s);
  }
}

}  // namespace

void train_controlnet(const TrainControlNetOptions& o, const std::function<void(const TrainProgress&)>& progress) {
  if (o.steps < 1) fail(ErrorCode::InvalidArgument, "--steps", "must be at least 1");
  if (o.batch_size < 1 || o.batch_size > 4096) fail(ErrorCode::InvalidArgument, "--batch-size", "must be 1..4096");
  if (o.accumulation < 1 || o.accumulation > 4096) fail(ErrorCode::InvalidArgument, "--accumulation", "must be 1..4096");
  if (!(o.learning_rate > 0)) fail(ErrorCode::InvalidArgument, "--learning-rate", "must be positive");
  if (!(o.empty_prompts >= 0 && o.empty_prompts <= 1)) fail(ErrorCode::InvalidArgument, "--empty-prompts", "must be in [0, 1]");
  if (o.checkpoint_every < 0) fail(ErrorCode::InvalidArgument, "--checkpoint-every", "must not be negative");
  if (o.output.empty()) fail(ErrorCode::InvalidArgument, "--output", "is empty");
  const auto data = training::read_dataset(o.data);
  if (!core::is_dir(o.output) && ::mkdir(o.output.c_str(), 0755) != 0)
    fail(errno == ENOENT ? ErrorCode::NotFound : ErrorCode::Io, o.output, std::string("cannot create the folder: ") + std::strerror(errno));
  const int done = newest_checkpoint(o.output);
  if (done > 0 && !o.resume)
    fail(ErrorCode::InvalidArgument, o.output, "holds checkpoints already: pass --resume to continue, or choose another folder");
  if (core::is_dir(core::join(o.output, "controlnet")))
    fail(ErrorCode::InvalidArgument, o.output, "holds a finished controlnet/ already: choose another folder");

  const auto files = models::ModelFiles::open(o.model);
  if (!files.has_unet() || !files.has_vae() || !files.has_text_encoder())
    fail(ErrorCode::NotFound, o.model, "training needs the UNet, the VAE and the text encoder");
  const std::string target = o.prediction.empty() ? files.prediction_type() : o.prediction;
  if (target != "epsilon" && target != "v_prediction")
    fail(ErrorCode::Unsupported, "--prediction", "'" + target + "': epsilon or v_prediction");
  const auto settings = settings_of(o, target, data.samples.size());
  std::string checkpoint;
  nlohmann::json resumed;
  if (o.resume && done > 0) {
    checkpoint = core::join(o.output, "checkpoint-" + std::to_string(done));
    resumed = nlohmann::json::parse(core::read_input(core::join(checkpoint, "state.json"), 1 << 20, "checkpoint state"),
                                    nullptr, false);
    if (resumed.is_discarded() || !resumed.contains("settings") || !resumed.contains("step"))
      fail(ErrorCode::InvalidFormat, core::join(checkpoint, "state.json"), "not a gen checkpoint state");
    for (const auto& [k, v] : settings.items())
      if (resumed["settings"].value(k, nlohmann::json()) != v)
        fail(ErrorCode::InvalidArgument, checkpoint,
             "was made with " + k + " " + resumed["settings"].value(k, nlohmann::json()).dump() + ", this run has " +
                 v.dump() + ": resume with the same settings");
    if (resumed["step"].get<int>() >= o.steps)
      fail(ErrorCode::InvalidArgument, "--steps", "the checkpoint is at step " + std::to_string(done) + " already");
  }

  auto unet = files.load_unet(at::kFloat, at::kCPU);
  auto vae = files.load_vae(at::kFloat, at::kCPU);
  auto text = files.load_text_encoder(at::kFloat, at::kCPU);
  if (files.tokenizer_dir().empty() && o.vocab.empty())
    fail(ErrorCode::InvalidArgument, "--vocab", "the model has no tokenizer folder: give the CLIP vocabulary");
  const auto tokenizer = !files.tokenizer_dir().empty() ? text::ClipTokenizer::from_folder(files.tokenizer_dir())
                                                        : text::ClipTokenizer::from_clip_bpe_gz(o.vocab);
  auto net = control::load_controlnet(checkpoint.empty() ? o.controlnet : core::join(checkpoint, "controlnet"), *unet,
                                      at::kFloat, at::kCPU);
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
  const int start = checkpoint.empty() ? 0 : resumed["step"].get<int>();
  if (!checkpoint.empty()) load_optimizer(checkpoint, trainer, resumed.value("adam_step", std::int64_t{0}));

  // As for generation (pipeline/threads.hpp): small work on one thread, else every CPU.
  pipeline::use_threads(pipeline::threads_for(
      pipeline::request_work(cache[0].hint.size(2), cache[0].hint.size(1), files.unet_config().model_channels,
                             o.batch_size),
      o.threads, pipeline::available_cpus()));
  const auto n = static_cast<std::int64_t>(cache.size());
  std::map<std::int64_t, at::Tensor> orders;  // epoch → permutation
  auto sample_at = [&](std::int64_t k) {
    const auto epoch = k / n;
    auto it = orders.find(epoch);
    if (it == orders.end()) {
      auto g = generator_for(o.seed, 1, static_cast<std::uint64_t>(epoch));
      it = orders.emplace(epoch, at::randperm(n, g, at::kLong)).first;
      if (orders.size() > 2) orders.erase(orders.begin());
    }
    return it->second[k % n].item<std::int64_t>();
  };
  const auto train_steps = static_cast<std::int64_t>(sched_cfg.num_train_timesteps);
  const auto t0 = std::chrono::steady_clock::now();
  try {
    for (int step = start; step < o.steps; ++step) {
      double loss = 0;
      for (int a = 0; a < o.accumulation; ++a) {
        const std::int64_t m = static_cast<std::int64_t>(step) * o.accumulation + a;
        auto g = generator_for(o.seed, 2, static_cast<std::uint64_t>(m));
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
        loss += trainer.micro_step(s) / o.accumulation;
      }
      TrainProgress p;
      p.step = step + 1;
      p.steps = o.steps;
      p.loss = loss;
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      p.steps_per_second = secs > 0 ? (step + 1 - start) / secs : 0;
      p.eta_seconds = p.steps_per_second > 0 ? (o.steps - step - 1) / p.steps_per_second : 0;
      if ((o.checkpoint_every > 0 && (step + 1) % o.checkpoint_every == 0) || step + 1 == o.steps) {
        write_checkpoint(o.output, step + 1, *net, trainer, settings);
        p.checkpoint = core::join(o.output, "checkpoint-" + std::to_string(step + 1));
      }
      if (progress) progress(p);
    }
  } catch (const c10::OutOfMemoryError&) {
    fail(ErrorCode::OutOfMemory, o.output, "out of memory while training; the last checkpoint is intact");
  }
  training::save_controlnet(*net, core::join(o.output, "controlnet"), "diffusers");
}

}  // namespace gen
