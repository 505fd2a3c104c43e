#include "training/controlnet_init.hpp"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "arch/config_keys.hpp"
#include "core/atomic_file.hpp"
#include "core/fail.hpp"
#include "core/fs.hpp"
#include "gen/safetensors.hpp"
#include "gen/training.hpp"
#include "models/key_map.hpp"
#include "models/model_files.hpp"

namespace gen::training {

namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

// The hint encoder's last convolution: input_hint_block.<2·(n-1)... highest index>.
std::string last_hint_conv(control::ControlNet& net) {
  int last = -1;
  net.visit([&](const std::string& n, models::Module::Param&) {
    if (!starts_with(n, "input_hint_block.")) return;
    const auto rest = n.substr(std::strlen("input_hint_block."));
    last = std::max(last, std::stoi(rest.substr(0, rest.find('.'))));
  });
  return "input_hint_block." + std::to_string(last) + ".";
}

}  // namespace

std::map<std::string, InitKind> controlnet_init_kinds(control::ControlNet& net) {
  const auto last = last_hint_conv(net);
  std::map<std::string, InitKind> kinds;
  net.visit([&](const std::string& n, models::Module::Param&) {
    if (starts_with(n, "zero_convs.") || starts_with(n, "middle_block_out.") || starts_with(n, last))
      kinds[n] = InitKind::Zero;
    else if (starts_with(n, "input_hint_block."))
      kinds[n] = InitKind::Random;
    else
      kinds[n] = InitKind::Copied;
  });
  return kinds;
}

double conv_init_bound(const std::vector<std::int64_t>& shape) {
  // The weight is [out, in, k, k]; its bias gets the weight's bound (torch.nn.Conv2d.reset_parameters).
  std::int64_t fan_in = 1;
  for (std::size_t i = 1; i < shape.size(); ++i) fan_in *= shape[i];
  return 1.0 / std::sqrt(static_cast<double>(fan_in));
}

std::unique_ptr<control::ControlNet> make_controlnet(models::UNet& base, const std::vector<std::int64_t>& hint_channels,
                                                     std::uint64_t seed) {
  control::ControlNetConfig cfg;
  cfg.unet = base.config();
  cfg.hint_block_channels = hint_channels;
  auto net = std::make_unique<control::ControlNet>(cfg);
  std::map<std::string, at::Tensor> base_params;
  base.visit([&](const std::string& n, models::Module::Param& p) { base_params[n] = p.value; });
  const auto kinds = controlnet_init_kinds(*net);
  // Weight shapes by convolution, for the bias's bound.
  std::map<std::string, std::vector<std::int64_t>> weight_shape;
  net->visit([&](const std::string& n, models::Module::Param& p) {
    if (n.size() > 7 && n.compare(n.size() - 7, 7, ".weight") == 0) weight_shape[n.substr(0, n.size() - 7)] = p.shape;
  });
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  net->visit([&](const std::string& n, models::Module::Param& p) {  // depth first: a fixed order
    switch (kinds.at(n)) {
      case InitKind::Copied: {
        const auto it = base_params.find(n);
        if (it == base_params.end() || !it->second.defined() || it->second.sizes().vec() != p.shape)
          fail(ErrorCode::ModelMismatch, "base UNet", "has no tensor '" + n + "' of the ControlNet's shape to copy");
        p.value = it->second.to(at::kCPU, at::kFloat).clone();
        break;
      }
      case InitKind::Zero:
        p.value = at::zeros(p.shape, f32);
        break;
      case InitKind::Random: {
        const auto module = n.substr(0, n.rfind('.'));
        const double b = conv_init_bound(weight_shape.at(module));
        p.value = at::empty(p.shape, f32).uniform_(-b, b, gen);
        break;
      }
    }
  });
  return net;
}

nlohmann::json controlnet_diffusers_config(const control::ControlNetConfig& config) {
  const auto& u = config.unet;
  auto j = arch::class_defaults("ControlNetModel");
  j["_class_name"] = "ControlNetModel";
  nlohmann::json down = nlohmann::json::array(), heads = nlohmann::json::array(), depth = nlohmann::json::array();
  for (std::size_t l = 0; l < u.levels(); ++l) {
    down.push_back(u.has_attention(l) ? "CrossAttnDownBlock2D" : "DownBlock2D");
    heads.push_back(u.attention_at(l).heads);
    depth.push_back(u.depth_down(l));
  }
  j["in_channels"] = u.in_channels;
  j["block_out_channels"] = u.block_channels;
  j["layers_per_block"] = u.num_res_blocks;
  j["down_block_types"] = down;
  // One integer when every level has the same (as SD 1.x's config.json writes it), else a list.
  auto one_or_list = [](const nlohmann::json& v) {
    for (const auto& x : v)
      if (x != v.front()) return v;
    return v.front();
  };
  j["attention_head_dim"] = one_or_list(heads);  // diffusers' name for the head count
  j["transformer_layers_per_block"] = one_or_list(depth);
  j["cross_attention_dim"] = u.context_dim;
  j["use_linear_projection"] = u.use_linear_in_transformer;
  j["upcast_attention"] = u.upcast_attention;
  j["norm_num_groups"] = u.norm_groups;
  j["conditioning_channels"] = config.hint_channels;
  j["conditioning_embedding_out_channels"] = config.hint_block_channels;
  j["controlnet_conditioning_channel_order"] = config.bgr ? "bgr" : "rgb";
  j["global_pool_conditions"] = config.global_average_pooling;
  return j;
}

