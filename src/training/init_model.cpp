#include "gen/training.hpp"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "arch/configs.hpp"
#include "core/atomic_file.hpp"
#include "core/fail.hpp"
#include "core/files.hpp"
#include "core/fs.hpp"
#include "gen/safetensors.hpp"
#include "models/clip_text.hpp"
#include "models/key_map.hpp"
#include "models/unet.hpp"
#include "models/vae.hpp"
#include "training/component_io.hpp"

namespace gen {

namespace {

nlohmann::json read_json(const std::string& path) {
  if (!core::is_file(path)) fail(ErrorCode::NotFound, path, "no such config");
  auto j = nlohmann::json::parse(core::read_input(path, 1 << 20, "config"), nullptr, false);
  if (j.is_discarded() || !j.is_object()) fail(ErrorCode::InvalidFormat, path, "not a JSON object");
  return j;
}

std::int64_t fan_in(const std::vector<std::int64_t>& shape) {
  std::int64_t f = 1;
  for (std::size_t i = 1; i < shape.size(); ++i) f *= shape[i];
  return f;
}

// Fills every parameter of `m` in visiting order from `g` (see the header for the rules).
std::int64_t initialise(models::Module& m, at::Generator& g) {
  std::map<std::string, std::vector<std::int64_t>> shapes;
  m.visit([&](const std::string& n, models::Module::Param& p) { shapes[n] = p.shape; });
  std::int64_t count = 0;
  m.visit([&](const std::string& n, models::Module::Param& p) {
    auto t = at::empty(p.shape, at::kFloat);
    const bool is_bias = n.size() > 5 && n.compare(n.size() - 5, 5, ".bias") == 0;
    const bool is_weight = n.size() > 7 && n.compare(n.size() - 7, 7, ".weight") == 0;
    if (n.find("embedding") != std::string::npos && p.shape.size() == 2) {
      t.normal_(0, 0.02, g);
    } else if (is_weight && p.shape.size() >= 2) {
      const double bound = 1 / std::sqrt(static_cast<double>(fan_in(p.shape)));
      t.uniform_(-bound, bound, g);
    } else if (is_bias) {
      const auto w = shapes.find(n.substr(0, n.size() - 5) + ".weight");
      if (w != shapes.end() && w->second.size() >= 2) {
        const double bound = 1 / std::sqrt(static_cast<double>(fan_in(w->second)));
        t.uniform_(-bound, bound, g);
      } else {
        t.zero_();
      }
    } else if (is_weight && p.shape.size() == 1) {
      t.fill_(1);
    } else {
      t.normal_(0, 0.02, g);
    }
    p.value = t;
    count += t.numel();
  });
  return count;
}

void make_dir(const std::string& d) {
  if (::mkdir(d.c_str(), 0755) != 0)
    fail(errno == ENOENT ? ErrorCode::NotFound : ErrorCode::Io, d, std::string("cannot create: ") + std::strerror(errno));
}

void copy_file(const std::string& from, const std::string& to) {
  const auto text = core::read_input(from, std::size_t{64} << 20, "file");
  write_file_atomic(to, text.data(), text.size());
}

}  // namespace

InitModelSummary init_model(const std::string& config_dir, const std::string& out, std::uint64_t seed) {
  const auto index = core::join(config_dir, "model_index.json");
  read_json(index);
  const auto unet_json = read_json(core::join(config_dir, "unet/config.json"));
  const auto vae_json = read_json(core::join(config_dir, "vae/config.json"));
  const auto text_json = read_json(core::join(config_dir, "text_encoder/config.json"));
  const auto sched = core::join(config_dir, "scheduler/scheduler_config.json");
  read_json(sched);
  const auto tok = core::join(config_dir, "tokenizer");
  for (const char* f : {"vocab.json", "merges.txt"})
    if (!core::is_file(core::join(tok, f))) fail(ErrorCode::NotFound, core::join(tok, f), "no such tokenizer file");
  if (core::is_dir(out) || core::is_file(out)) fail(ErrorCode::InvalidArgument, out, "exists already: choose a new folder");

  const auto unet_cfg = models::UNetConfig::from_diffusers(unet_json, core::join(config_dir, "unet/config.json"));
  const auto vae_cfg = models::VaeConfig::from_diffusers(vae_json, core::join(config_dir, "vae/config.json"));
  const auto text_cfg = models::ClipTextConfig::from_transformers(text_json, core::join(config_dir, "text_encoder/config.json"));
  models::UNet unet(unet_cfg);
  models::Vae vae(vae_cfg);
  models::ClipTextModel text(text_cfg);
  auto g = at::make_generator<at::CPUGeneratorImpl>(seed);
  InitModelSummary s;
  s.text_encoder = initialise(text, g);
  s.vae = initialise(vae, g);
  s.unet = initialise(unet, g);

  std::string name = out;
  while (name.size() > 1 && name.back() == '/') name.pop_back();
  const auto temp = core::join(core::dirname(name), ".gen-tmp-" + name.substr(name.rfind('/') + 1) + "-" +
                                                        std::to_string(::getpid()));
  make_dir(temp);
  try {
    for (const char* d : {"unet", "vae", "text_encoder", "scheduler", "tokenizer"}) make_dir(core::join(temp, d));
    copy_file(index, core::join(temp, "model_index.json"));
    copy_file(sched, core::join(temp, "scheduler/scheduler_config.json"));
    for (const char* f : {"vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"})
      if (core::is_file(core::join(tok, f))) copy_file(core::join(tok, f), core::join(temp, std::string("tokenizer/") + f));
    for (const char* d : {"unet", "vae", "text_encoder"})
      copy_file(core::join(config_dir, std::string(d) + "/config.json"), core::join(temp, std::string(d) + "/config.json"));
    const auto umap = models::unet_key_map(unet_cfg);
    training::write_weights(unet, core::join(temp, "unet/diffusion_pytorch_model.safetensors"), [&](const std::string& n) { return umap(n); });
    const auto vmap = models::vae_key_map(vae_cfg);
    training::write_weights(vae, core::join(temp, "vae/diffusion_pytorch_model.safetensors"), [&](const std::string& n) { return vmap(n); });
    training::write_weights(text, core::join(temp, "text_encoder/model.safetensors"), [](const std::string& n) { return n; });
    if (::rename(temp.c_str(), name.c_str()) != 0)
      fail(ErrorCode::Io, out, std::string("cannot move the finished folder into place: ") + std::strerror(errno));
  } catch (...) {
    std::system(("rm -rf '" + temp + "'").c_str());
    throw;
  }
  return s;
}

}  // namespace gen
