// gen — the config keys of the model classes gen reads from diffusers folders
// (UNet2DConditionModel, ControlNetModel, ControlNetUnionModel, AutoencoderKL, transformers' CLIPTextConfig): each
// class's __init__ defaults, which a config.json without the key gets (as from_pretrained
// gives them), and gen's verdict on every key: honoured, fixed to the values gen implements
// (any other value is refused, naming the key), or without effect on Stable Diffusion
// inference. docs/formats.md lists them; tests/unit/test_config_keys.cpp checks the defaults
// and the key sets against tests/data/models/config_defaults.json (tools/make_config_defaults.py).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace gen::arch {

enum class KeyUse {
  Honoured,  // read by gen's config constructors (shape, layout, options)
  Fixed,     // only the listed values are implemented; any other is refused
  Inert,     // no effect on inference with what gen implements (documented why)
};

struct KeyRule {
  std::string key;
  KeyUse use;
  nlohmann::json allowed;  // Fixed: the JSON values gen implements
  std::string note;        // Inert: why; Honoured: where it goes (for docs and messages)
};

// The classes: "UNet2DConditionModel", "ControlNetModel", "ControlNetUnionModel", "AutoencoderKL",
// "CLIPTextConfig".
const std::vector<std::string>& config_classes();
// The class's __init__ defaults (every key it reads). InvalidArgument for another class.
const nlohmann::json& class_defaults(const std::string& cls);
const std::vector<KeyRule>& key_rules(const std::string& cls);

// `config` (a JSON object) with every key the class reads present: the config's value, else
// the class default; keys the class does not read dropped. A Fixed key with another value
// throws Unsupported "<subject>: <key> = <value> is not supported (gen implements ...)".
nlohmann::json with_class_defaults(const nlohmann::json& config, const std::string& cls,
                                   const std::string& subject);

}  // namespace gen::arch
