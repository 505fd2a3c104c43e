#include "control/controlnet_files.hpp"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>

#include <fstream>
#include <map>
#include <set>

#include "gen/error.hpp"
#include "gen/safetensors.hpp"
#include "models/key_map.hpp"
#include "models/loader.hpp"
#include "models/model_files.hpp"

namespace gen::control {
namespace {

using Shapes = std::map<std::string, std::vector<std::int64_t>>;

bool is_dir(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

struct Opened {
  SafetensorsCheckpoint ckpt;
  std::string prefix;
  std::string layout;
  nlohmann::json config;  // diffusers only
};

Opened open_any(const std::string& path) {
  if (is_dir(path)) {
    std::ifstream in(path + "/config.json");
    if (!in) fail(ErrorCode::NotFound, path, "not a ControlNet folder: no config.json");
    nlohmann::json cfg;
    try {
      cfg = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      fail(ErrorCode::InvalidFormat, path + "/config.json", e.what());
    }
    return Opened{SafetensorsCheckpoint::open(path), "", "diffusers", cfg};
  }
  models::check_weight_file(path);
  auto ckpt = SafetensorsCheckpoint::open(path);
  if (ckpt.contains("control_model.input_hint_block.0.weight"))
    return Opened{std::move(ckpt), "control_model.", "", {}};
  if (ckpt.contains("input_hint_block.0.weight")) return Opened{std::move(ckpt), "", "prefix-stripped", {}};
  if (ckpt.contains("controlnet_cond_embedding.conv_in.weight")) return Opened{std::move(ckpt), "", "diffusers-file", {}};
  fail(ErrorCode::ModelMismatch, path, "not a ControlNet: no input_hint_block / controlnet_cond_embedding tensors");
}

// What the weights do not say: SD 2.x (text context 1024) uses 64-channel heads with attention
// upcast, SD 1.x 8 heads (the rules of models/model_files.hpp).
void family_heads(models::UNetConfig& u) {
  if (u.context_dim == 1024) {
    u.num_head_channels = 64;
    u.upcast_attention = true;
  } else {
    u.num_heads = 8;
    u.num_head_channels = -1;
  }
}

const std::vector<std::int64_t>& need(const Shapes& s, const std::string& k, const std::string& subject) {
  auto it = s.find(k);
  if (it == s.end()) fail(ErrorCode::ModelMismatch, subject, "missing tensor " + k);
  return it->second;
}

// The encoder half's config from LDM names and shapes (see models/model_files.hpp for the
// family rules: context 1024 → SD 2.x heads of 64 channels with upcast, else 8 heads).
ControlNetConfig infer(const Shapes& s, const std::string& subject) {
  ControlNetConfig c;
  auto& u = c.unet;
  const auto& conv_in = need(s, "input_blocks.0.0.weight", subject);
  u.model_channels = conv_in[0];
  u.in_channels = conv_in[1];
  u.out_channels = conv_in[1];
  u.channel_mult.clear();
  u.attention_resolutions.clear();
  std::int64_t ds = 1, res_in_level = 0, res_first_level = -1;
  bool level_attn = false;
  for (int n = 1;; ++n) {
    const std::string b = "input_blocks." + std::to_string(n) + ".";
    if (s.count(b + "0.op.weight")) {  // a downsampler closes the level
      if (level_attn) u.attention_resolutions.push_back(ds);
      if (res_first_level < 0) res_first_level = res_in_level;
      res_in_level = 0;
      level_attn = false;
      ds *= 2;
      continue;
    }
    if (!s.count(b + "0.out_layers.3.weight")) {
      if (level_attn) u.attention_resolutions.push_back(ds);
      if (res_first_level < 0) res_first_level = res_in_level;
      break;
    }
    if (res_in_level == 0) u.channel_mult.push_back(need(s, b + "0.out_layers.3.weight", subject)[0] / u.model_channels);
    ++res_in_level;
    if (s.count(b + "1.norm.weight")) {
      level_attn = true;
      const auto& pin = need(s, b + "1.proj_in.weight", subject);
      u.use_linear_in_transformer = pin.size() == 2;
      u.context_dim = need(s, b + "1.transformer_blocks.0.attn2.to_k.weight", subject)[1];
      std::int64_t depth = 0;
      while (s.count(b + "1.transformer_blocks." + std::to_string(depth) + ".norm1.weight")) ++depth;
      u.transformer_depth = depth;
    }
  }
  if (u.channel_mult.empty()) fail(ErrorCode::ModelMismatch, subject, "no encoder blocks found");
  u.num_res_blocks = res_first_level;
  family_heads(u);
  // Hint encoder: convolutions at 0, 2, 4, …; stride-2 ones change the width.
  std::vector<std::int64_t> widths;
  int last = 0;
  for (int i = 0; s.count("input_hint_block." + std::to_string(i) + ".weight"); i += 2) last = i;
  c.hint_channels = need(s, "input_hint_block.0.weight", subject)[1];
  widths.push_back(need(s, "input_hint_block.0.weight", subject)[0]);
  for (int i = 4; i < last; i += 4) widths.push_back(need(s, "input_hint_block." + std::to_string(i) + ".weight", subject)[0]);
  c.hint_block_channels = widths;
  u.validate(subject);
  return c;
}

// The same from diffusers names (a ControlNetModel saved as one file, without config.json).
ControlNetConfig infer_diffusers(const Shapes& s, const std::string& subject) {
  ControlNetConfig c;
  auto& u = c.unet;
  const auto& conv_in = need(s, "conv_in.weight", subject);
  u.model_channels = conv_in[0];
  u.in_channels = u.out_channels = conv_in[1];
  u.channel_mult.clear();
  u.attention_resolutions.clear();
  for (int b = 0; s.count("down_blocks." + std::to_string(b) + ".resnets.0.conv1.weight"); ++b) {
    const std::string blk = "down_blocks." + std::to_string(b) + ".";
    u.channel_mult.push_back(need(s, blk + "resnets.0.conv1.weight", subject)[0] / u.model_channels);
    if (b == 0) {
      u.num_res_blocks = 0;
      while (s.count(blk + "resnets." + std::to_string(u.num_res_blocks) + ".conv1.weight")) ++u.num_res_blocks;
    }
    if (s.count(blk + "attentions.0.proj_in.weight")) {
      u.attention_resolutions.push_back(std::int64_t{1} << b);
      u.use_linear_in_transformer = need(s, blk + "attentions.0.proj_in.weight", subject).size() == 2;
      u.context_dim = need(s, blk + "attentions.0.transformer_blocks.0.attn2.to_k.weight", subject)[1];
      std::int64_t depth = 0;
      while (s.count(blk + "attentions.0.transformer_blocks." + std::to_string(depth) + ".norm1.weight")) ++depth;
      u.transformer_depth = depth;
    }
  }
  if (u.channel_mult.empty()) fail(ErrorCode::ModelMismatch, subject, "no down_blocks found");
  family_heads(u);
  const auto& hin = need(s, "controlnet_cond_embedding.conv_in.weight", subject);
  c.hint_channels = hin[1];
  c.hint_block_channels = {hin[0]};
  for (int k = 1; s.count("controlnet_cond_embedding.blocks." + std::to_string(k) + ".weight"); k += 2)
    c.hint_block_channels.push_back(need(s, "controlnet_cond_embedding.blocks." + std::to_string(k) + ".weight", subject)[0]);
  u.validate(subject);
  return c;
}

Shapes shapes(const SafetensorsCheckpoint& ckpt, const std::string& prefix) {
  Shapes out;
  for (const auto& name : ckpt.names())
    if (name.compare(0, prefix.size(), prefix) == 0) out[name.substr(prefix.size())] = ckpt.info(name).shape;
  return out;
}

ControlNetFile describe(Opened& o, const std::string& path) {
  ControlNetFile f;
  if (o.layout == "diffusers") {
    f.config = ControlNetConfig::from_diffusers(o.config, path + "/config.json");
    f.layout = "diffusers";
    return f;
  }
  if (o.layout == "diffusers-file") {
    f.config = infer_diffusers(shapes(o.ckpt, ""), path);
    f.layout = "diffusers-file";
    return f;
  }
  f.config = infer(shapes(o.ckpt, o.prefix), path);
  if (o.ckpt.contains(o.prefix + "difference") || o.ckpt.contains("difference")) f.layout = "difference";
  else if (o.prefix.empty()) f.layout = "prefix-stripped";
  else if (o.ckpt.contains("model.diffusion_model.input_blocks.0.0.weight")) f.layout = "controlnet-1.0-full";
  else f.layout = "control-model-prefixed";
  return f;
}

}  // namespace

ControlNetFile describe_controlnet(const std::string& path) {
  auto o = open_any(path);
  return describe(o, path);
}

std::unique_ptr<ControlNet> load_controlnet(const std::string& path, const models::UNet& base, at::ScalarType dtype,
                                            c10::Device device, bool global_pool, bool keep_16bit) {
  auto o = open_any(path);
  auto f = describe(o, path);
  if (global_pool) f.config.global_average_pooling = true;
  auto net = std::make_unique<ControlNet>(f.config);
  models::LoadOptions opt;
  opt.prefix = o.prefix;
  opt.device = device;
  // A difference file is summed in f32 before the cast to the target dtype.
  opt.dtype = f.layout == "difference" ? at::kFloat : dtype;
  opt.keep_16bit = keep_16bit && f.layout != "difference";
  if (f.layout == "diffusers" || f.layout == "diffusers-file") {
    const auto hint_blocks = static_cast<std::int64_t>(2 * (f.config.hint_block_channels.size() - 1));
    opt.rename = models::unet_key_map(f.config.unet, hint_blocks).renamer(o.ckpt, "");
  }
  // Beside a 1.0 full checkpoint's control_model.* sit the SD model's own tensors: not ours.
  opt.ignore = [](const std::string& n) { return n == "difference" || n == "control_model.difference"; };
  models::load_weights(*net, o.ckpt, opt, path);
  if (f.layout == "difference") {
    std::map<std::string, at::Tensor> base_params;
    const_cast<models::UNet&>(base).visit(
        [&](const std::string& n, models::Module::Param& p) { base_params[n] = p.value; });
    net->visit([&](const std::string& n, models::Module::Param& p) {
      auto it = base_params.find(n);
      if (it != base_params.end() && it->second.defined())
        p.value = p.value + it->second.to(device, at::kFloat);  // the base may be stored in 16 bits
      p.value = p.value.to(dtype);
    });
  }
  return net;
}

}  // namespace gen::control
