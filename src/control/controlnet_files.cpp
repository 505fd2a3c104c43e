#include "control/controlnet_files.hpp"

#include <ATen/ATen.h>

#include <map>

#include "io/model_plan.hpp"
#include "models/key_map.hpp"
#include "models/loader.hpp"

namespace gen::control {

ControlNetFile describe_controlnet(const std::string& path) {
  auto p = io::plan_controlnet(path);
  return {p.config, p.layout};
}

std::unique_ptr<ControlNet> load_controlnet(const std::string& path, const models::UNet& base, at::ScalarType dtype,
                                            c10::Device device, bool global_pool, bool keep_16bit) {
  const auto o = io::plan_controlnet(path);
  ControlNetFile f{o.config, o.layout};
  if (global_pool) f.config.global_average_pooling = true;
  // A ControlNet without cross-attention (every transformer empty: diffusers' "small" SDXL
  // ones) never reads the text context: it takes the base model's width (a single file does
  // not store one).
  auto& u = f.config.unet;
  bool cross = u.depth_mid() > 0;
  for (std::size_t l = 0; l < u.levels(); ++l) cross = cross || (u.has_attention(l) && u.depth_down(l) > 0);
  if (!cross) u.context_dim = base.config().context_dim;
  auto net = std::make_unique<ControlNet>(f.config);
  models::LoadOptions opt;
  opt.prefix = o.prefix;
  opt.device = device;
  // A difference file is summed in f32 before the cast to the target dtype.
  opt.dtype = f.layout == "difference" ? at::kFloat : dtype;
  opt.keep_16bit = keep_16bit && f.layout != "difference";
  if (f.layout == "diffusers" || f.layout == "diffusers-file") {
    const auto hint_blocks = static_cast<std::int64_t>(2 * (f.config.hint_block_channels.size() - 1));
    opt.rename = models::unet_key_map(f.config.unet, hint_blocks).renamer(*o.checkpoint, "");
  }
  // Beside a 1.0 full checkpoint's control_model.* sit the SD model's own tensors: not ours.
  opt.ignore = [](const std::string& n) { return n == "difference" || n == "control_model.difference"; };
  models::load_weights(*net, *o.checkpoint, opt, path);
  // UniControl v1.0 files hold zero `.1` hint zero-convs, which v1.0 does not run (docs/unicontrol.md).
  if (auto* uni = net->unicontrol()) uni->set_v11_branch(uni->v11_weights_nonzero());
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
