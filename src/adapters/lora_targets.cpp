#include "adapters/lora_targets.hpp"

#include <algorithm>

#include "control/controlnet.hpp"
#include "models/clip_text.hpp"
#include "models/key_map.hpp"
#include "models/unet.hpp"

namespace gen::adapters {
namespace {

std::string flat(std::string s) {
  std::replace(s.begin(), s.end(), '.', '_');
  return s;
}

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

std::string strip_suffix(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0
             ? s.substr(0, s.size() - suffix.size())
             : s;
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
}

// The UNet-shaped trees (UNet, ControlNet): every Linear and Conv2d under its LDM and
// diffusers names, and the bare 3×3 conv_in (input_blocks.0.0).
template <class Add>
void index_unet_tree(models::Module& tree, const models::KeyMap& map, Part part, const std::string& tag,
                     const Add& add) {
  tree.visit_modules([&](const std::string& path, models::Module& m) {
    auto* linear = dynamic_cast<models::Linear*>(&m);
    auto* conv = dynamic_cast<models::Conv2d*>(&m);
    if (!linear && !conv) return;
    Target t;
    t.part = part;
    t.name = path + ".weight";
    t.linear = linear;
    t.conv = conv;
    t.weight = linear ? &linear->weight() : &conv->weight();
    const std::string diffusers = strip_suffix(map(t.name), ".weight");
    add(std::move(t), std::vector<std::string>{tag + flat(diffusers), tag + flat(path)});
  });
  tree.visit([&](const std::string& name, models::Module::Param& p) {
    if (name != "input_blocks.0.0.weight") return;
    Target t;
    t.part = part;
    t.name = name;
    t.weight = &p.value;
    add(std::move(t), std::vector<std::string>{tag + "conv_in", tag + "input_blocks_0_0"});
  });
}

}  // namespace

const char* part_name(Part p) {
  switch (p) {
    case Part::UNet: return "UNet";
    case Part::TextEncoder: return "text encoder";
    case Part::ControlNet: return "ControlNet";
  }
  return "?";
}

std::vector<std::int64_t> Target::shape() const {
  auto s = weight->sizes().vec();
  if (slice >= 0) s[0] /= 3;
  return s;
}

Target& TargetIndex::add(Target t, const std::vector<std::string>& keys) {
  targets_.push_back(std::move(t));
  for (const auto& k : keys) by_key_.emplace(k, &targets_.back());
  return targets_.back();
}

void TargetIndex::add_unet(models::UNet& unet) {
  index_unet_tree(unet, models::unet_key_map(unet.config()), Part::UNet, "unet:",
                  [&](Target t, const std::vector<std::string>& k) { add(std::move(t), k); });
}

void TargetIndex::add_controlnet(control::ControlNet& net) {
  const auto& c = net.config();
  const auto hint_blocks = static_cast<std::int64_t>(2 * (c.hint_block_channels.size() - 1));
  index_unet_tree(net, models::unet_key_map(c.unet, hint_blocks), Part::ControlNet, "cn:",
                  [&](Target t, const std::vector<std::string>& k) { add(std::move(t), k); });
}

void TargetIndex::add_text(models::ClipTextModel& text, bool second) {
  const std::string tag = second ? "te2:" : "te:";
  // HF names (SD 1.x; diffusers SD 2.x), or OpenCLIP's (LDM SD 2.x files) with each module
  // also under the HF name that adapter files use for it.
  auto hf_name = [](std::string path) {
    replace_all(path, "transformer.resblocks.", "encoder.layers.");
    replace_all(path, ".attn.out_proj", ".self_attn.out_proj");
    replace_all(path, ".mlp.c_fc", ".mlp.fc1");
    replace_all(path, ".mlp.c_proj", ".mlp.fc2");
    return path;
  };
  auto keys_of = [&](const std::string& path) {
    const std::string hf = hf_name(path);
    std::vector<std::string> k{tag + "text_model_" + flat(hf), tag + flat(hf)};
    if (hf != path) k.push_back(tag + flat(path));
    return k;
  };
  text.visit_modules([&](const std::string& path, models::Module& m) {
    auto* linear = dynamic_cast<models::Linear*>(&m);
    if (!linear) return;
    Target t;
    t.part = Part::TextEncoder;
    t.name = path + ".weight";
    t.linear = linear;
    t.weight = &linear->weight();
    add(std::move(t), keys_of(path));
  });
  text.visit([&](const std::string& name, models::Module::Param& p) {
    const std::string suffix = ".attn.in_proj_weight";
    if (name.size() < suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) return;
    const std::string layer = hf_name(name.substr(0, name.size() - suffix.size()));  // encoder.layers.i
    const char* qkv[] = {"q_proj", "k_proj", "v_proj"};
    for (int s = 0; s < 3; ++s) {
      Target t;
      t.part = Part::TextEncoder;
      t.name = name;
      t.weight = &p.value;
      t.slice = s;
      const std::string hf = layer + ".self_attn." + qkv[s];
      add(std::move(t), {tag + "text_model_" + flat(hf), tag + flat(hf)});
    }
  });
}

std::string lookup_key(const std::string& file_key, AdapterLayout layout) {
  if (layout == AdapterLayout::Kohya) {
    static const std::pair<const char*, const char*> prefixes[] = {
        {"lora_unet_", "unet:"}, {"lora_te1_", "te:"}, {"lora_te2_", "te2:"},
        {"lora_te_", "te:"},     {"lora_controlnet_", "cn:"}};
    for (const auto& [p, tag] : prefixes)
      if (starts_with(file_key, p)) return tag + file_key.substr(std::string(p).size());
    return "";
  }
  std::string k = file_key;
  if (starts_with(k, "base_model.model.")) k = k.substr(17);
  std::string tag = "unet:";
  static const std::pair<const char*, const char*> parts[] = {
      {"unet.", "unet:"}, {"text_encoder_2.", "te2:"}, {"text_encoder.", "te:"}, {"controlnet.", "cn:"}};
  for (const auto& [p, t] : parts)
    if (starts_with(k, p)) {
      k = k.substr(std::string(p).size());
      tag = t;
      break;
    }
  // The attention-processor LoRAs of diffusers before PEFT: `attn1.processor.to_q_lora`,
  // and the text encoder's `q_proj.lora_linear_layer`.
  replace_all(k, ".processor.", ".");
  for (const char* proj : {"to_q", "to_k", "to_v"}) replace_all(k, std::string(proj) + "_lora", proj);
  replace_all(k, "to_out_lora", "to_out.0");
  k = strip_suffix(strip_suffix(k, ".lora_linear_layer"), ".lora");
  if (k.size() > 7 && k.compare(k.size() - 7, 7, ".to_out") == 0) k += ".0";
  return tag + flat(k);
}

const Target* TargetIndex::find(const std::string& file_key, AdapterLayout layout) const {
  const auto it = by_key_.find(lookup_key(file_key, layout));
  return it == by_key_.end() ? nullptr : it->second;
}

}  // namespace gen::adapters

