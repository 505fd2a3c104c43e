// The config inference (rules in infer.hpp).
#include "arch/infer.hpp"

#include "core/fail.hpp"

#include <algorithm>

namespace gen::arch {

using control::ControlNetConfig;
using models::ClipTextConfig;
using models::InferenceHints;
using models::UNetConfig;
using models::VaeConfig;

namespace {

std::string num(std::int64_t i) { return std::to_string(i); }

struct Need {
  const Lookup& get;
  const std::string& subject;
  const char* what;
  const Shape& operator()(const std::string& name, std::size_t rank) const {
    const Shape* s = get(name);
    if (!s) fail(ErrorCode::ModelMismatch, subject, std::string("no tensor '") + name + "': not a " + what);
    if (s->size() != rank)
      fail(ErrorCode::ModelMismatch, subject, "tensor '" + name + "' has rank " + num(s->size()) + ", expected " +
                                                  num(rank));
    return *s;
  }
};

// The transformer blocks under `prefix` ("….transformer_blocks.N.norm1.weight"); 0 if none.
std::int64_t depth_at(const Lookup& get, const std::string& prefix) {
  std::int64_t d = 0;
  while (get(prefix + "transformer_blocks." + num(d) + ".norm1.weight")) ++d;
  return d;
}


// The head layout and attention upcast (not stored) and the norm groups: the family's
// rule unless hinted.
void family_rules(UNetConfig& c, Family family, const InferenceHints& hints) {
  if (hints.unet_heads > 0) {
    c.num_heads = hints.unet_heads;
    c.num_head_channels = -1;
  } else if (hints.unet_head_channels > 0) {
    c.num_head_channels = hints.unet_head_channels;
  } else if (family == Family::SD2 || family == Family::SDXL) {
    c.num_head_channels = 64;
  } else {
    c.num_heads = 8;
    c.num_head_channels = -1;
  }
  c.upcast_attention = hints.unet_upcast_attention.value_or(family == Family::SD2);
  c.norm_groups = hints.unet_norm_groups > 0 ? hints.unet_norm_groups : 32;
}

const Shape& need(const ShapeMap& s, const std::string& k, const std::string& subject) {
  auto it = s.find(k);
  if (it == s.end()) fail(ErrorCode::ModelMismatch, subject, "missing tensor " + k);
  return it->second;
}

// Whether any transformer of `u` has blocks (and so cross-attention; the middle block's depth
// not counted). A ControlNet whose transformers are all empty (diffusers' "small" SDXL ones)
// stores no context width.
bool any_cross_attention(const UNetConfig& u) {
  for (std::size_t l = 0; l < u.levels(); ++l)
    if (u.has_attention(l) && u.depth_down(l) > 0) return true;
  return false;
}

// The input width of a ControlNet's added-condition embedding (a [emb, adm_in] linear weight).
std::int64_t added_width(const ShapeMap& s, const std::string& k, const std::string& subject) {
  const auto& shape = need(s, k, subject);
  if (shape.size() != 2)
    fail(ErrorCode::ModelMismatch, subject, "tensor '" + k + "' has rank " + num(shape.size()) + ", expected 2");
  return shape[1];
}

}  // namespace

Lookup lookup_in(const ShapeMap& shapes) {
  return [&shapes](const std::string& name) -> const Shape* {
    auto it = shapes.find(name);
    return it == shapes.end() ? nullptr : &it->second;
  };
}

UNetConfig infer_unet(const Lookup& get, Family family, const InferenceHints& hints, const std::string& subject) {
  Need need{get, subject, "Stable Diffusion UNet"};
  UNetConfig c;
  if (get("label_emb.0.0.weight")) {
    // SDXL's added condition (sgm: label_emb.0 = Linear, SiLU, Linear). Class-conditional
    // UNets (label_emb.weight, an embedding table) are not this.
    if (family != Family::SDXL)
      fail(ErrorCode::Unsupported, subject,
           "a UNet with a label embedding outside an SDXL checkpoint (class-conditional) is not supported");
    c.adm_in_channels = need("label_emb.0.0.weight", 2)[1];
    if (hints.unet_addition_time_embed_dim > 0) c.addition_time_embed_dim = hints.unet_addition_time_embed_dim;
  } else if (get("label_emb.weight")) {
    fail(ErrorCode::Unsupported, subject, "a class-conditional UNet (label_emb.weight) is not supported");
  }
  const auto& in = need("input_blocks.0.0.weight", 4);
  c.model_channels = in[0];
  c.in_channels = in[1];
  c.out_channels = need("out.2.weight", 4)[0];
  // Walk input_blocks: per level, res blocks (optionally with a transformer), then a downsampler.
  c.block_channels.clear();
  c.attention_resolutions.clear();
  c.level_depth.clear();
  std::int64_t n = 1, per_level = -1;
  for (std::int64_t level = 0;; ++level) {
    std::int64_t r = 0, out = 0, depth = 0;
    int with_attention = 0;
    for (; get("input_blocks." + num(n) + ".0.in_layers.0.weight"); ++r, ++n) {
      out = need("input_blocks." + num(n) + ".0.out_layers.3.weight", 4)[0];
      with_attention += get("input_blocks." + num(n) + ".1.norm.weight") != nullptr;
      const auto d = depth_at(get, "input_blocks." + num(n) + ".1.");
      if (r > 0 && d != depth)
        fail(ErrorCode::Unsupported, subject, "transformer depths differing within a level are not supported");
      depth = d;
    }
    if (r == 0) fail(ErrorCode::ModelMismatch, subject, "input_blocks." + num(n) + " is not a res block");
    if (per_level >= 0 && r != per_level)
      fail(ErrorCode::Unsupported, subject, "levels with different numbers of res blocks");
    if (with_attention != 0 && with_attention != r)
      fail(ErrorCode::Unsupported, subject, "a level where only some res blocks have attention");
    per_level = r;
    c.block_channels.push_back(out);
    c.level_depth.push_back(std::max<std::int64_t>(depth, 1));
    if (with_attention) c.attention_resolutions.push_back(std::int64_t{1} << level);
    if (!get("input_blocks." + num(n) + ".0.op.weight")) break;
    ++n;
  }
  c.num_res_blocks = per_level;
  // The up levels' depths (output_blocks, deepest level first).
  c.up_level_depth.clear();
  for (std::size_t i = 0; i < c.block_channels.size(); ++i)
    c.up_level_depth.push_back(
        std::max<std::int64_t>(depth_at(get, "output_blocks." + num(static_cast<std::int64_t>(i) * (per_level + 1)) + ".1."), 1));
  const std::string mid = "middle_block.1.";
  c.mid_depth = c.transformer_depth = depth_at(get, mid);
  if (c.transformer_depth == 0) fail(ErrorCode::ModelMismatch, subject, "no transformer in middle_block.1");
  c.context_dim = need(mid + "transformer_blocks.0.attn2.to_k.weight", 2)[1];
  const Shape* proj = get(mid + "proj_in.weight");
  if (!proj) fail(ErrorCode::ModelMismatch, subject, "no tensor '" + mid + "proj_in.weight'");
  c.use_linear_in_transformer = proj->size() == 2;
  family_rules(c, family, hints);
  c.validate(subject);
  return c;
}

VaeConfig infer_vae(const Lookup& get, const InferenceHints& hints, const std::string& subject) {
  Need need{get, subject, "KL autoencoder (VAE)"};
  VaeConfig c;
  const auto& in = need("encoder.conv_in.weight", 4);
  c.channels = in[0];
  c.in_channels = in[1];
  c.block_channels.clear();
  for (std::int64_t l = 0; get("encoder.down." + num(l) + ".block.0.conv1.weight"); ++l)
    c.block_channels.push_back(need("encoder.down." + num(l) + ".block.0.conv1.weight", 4)[0]);
  if (c.block_channels.empty()) fail(ErrorCode::ModelMismatch, subject, "no tensor 'encoder.down.0.block.0.conv1.weight'");
  c.num_res_blocks = 0;
  while (get("encoder.down.0.block." + num(c.num_res_blocks) + ".conv1.weight")) ++c.num_res_blocks;
  c.latent_channels = need("decoder.conv_in.weight", 4)[1];
  c.out_channels = need("decoder.conv_out.weight", 4)[0];
  c.norm_groups = hints.vae_norm_groups > 0 ? hints.vae_norm_groups : 32;
  c.scaling_factor = 0.18215;
  return c;
}

ClipTextConfig infer_text(const Lookup& get, ClipTextConfig::Layout layout, Family family,
                          const InferenceHints& hints, const std::string& subject) {
  Need need{get, subject, "CLIP text encoder"};
  const bool hf = layout == ClipTextConfig::Layout::HuggingFace;
  ClipTextConfig c;
  c.layout = layout;
  const auto& tok = need(hf ? "embeddings.token_embedding.weight" : "token_embedding.weight", 2);
  c.vocab_size = tok[0];
  c.width = tok[1];
  c.max_positions = need(hf ? "embeddings.position_embedding.weight" : "positional_embedding", 2)[0];
  const std::string layer = hf ? "encoder.layers." : "transformer.resblocks.";
  c.layers = 0;
  while (get(layer + num(c.layers) + (hf ? ".layer_norm1.weight" : ".ln_1.weight"))) ++c.layers;
  if (c.layers == 0) fail(ErrorCode::ModelMismatch, subject, "no text transformer layers");
  c.ff_dim = need(layer + "0." + (hf ? "mlp.fc1.weight" : "mlp.c_fc.weight"), 2)[0];
  if (hints.text_heads > 0) {
    c.heads = hints.text_heads;
  } else {
    if (c.width % 64)
      fail(ErrorCode::ModelMismatch, subject, "text width " + num(c.width) +
                                                  " is not a multiple of 64, so its head count is not known: give it in the model's .yaml "
                                                  "(gen: {text_heads: N}; docs/formats.md#single-files-and-their-yaml)");
    c.heads = c.width / 64;
  }
  if (c.width % c.heads) fail(ErrorCode::InvalidArgument, subject, "text width is not a multiple of the heads");
  // OpenCLIP towers (ViT-H of SD 2.x, bigG of SDXL) use gelu; CLIP ViT-L quick_gelu.
  c.quick_gelu = family != Family::SD2 && layout != ClipTextConfig::Layout::OpenClip;
  c.eps = 1e-5;
  return c;
}

ControlNetConfig infer_controlnet(const ShapeMap& s, Family family, const std::string& subject) {
  ControlNetConfig c;
  auto& u = c.unet;
  // SDXL ControlNets carry the UNet's added-condition embedding (label_emb); each time id's
  // sinusoid width is not stored: they take the base UNet's added vector as it is.
  if (s.count("label_emb.0.0.weight")) u.adm_in_channels = added_width(s, "label_emb.0.0.weight", subject);
  const auto& conv_in = need(s, "input_blocks.0.0.weight", subject);
  u.model_channels = conv_in[0];
  u.in_channels = conv_in[1];
  u.out_channels = conv_in[1];
  u.block_channels.clear();
  u.attention_resolutions.clear();
  u.level_depth.clear();
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
    if (res_in_level == 0) {
      u.block_channels.push_back(need(s, b + "0.out_layers.3.weight", subject)[0]);
      u.level_depth.push_back(1);
    }
    ++res_in_level;
    if (s.count(b + "1.norm.weight")) {
      level_attn = true;
      const auto& pin = need(s, b + "1.proj_in.weight", subject);
      u.use_linear_in_transformer = pin.size() == 2;
      if (s.count(b + "1.transformer_blocks.0.attn2.to_k.weight"))
        u.context_dim = need(s, b + "1.transformer_blocks.0.attn2.to_k.weight", subject)[1];
      std::int64_t depth = 0;
      while (s.count(b + "1.transformer_blocks." + std::to_string(depth) + ".norm1.weight")) ++depth;
      u.level_depth.back() = depth;
    }
  }
  if (u.block_channels.empty()) fail(ErrorCode::ModelMismatch, subject, "no encoder blocks found");
  u.mid_depth = 0;
  while (s.count("middle_block.1.transformer_blocks." + std::to_string(u.mid_depth) + ".norm1.weight")) ++u.mid_depth;
  if (u.mid_depth > 0) u.context_dim = need(s, "middle_block.1.transformer_blocks.0.attn2.to_k.weight", subject)[1];
  else if (u.adm_in_channels > 0 && !any_cross_attention(u)) u.context_dim = 2048;  // not stored: SDXL's
  u.transformer_depth = std::max<std::int64_t>(u.mid_depth, 1);
  u.num_res_blocks = res_first_level;
  family_rules(u, family, {});
  if (s.count(kUniControlMarker)) {  // UniControl (control/unicontrol.hpp): per-task hint blocks
    c.unicontrol_feature_dim = need(s, kUniControlMarker, subject)[1];
    c.unicontrol_tasks = 0;
    while (s.count("input_hint_block_list_moe." + std::to_string(c.unicontrol_tasks) + ".0.weight"))
      ++c.unicontrol_tasks;
    c.hint_channels = need(s, "input_hint_block_list_moe.0.0.weight", subject)[1];
    u.validate(subject);
    return c;
  }
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

ControlNetConfig infer_controlnet_diffusers(const ShapeMap& s, Family family, const std::string& subject) {
  ControlNetConfig c;
  auto& u = c.unet;
  if (s.count("add_embedding.linear_1.weight"))
    u.adm_in_channels = added_width(s, "add_embedding.linear_1.weight", subject);
  const auto& conv_in = need(s, "conv_in.weight", subject);
  u.model_channels = conv_in[0];
  u.in_channels = u.out_channels = conv_in[1];
  u.block_channels.clear();
  u.attention_resolutions.clear();
  u.level_depth.clear();
  for (int b = 0; s.count("down_blocks." + std::to_string(b) + ".resnets.0.conv1.weight"); ++b) {
    const std::string blk = "down_blocks." + std::to_string(b) + ".";
    u.block_channels.push_back(need(s, blk + "resnets.0.conv1.weight", subject)[0]);
    u.level_depth.push_back(1);
    if (b == 0) {
      u.num_res_blocks = 0;
      while (s.count(blk + "resnets." + std::to_string(u.num_res_blocks) + ".conv1.weight")) ++u.num_res_blocks;
    }
    if (s.count(blk + "attentions.0.proj_in.weight")) {
      u.attention_resolutions.push_back(std::int64_t{1} << b);
      u.use_linear_in_transformer = need(s, blk + "attentions.0.proj_in.weight", subject).size() == 2;
      if (s.count(blk + "attentions.0.transformer_blocks.0.attn2.to_k.weight"))
        u.context_dim = need(s, blk + "attentions.0.transformer_blocks.0.attn2.to_k.weight", subject)[1];
      std::int64_t depth = 0;
      while (s.count(blk + "attentions.0.transformer_blocks." + std::to_string(depth) + ".norm1.weight")) ++depth;
      u.level_depth.back() = depth;
    }
  }
  if (u.block_channels.empty()) fail(ErrorCode::ModelMismatch, subject, "no down_blocks found");
  u.mid_depth = 0;
  while (s.count("mid_block.attentions.0.transformer_blocks." + std::to_string(u.mid_depth) + ".norm1.weight"))
    ++u.mid_depth;
  if (u.mid_depth > 0) u.context_dim = need(s, "mid_block.attentions.0.transformer_blocks.0.attn2.to_k.weight", subject)[1];
  else if (u.adm_in_channels > 0 && !any_cross_attention(u)) u.context_dim = 2048;  // not stored: SDXL's
  u.transformer_depth = std::max<std::int64_t>(u.mid_depth, 1);
  family_rules(u, family, {});
  const auto& hin = need(s, "controlnet_cond_embedding.conv_in.weight", subject);
  c.hint_channels = hin[1];
  c.hint_block_channels = {hin[0]};
  for (int k = 1; s.count("controlnet_cond_embedding.blocks." + std::to_string(k) + ".weight"); k += 2)
    c.hint_block_channels.push_back(need(s, "controlnet_cond_embedding.blocks." + std::to_string(k) + ".weight", subject)[0]);
  if (s.count(kUnionMarker)) {  // ControlNet Union / ProMax (control/controlnet_union.hpp)
    const auto& task = need(s, kUnionMarker, subject);
    c.union_types = task.at(0);
    c.union_channels = task.at(1);
    c.union_layers = 0;
    while (s.count("transformer_layes." + std::to_string(c.union_layers) + ".attn.in_proj_weight")) ++c.union_layers;
    c.union_proj_channels = need(s, "spatial_ch_projs.weight", subject)[0];
    c.union_embed_dim = need(s, "control_add_embedding.linear_1.weight", subject)[1] / std::max<std::int64_t>(c.union_types, 1);
    // The head count is not stored: ControlNetUnionModel's num_trans_head, 8 (xinsir's files).
    c.union_heads = c.union_channels % 8 == 0 ? 8 : 1;
    if (c.union_channels != u.model_channels || c.union_proj_channels != u.model_channels ||
        c.union_embed_dim * c.union_types != need(s, "control_add_embedding.linear_1.weight", subject)[1])
      fail(ErrorCode::ModelMismatch, subject,
           "task_embedding, spatial_ch_projs and control_add_embedding do not fit a ControlNet Union with " +
               std::to_string(u.model_channels) + " channels");
  }
  u.validate(subject);
  return c;
}

}  // namespace gen::arch