namespace {

void write_tensors(control::ControlNet& net, const std::string& path, const std::function<std::string(const std::string&)>& name) {
  std::vector<at::Tensor> keep;
  std::vector<TensorData> out;
  net.visit([&](const std::string& n, models::Module::Param& p) {
    keep.push_back(p.value.detach().to(at::kCPU, at::kFloat).contiguous());
    const auto& t = keep.back();
    out.push_back({name(n), DType::F32, t.sizes().vec(), t.data_ptr(), static_cast<std::size_t>(t.nbytes())});
  });
  write_safetensors(path, out, {{"format", "pt"}});
}

}  // namespace

void save_controlnet(control::ControlNet& net, const std::string& out, const std::string& layout) {
  if (layout == "ldm") {
    write_tensors(net, out, [](const std::string& n) { return std::string(models::kLdmControlPrefix) + n; });
    return;
  }
  if (layout != "diffusers") fail(ErrorCode::InvalidArgument, "--layout", "expected diffusers or ldm, got '" + layout + "'");
  const auto& cfg = net.config();
  const auto map = models::unet_key_map(cfg.unet, static_cast<std::int64_t>(2 * (cfg.hint_block_channels.size() - 1)));
  std::string name = out;
  while (name.size() > 1 && name.back() == '/') name.pop_back();
  const auto parent = core::dirname(name);
  const auto temp = core::join(parent, ".gen-tmp-" + name.substr(name.rfind('/') + 1) + "-" + std::to_string(::getpid()));
  if (::mkdir(temp.c_str(), 0755) != 0)
    fail(errno == ENOENT ? ErrorCode::NotFound : ErrorCode::Io, out, std::string("cannot create the folder: ") + std::strerror(errno));
  const auto weights = core::join(temp, "diffusion_pytorch_model.safetensors");
  const auto config = core::join(temp, "config.json");
  try {
    write_tensors(net, weights, [&](const std::string& n) { return map(n); });
    const auto text = controlnet_diffusers_config(cfg).dump(2) + "\n";
    write_file_atomic(config, text.data(), text.size());
    if (::rename(temp.c_str(), name.c_str()) != 0)
      fail(ErrorCode::Io, out, std::string("cannot move the finished folder into place: ") + std::strerror(errno));
  } catch (...) {
    ::unlink(weights.c_str());
    ::unlink(config.c_str());
    ::rmdir(temp.c_str());
    throw;
  }
}

}  // namespace gen::training

namespace gen {

ControlNetInitSummary init_controlnet(const ControlNetInitOptions& o) {
  if (o.layout != "diffusers" && o.layout != "ldm")
    fail(ErrorCode::InvalidArgument, "--layout", "expected diffusers or ldm, got '" + o.layout + "'");
  if (o.hint_channels.empty())
    fail(ErrorCode::InvalidArgument, "--hint-channels", "the hint encoder needs at least one width");
  for (auto c : o.hint_channels)
    if (c <= 0 || c > 65536) fail(ErrorCode::InvalidArgument, "--hint-channels", "widths must be 1..65536, got " + std::to_string(c));
  struct stat st {};
  if (o.output.empty()) fail(ErrorCode::InvalidArgument, "output", "is empty");
  if (::lstat(o.output.c_str(), &st) == 0) fail(ErrorCode::InvalidArgument, o.output, "exists: choose a new name");
  if (!core::is_dir(core::dirname(o.output))) fail(ErrorCode::NotFound, o.output, "its folder does not exist");
  if (o.layout == "ldm") check_output_path(o.output);
  const auto files = models::ModelFiles::open(o.base);
  if (!files.has_unet())
    fail(ErrorCode::NotFound, o.base, "holds no UNet: a ControlNet copies the UNet's encoder (give an SD 1.x/2.x model)");
  auto base = files.load_unet(at::kFloat, at::kCPU);
  auto net = training::make_controlnet(*base, o.hint_channels, o.seed);
  ControlNetInitSummary s;
  s.family = models::family_name(files.family());
  for (const auto& [n, k] : training::controlnet_init_kinds(*net)) {
    (void)n;
    (k == training::InitKind::Copied ? s.copied : k == training::InitKind::Zero ? s.zeroed : s.random) += 1;
  }
  s.parameters = net->parameter_count();
  training::save_controlnet(*net, o.output, o.layout);
  return s;
}

}  // namespace gen
