// gen — writing a trained (or newly initialised) model part in the diffusers layout: the
// module's weights under diffusers names (the one key table, models/key_map.hpp) as F32
// safetensors; the VAE's attention projections as diffusers' linears ([C, C], where LDM keeps
// 1×1 convolutions [C, C, 1, 1]).
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "models/module.hpp"

namespace gen::training {

using Rename = std::function<std::string(const std::string&)>;

// The weights file alone (written atomically).
void write_weights(models::Module& m, const std::string& path, const Rename& name);

// A component folder: config.json (`config`) and diffusion_pytorch_model.safetensors, written
// whole under a temporary name, then renamed to `folder` (which must not exist).
void save_component(models::Module& m, const std::string& folder, const nlohmann::json& config, const Rename& name);

}  // namespace gen::training
