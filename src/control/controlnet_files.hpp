// gen — ControlNet weight files in the layouts users have, each recognised by its keys:
//   lllyasviel 1.0 full checkpoints (control_model.* beside the SD model, ignored),
//   1.1 files (control_model.* only), prefix-stripped files (the A1111 extension's fp16
//   extracts), "difference" files (a `difference` key: the base UNet's weights are added),
//   diffusers ControlNetModel folders (config.json + weights) and single diffusers-named files.
// The layout comes from the one classifier (arch/classify.hpp), the encoder's architecture
// of LDM and diffusers-named files from the one config inference (arch/infer.hpp), both
// through io/model_plan.hpp's io::plan_controlnet, which `gen inspect` uses too.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <memory>
#include <string>

#include "control/controlnet.hpp"
#include "models/unet.hpp"

namespace gen::control {

struct ControlNetFile {
  ControlNetConfig config;
  // "controlnet-1.0-full", "control-model-prefixed", "prefix-stripped", "difference", "diffusers",
  // "diffusers-file"
  std::string layout;
};

// What `path` holds, without loading tensors. NotFound / InvalidFormat / ModelMismatch.
ControlNetFile describe_controlnet(const std::string& path);

// Builds and loads the ControlNet at `path` into `dtype` on `device`. `base` is the
// locked UNet, needed only by "difference" files.
// `global_pool`: average the residuals over H×W (shuffle-style models; a diffusers config's
// global_pool_conditions also turns it on). `keep_16bit`: see models::LoadOptions.
std::unique_ptr<ControlNet> load_controlnet(const std::string& path, const models::UNet& base,
                                            at::ScalarType dtype, c10::Device device, bool global_pool = false,
                                            bool keep_16bit = false);

}  // namespace gen::control