namespace gen::adapters {

std::string adapter_family(const AdapterFile& file) {
  const auto meta = [&](const char* k) {
    const auto it = file.metadata.find(k);
    return it == file.metadata.end() ? std::string() : it->second;
  };
  const std::string base = meta("ss_base_model_version");
  if (base.rfind("sdxl", 0) == 0) return "sdxl";
  if (base.rfind("sd_v2", 0) == 0 || base.rfind("sd_2", 0) == 0 || meta("ss_v2") == "True") return "sd2";
  if (base.rfind("sd_v1", 0) == 0) return "sd1";
  // Names: a second text encoder is SDXL's. Widths: the text encoder's (768 / 1024) or the
  // UNet's cross-attention context (768 / 1024 / 2048).
  for (const auto& m : file.modules) {
    const std::string k = lookup_key(m.key, file.layout);
    if (k.rfind("te2:", 0) == 0) return "sdxl";
  }
  for (const auto& m : file.modules) {
    const std::string k = lookup_key(m.key, file.layout);
    const auto down = m.tensors.find("lora_down");
    if (down == m.tensors.end() || down->second.dim() < 2) continue;
    const auto in = down->second.size(1);
    const bool te_q = k.rfind("te:", 0) == 0 && k.find("self_attn_q_proj") != std::string::npos;
    const bool context = k.rfind("unet:", 0) == 0 && k.find("attn2_to_k") != std::string::npos;
    if (te_q || context) {
      if (in == 768) return "sd1";
      if (in == 1024) return "sd2";
      if (in == 2048) return "sdxl";
    }
  }
  return "";
}

}  // namespace gen::adapters
