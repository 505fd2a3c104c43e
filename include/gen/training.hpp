// gen — making and training ControlNets (docs/training.md).
// `gen controlnet init` is init_controlnet: a new ControlNet from a Stable Diffusion 1.x / 2.x
// base, as diffusers' ControlNetModel.from_unet and lllyasviel/ControlNet's tool_add_control.py
// make one: the UNet encoder's weights (time embedding, input blocks, middle block) copied, the
// hint encoder initialised as torch.nn.Conv2d does, every zero-convolution (and the hint
// encoder's last convolution) zero.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "gen/export.hpp"

namespace gen {

struct ControlNetInitOptions {
  std::string base;     // an SD 1.x / 2.x model: LDM single file or diffusers pipeline folder
  std::string output;   // "diffusers": a folder (config.json + diffusion_pytorch_model.safetensors);
                        // "ldm": a .safetensors file with control_model.* names
  std::string layout = "diffusers";
  std::vector<std::int64_t> hint_channels = {16, 32, 96, 256};  // the hint encoder's widths
  std::uint64_t seed = 0;  // the hint encoder's random initialisation (a CPU generator)
};

struct ControlNetInitSummary {
  std::string family;          // "sd1" or "sd2"
  std::size_t copied = 0;      // tensors copied from the base UNet
  std::size_t zeroed = 0;      // zero-convolutions and the hint encoder's output convolution
  std::size_t random = 0;      // the rest of the hint encoder
  std::int64_t parameters = 0; // in all
};

// Writes the new ControlNet atomically (a folder appears whole or not at all). Throws gen::Error:
// the base's errors (NotFound, InvalidFormat, Unsupported, ModelMismatch, naming it), NotFound
// when the base holds no UNet whose encoder can be copied, InvalidArgument for an unknown
// layout, an empty hint encoder, or an output that exists already.
GEN_API ControlNetInitSummary init_controlnet(const ControlNetInitOptions& options);

}  // namespace gen
