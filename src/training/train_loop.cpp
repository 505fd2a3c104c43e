#include "training/train_loop.hpp"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/util/Exception.h>
#include <dirent.h>
#include <sys/stat.h>
#include <torch/optim/adamw.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "core/atomic_file.hpp"
#include "core/fail.hpp"
#include "core/files.hpp"
#include "core/fs.hpp"
#include "gen/safetensors.hpp"

namespace gen::training {

namespace {

// The newest checkpoint-<step> folder in `dir` (step 0: none).
int newest_checkpoint(const std::string& dir) {
  int best = 0;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (const dirent* e = ::readdir(d)) {
      const std::string n = e->d_name;
      if (n.rfind("checkpoint-", 0) == 0 && n.size() > 11 && n.size() < 20 &&
          n.find_first_not_of("0123456789", 11) == std::string::npos)
        best = std::max(best, std::stoi(n.substr(11)));
    }
    ::closedir(d);
  }
  return best;
}

void write_checkpoint(const LoopOptions& o, int step, ParameterTrainer& trainer,
                      const std::function<void(const std::string&)>& save) {
  const auto final_dir = core::join(o.output, "checkpoint-" + std::to_string(step));
  const auto temp = core::join(o.output, ".gen-tmp-checkpoint-" + std::to_string(step) + "-" + std::to_string(::getpid()));
  if (::mkdir(temp.c_str(), 0755) != 0) fail(ErrorCode::Io, temp, std::string("cannot create: ") + std::strerror(errno));
  try {
    save(core::join(temp, o.model_name));
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
    const nlohmann::json state_json = {{"step", step}, {"adam_step", adam_step}, {"settings", o.settings}};
    const auto text = state_json.dump(2) + "\n";
    write_file_atomic(core::join(temp, "state.json"), text.data(), text.size());
    if (::rename(temp.c_str(), final_dir.c_str()) != 0)
      fail(ErrorCode::Io, final_dir, std::string("cannot move the checkpoint into place: ") + std::strerror(errno));
  } catch (...) {
    std::system(("rm -rf '" + temp + "'").c_str());
    throw;
  }
}

}  // namespace

ResumePoint prepare_output(const LoopOptions& o) {
  if (o.steps < 1) fail(ErrorCode::InvalidArgument, "--steps", "must be at least 1");
  if (o.accumulation < 1 || o.accumulation > 4096) fail(ErrorCode::InvalidArgument, "--accumulation", "must be 1..4096");
  if (o.checkpoint_every < 0) fail(ErrorCode::InvalidArgument, "--checkpoint-every", "must not be negative");
  if (o.output.empty()) fail(ErrorCode::InvalidArgument, "--output", "is empty");
  if (!core::is_dir(o.output) && ::mkdir(o.output.c_str(), 0755) != 0)
    fail(errno == ENOENT ? ErrorCode::NotFound : ErrorCode::Io, o.output, std::string("cannot create the folder: ") + std::strerror(errno));
  const int done = newest_checkpoint(o.output);
  if (done > 0 && !o.resume)
    fail(ErrorCode::InvalidArgument, o.output, "holds checkpoints already: pass --resume to continue, or choose another folder");
  if (core::is_dir(core::join(o.output, o.model_name)))
    fail(ErrorCode::InvalidArgument, o.output, "holds a finished " + o.model_name + "/ already: choose another folder");
  ResumePoint r;
  if (!o.resume || done == 0) return r;
  r.checkpoint = core::join(o.output, "checkpoint-" + std::to_string(done));
  const auto state_file = core::join(r.checkpoint, "state.json");
  const auto resumed = nlohmann::json::parse(core::read_input(state_file, 1 << 20, "checkpoint state"), nullptr, false);
  if (resumed.is_discarded() || !resumed.is_object() || !resumed.contains("settings") || !resumed.contains("step") ||
      !resumed["step"].is_number_integer())
    fail(ErrorCode::InvalidFormat, state_file, "not a gen checkpoint state");
  for (const auto& [k, v] : o.settings.items())
    if (resumed["settings"].value(k, nlohmann::json()) != v)
      fail(ErrorCode::InvalidArgument, r.checkpoint,
           "was made with " + k + " " + resumed["settings"].value(k, nlohmann::json()).dump() + ", this run has " +
               v.dump() + ": resume with the same settings");
  r.step = resumed["step"].get<int>();
  r.adam_step = resumed.value("adam_step", std::int64_t{0});
  if (r.step >= o.steps)
    fail(ErrorCode::InvalidArgument, "--steps", "the checkpoint is at step " + std::to_string(done) + " already");
  return r;
}

void load_optimizer_state(const ResumePoint& r, ParameterTrainer& trainer) {
  if (r.checkpoint.empty()) return;
  const auto path = core::join(r.checkpoint, "optimizer.safetensors");
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
    s->step(r.adam_step);
    s->exp_avg(read("exp_avg." + trainer.names()[i]));
    s->exp_avg_sq(read("exp_avg_sq." + trainer.names()[i]));
    state[p.unsafeGetTensorImpl()] = std::move(s);
  }
}

at::Generator generator_for(std::uint64_t seed, std::uint64_t stream, std::uint64_t index) {
  std::uint64_t z = seed * 0x9E3779B97F4A7C15ull + stream * 0xBF58476D1CE4E5B9ull + index * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return at::make_generator<at::CPUGeneratorImpl>(z);
}

std::int64_t SampleOrder::operator()(std::int64_t k) {
  const auto epoch = k / n_;
  auto it = orders_.find(epoch);
  if (it == orders_.end()) {
    auto g = generator_for(seed_, 1, static_cast<std::uint64_t>(epoch));
    it = orders_.emplace(epoch, at::randperm(n_, g, at::kLong)).first;
    if (orders_.size() > 2) orders_.erase(orders_.begin());
  }
  return it->second[k % n_].item<std::int64_t>();
}

void run_loop(const LoopOptions& o, const ResumePoint& r, ParameterTrainer& trainer,
              const std::function<double(std::int64_t)>& micro, const std::function<void(const std::string&)>& save,
              const std::function<void(const TrainProgress&)>& progress,
              const std::function<std::vector<std::string>(int)>& after_step) {
  const auto t0 = std::chrono::steady_clock::now();
  try {
    for (int step = r.step; step < o.steps; ++step) {
      double loss = 0;
      for (int a = 0; a < o.accumulation; ++a) {
        loss += micro(static_cast<std::int64_t>(step) * o.accumulation + a) / o.accumulation;
        trainer.finish_micro_step();
      }
      TrainProgress p;
      p.step = step + 1;
      p.steps = o.steps;
      p.loss = loss;
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      p.steps_per_second = secs > 0 ? (step + 1 - r.step) / secs : 0;
      p.eta_seconds = p.steps_per_second > 0 ? (o.steps - step - 1) / p.steps_per_second : 0;
      if ((o.checkpoint_every > 0 && (step + 1) % o.checkpoint_every == 0) || step + 1 == o.steps) {
        write_checkpoint(o, step + 1, trainer, save);
        p.checkpoint = core::join(o.output, "checkpoint-" + std::to_string(step + 1));
      }
      if (after_step) p.validation = after_step(step + 1);
      if (progress) progress(p);
    }
  } catch (const c10::OutOfMemoryError&) {
    fail(ErrorCode::OutOfMemory, o.output, "out of memory while training; the last checkpoint is intact");
  }
  save(core::join(o.output, o.model_name));
}

}  // namespace gen::training
