// gen — a new ControlNet from a base UNet (gen::init_controlnet, include/gen/training.hpp), and
// writing a ControlNet in the layouts users load. The parameter kinds follow the references
// (diffusers ControlNetModel.from_unet, lllyasviel/ControlNet tool_add_control.py + cldm.py):
//   copied  every ControlNet parameter the base UNet has under the same (LDM) name: time_embed,
//           input_blocks, middle_block;
//   zero    zero_convs.*, middle_block_out.* and the hint encoder's last convolution
//           (cldm.py / diffusers wrap them in zero_module);
//   random  the other hint-encoder convolutions: torch.nn.Conv2d's default initialisation,
//           weight and bias uniform in ±1/sqrt(fan_in) (kaiming_uniform_ with a = sqrt(5)).
#pragma once

#include <ATen/core/Tensor.h>
#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "control/controlnet.hpp"
#include "models/unet.hpp"

namespace gen::training {

enum class InitKind { Copied, Zero, Random };

// What each parameter of a new ControlNet is, by LDM name.
std::map<std::string, InitKind> controlnet_init_kinds(control::ControlNet& net);

// The uniform bound torch.nn.Conv2d's default init uses for a weight of `shape` (and its bias).
double conv_init_bound(const std::vector<std::int64_t>& shape);

// A ControlNet for `base` (f32, CPU) with the hint encoder `hint_channels`, initialised as above.
std::unique_ptr<control::ControlNet> make_controlnet(models::UNet& base, const std::vector<std::int64_t>& hint_channels,
                                                     std::uint64_t seed);

// diffusers' ControlNetModel config.json for `config` (the class defaults, the config's values).
nlohmann::json controlnet_diffusers_config(const control::ControlNetConfig& config);

// Writes `net` (f32) as `layout` "diffusers" (folder `out`, made atomically: written beside it
// under a temporary name, then renamed) or "ldm" (file `out`, control_model.* names).
void save_controlnet(control::ControlNet& net, const std::string& out, const std::string& layout);

}  // namespace gen::training
