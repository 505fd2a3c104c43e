#include "control/t2i_adapter_arch.hpp"

#include <functional>
#include <sstream>

#include "core/fail.hpp"

namespace gen::control {
namespace {

bool has(const ShapeMap& s, const std::string& name) { return s.count(name) != 0; }

bool any_with(const ShapeMap& s, const std::string& part) {
  for (const auto& kv : s)
    if (kv.first.find(part) != std::string::npos) return true;
  return false;
}

// The number of consecutive indices i from 0 for which `pattern(i)` is a tensor name.
std::int64_t count(const ShapeMap& s, const std::function<std::string(std::int64_t)>& pattern) {
  std::int64_t n = 0;
  while (has(s, pattern(n))) ++n;
  return n;
}

std::vector<std::string> split(const std::string& name) {
  std::vector<std::string> parts(1);
  for (char c : name) {
    if (c == '.') parts.emplace_back();
    else parts.back().push_back(c);
  }
  return parts;
}

std::string join(const std::vector<std::string>& parts, std::size_t from) {
  std::string out;
  for (std::size_t i = from; i < parts.size(); ++i) out += (i > from ? "." : "") + parts[i];
  return out;
}

std::string prefix_of(const ShapeMap& s) {
  return has(s, "adapter.conv_in.weight") || has(s, "adapter.body.0.in_conv.weight") ? "adapter." : "";
}

}  // namespace

const char* kind_id(T2IKind kind) noexcept {
  switch (kind) {
    case T2IKind::Full: return "full_adapter";
    case T2IKind::FullXL: return "full_adapter_xl";
    case T2IKind::Light: return "light_adapter";
  }
  return "full_adapter";
}

const char* layout_id(T2ILayout layout) noexcept {
  return layout == T2ILayout::Diffusers ? "diffusers" : "original";
}

std::string T2IAdapterConfig::summary() const {
  std::ostringstream o;
  o << (kind == T2IKind::Light ? "light" : "full") << " T2I-Adapter for " << (sdxl() ? "SDXL" : "SD 1.x/2.x") << ", "
    << channels.size() << " levels (";
  for (std::size_t i = 0; i < channels.size(); ++i) o << (i ? ", " : "") << channels[i];
  o << "), " << num_res_blocks << " blocks each, " << (in_channels == 1 ? "grey" : in_channels == 3 ? "RGB" : "odd")
    << " input (" << layout_id(layout) << " names)";
  return o.str();
}

bool looks_like_t2i_adapter(const ShapeMap& s) {
  const auto p = prefix_of(s);
  if (!p.empty()) return has(s, p + "body.0.resnets.0.block1.weight");
  return (has(s, "conv_in.weight") && has(s, "body.0.block1.weight")) ||
         (has(s, "body.0.in_conv.weight") && has(s, "body.0.body.0.block1.weight") && has(s, "body.0.out_conv.weight")) ||
         !t2i_unsupported_kind(s).empty();
}

std::string t2i_unsupported_kind(const ShapeMap& s) {
  if (has(s, "task_embedding") && has(s, "seq_proj") && any_with(s, "spatial_ch_projs."))
    return "a CoAdapter fuser (TencentARC's CoAdapterFuser, which mixes several adapters' features)";
  if (has(s, "style_embedding") && has(s, "proj") && any_with(s, "transformer_layes."))
    return "a T2I style adapter (TencentARC's StyleAdapter, which adds tokens to the prompt)";
  return "";
}

T2IAdapterConfig infer_t2i_adapter(const ShapeMap& s, const std::string& subject, const std::string& adapter_type,
                                   std::int64_t downscale_factor) {
  if (const auto what = t2i_unsupported_kind(s); !what.empty())
    fail(ErrorCode::Unsupported, subject, "this is " + what + ", not a T2I-Adapter gen runs (full or light)");
  T2IAdapterConfig c;
  c.prefix = prefix_of(s);
  const std::string& p = c.prefix;
  c.layout = any_with(s, ".resnets.") ? T2ILayout::Diffusers : T2ILayout::Original;
  const bool light = !has(s, p + "conv_in.weight");
  c.kind = light ? T2IKind::Light : T2IKind::Full;
  if (any_with(s, ".skep.") || any_with(s, ".down_opt.op."))
    fail(ErrorCode::Unsupported, subject,
         "an original T2I-Adapter with skep / down_opt convolutions (sk=False or use_conv=True), a variant no "
         "released adapter uses and gen does not build");
  auto shape = [&](const std::string& name) -> const std::vector<std::int64_t>& {
    const auto it = s.find(p + name);
    if (it == s.end() || it->second.size() != 4)
      fail(ErrorCode::ModelMismatch, subject, "T2I-Adapter names, but no 4-d tensor " + p + name);
    return it->second;
  };
  const auto str = [](std::int64_t v) { return std::to_string(v); };
  std::int64_t levels = 0;
  if (c.layout == T2ILayout::Diffusers) {
    const auto block = [&](std::int64_t i) { return p + "body." + str(i) + (light ? ".in_conv.weight" : ".resnets.0.block1.weight"); };
    levels = count(s, block);
    c.num_res_blocks = count(s, [&](std::int64_t j) { return p + "body.0.resnets." + str(j) + ".block1.weight"; });
    for (std::int64_t i = 0; i < levels; ++i)
      c.channels.push_back(shape(light ? "body." + str(i) + ".out_conv.weight" : "body." + str(i) + ".resnets.0.block1.weight")[0]);
  } else if (light) {
    levels = count(s, [&](std::int64_t i) { return "body." + str(i) + ".in_conv.weight"; });
    c.num_res_blocks = count(s, [&](std::int64_t j) { return "body.0.body." + str(j) + ".block1.weight"; });
    for (std::int64_t i = 0; i < levels; ++i) c.channels.push_back(shape("body." + str(i) + ".out_conv.weight")[0]);
  } else {
    // Flat blocks: the level size is where the first in_conv sits (the channels change there);
    // without one, 2 (every released full adapter).
    const auto blocks = count(s, [&](std::int64_t k) { return "body." + str(k) + ".block1.weight"; });
    c.num_res_blocks = 2;
    for (std::int64_t k = 1; k < blocks; ++k)
      if (has(s, "body." + str(k) + ".in_conv.weight")) {
        c.num_res_blocks = k;
        break;
      }
    if (blocks == 0 || blocks % c.num_res_blocks)
      fail(ErrorCode::ModelMismatch, subject,
           "T2I-Adapter names, but " + str(blocks) + " blocks do not make levels of " + str(c.num_res_blocks));
    levels = blocks / c.num_res_blocks;
    for (std::int64_t i = 0; i < levels; ++i)
      c.channels.push_back(shape("body." + str(i * c.num_res_blocks) + ".block1.weight")[0]);
  }
  if (levels == 0 || c.num_res_blocks == 0)
    fail(ErrorCode::ModelMismatch, subject, "T2I-Adapter names, but no levels or no blocks in them");
  // conv_in (full) or the first in_conv (light) takes the unshuffled image: channels · factor².
  const auto unshuffled = shape(light ? "body.0.in_conv.weight" : "conv_in.weight")[1];
  const bool xl_type = adapter_type == "full_adapter_xl";
  if (!adapter_type.empty() && adapter_type != "full_adapter" && adapter_type != "light_adapter" && !xl_type)
    fail(ErrorCode::Unsupported, subject, "adapter_type '" + adapter_type + "' (gen knows full_adapter, "
                                          "full_adapter_xl and light_adapter)");
  if ((adapter_type == "light_adapter") != light)
    if (!adapter_type.empty())
      fail(ErrorCode::ModelMismatch, subject, "config.json says " + adapter_type + " but the weights are a " +
                                                  (light ? "light" : "full") + " adapter's");
  const auto fits = [&](std::int64_t f) { return unshuffled % (f * f) == 0 && (unshuffled / (f * f) == 1 || unshuffled / (f * f) == 3); };
  if (xl_type) c.kind = T2IKind::FullXL;
  if (downscale_factor > 0) {
    c.downscale = downscale_factor;
  } else if (xl_type || (!light && !fits(8) && fits(16))) {
    c.kind = light ? c.kind : T2IKind::FullXL;
    c.downscale = 16;
  }
  if (!fits(c.downscale))
    fail(ErrorCode::ModelMismatch, subject,
         "the T2I-Adapter's first convolution takes " + str(unshuffled) + " channels: not 1 or 3 image channels × " +
             str(c.downscale) + "² (its pixel unshuffle)");
  c.in_channels = unshuffled / (c.downscale * c.downscale);
  if (c.kind == T2IKind::FullXL && levels != 4)
    fail(ErrorCode::ModelMismatch, subject, "an SDXL full adapter has 4 levels, this one " + str(levels));
  return c;
}

std::string t2i_adapter_name(const T2IAdapterConfig& c, const std::string& name) {
  if (c.layout == T2ILayout::Original) return name;
  const auto parts = split(name);
  if (parts.size() < 3 || parts[0] != "body") return name;
  if (c.kind == T2IKind::Light) {  // body.i.body.j.X → body.i.resnets.j.X
    if (parts[2] == "body") return "body." + parts[1] + ".resnets." + join(parts, 3);
    return name;
  }
  const auto k = std::stoll(parts[1]);
  const auto level = std::to_string(k / c.num_res_blocks);
  if (parts[2] == "in_conv") return "body." + level + "." + join(parts, 2);
  return "body." + level + ".resnets." + std::to_string(k % c.num_res_blocks) + "." + join(parts, 2);
}

}  // namespace gen::control
