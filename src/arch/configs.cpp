// The configs' constructors from diffusers / transformers config.json, their defaults and checks.
#include "arch/configs.hpp"

#include <nlohmann/json.hpp>

#include "arch/config_bounds.hpp"
#include "arch/config_keys.hpp"
#include "core/fail.hpp"
#include "core/json.hpp"

#include <algorithm>

namespace gen::models {

UNetConfig UNetConfig::sd15() { return UNetConfig{}; }

UNetConfig UNetConfig::sd21() {
  UNetConfig c;
  c.num_head_channels = 64;
  c.context_dim = 1024;
  c.use_linear_in_transformer = true;
  c.upcast_attention = true;
  return c;
}

namespace {

using nlohmann::json;

std::int64_t get_int(const json& j, const char* key, const std::string& subject) {
  if (!j.contains(key) || !j[key].is_number_integer())
    fail(ErrorCode::InvalidFormat, subject, std::string("'") + key + "' must be an integer");
  return j[key].get<std::int64_t>();
}

bool get_bool(const json& j, const char* key, const std::string& subject) {
  if (!j.contains(key) || !j[key].is_boolean())
    fail(ErrorCode::InvalidFormat, subject, std::string("'") + key + "' must be true or false");
  return j[key].get<bool>();
}

// A list of positive integers (`what` names it in messages).
// `least`: the smallest value allowed (1, or 0 for transformer depths).
std::vector<std::int64_t> int_list(const json& v, const std::string& what, const std::string& subject,
                                   std::int64_t least = 1) {
  if (!v.is_array() || v.empty()) fail(ErrorCode::InvalidFormat, subject, "'" + what + "' must be a non-empty list");
  std::vector<std::int64_t> out;
  for (const auto& x : v) {
    if (!x.is_number_integer() || x.get<std::int64_t>() < least)
      fail(ErrorCode::InvalidFormat, subject,
           "'" + what + "' must hold " + (least > 0 ? "positive" : "non-negative") + " integers");
    out.push_back(x.get<std::int64_t>());
  }
  return out;
}

// An integer, or a list of `n` equal integers (keys diffusers allows per level but gen's
// models share across levels).
std::int64_t same_everywhere(const json& e, const char* key, std::size_t n, const std::string& subject) {
  const json& v = e[key];
  if (v.is_number_integer()) return v.get<std::int64_t>();
  const auto list = int_list(v, key, subject);
  if (list.size() != n)
    fail(ErrorCode::InvalidFormat, subject, std::string("'") + key + "' must have one entry per level");
  for (auto x : list)
    if (x != list[0])
      fail(ErrorCode::Unsupported, subject, std::string("'") + key + "' differing between levels is not supported");
  return list[0];
}

// An integer for every level, or one per level; nested lists (one per res block) refused.
std::vector<std::int64_t> per_level(const json& v, const char* key, std::size_t n, const std::string& subject,
                                    std::int64_t least = 1) {
  if (v.is_number_integer()) {
    if (v.get<std::int64_t>() < least)
      fail(ErrorCode::InvalidFormat, subject,
           std::string("'") + key + "' must be " + (least > 0 ? "positive" : "non-negative"));
    return std::vector<std::int64_t>(n, v.get<std::int64_t>());
  }
  if (v.is_array())
    for (const auto& x : v)
      if (x.is_array())
        fail(ErrorCode::Unsupported, subject,
             std::string("'") + key + "' with one value per res block (nested lists) is not supported");
  auto list = int_list(v, key, subject, least);
  if (list.size() != n) fail(ErrorCode::InvalidFormat, subject, std::string("'") + key + "' must have one entry per level");
  return list;
}

std::vector<std::string> string_list(const json& v, const char* key, std::size_t n, const std::string& subject) {
  if (!v.is_array() || v.size() != n)
    fail(ErrorCode::InvalidFormat, subject, std::string("'") + key + "' must list one block per level");
  std::vector<std::string> out;
  for (const auto& x : v) {
    if (!x.is_string()) fail(ErrorCode::InvalidFormat, subject, std::string("'") + key + "' must hold strings");
    out.push_back(x.get<std::string>());
  }
  return out;
}

// The UNet fields of a UNet2DConditionModel or ControlNetModel config, defaults filled in.
UNetConfig read_unet(const json& e, bool controlnet, const std::string& subject) {
  UNetConfig c;
  c.in_channels = get_int(e, "in_channels", subject);
  c.out_channels = controlnet ? c.in_channels : get_int(e, "out_channels", subject);
  c.block_channels = int_list(e["block_out_channels"], "block_out_channels", subject);
  c.model_channels = c.block_channels[0];
  const auto n = c.levels();
  const auto down = string_list(e["down_block_types"], "down_block_types", n, subject);
  c.attention_resolutions.clear();
  for (std::size_t l = 0; l < n; ++l) {
    if (down[l] == "CrossAttnDownBlock2D") c.attention_resolutions.push_back(std::int64_t{1} << l);
    else if (down[l] != "DownBlock2D")
      fail(ErrorCode::Unsupported, subject, "down block type '" + down[l] + "' is not supported (gen implements "
                                            "CrossAttnDownBlock2D and DownBlock2D)");
  }
  if (!controlnet) {
    const auto up = string_list(e["up_block_types"], "up_block_types", n, subject);
    for (std::size_t i = 0; i < n; ++i) {
      if (up[i] != "CrossAttnUpBlock2D" && up[i] != "UpBlock2D")
        fail(ErrorCode::Unsupported, subject, "up block type '" + up[i] + "' is not supported (gen implements "
                                              "CrossAttnUpBlock2D and UpBlock2D)");
      if ((up[i] == "CrossAttnUpBlock2D") != (down[n - 1 - i] == "CrossAttnDownBlock2D"))
        fail(ErrorCode::Unsupported, subject, "up_block_types that do not mirror down_block_types are not supported");
    }
  }
  if (!e["mid_block_type"].is_string() || e["mid_block_type"] != "UNetMidBlock2DCrossAttn")
    fail(ErrorCode::Unsupported, subject, "mid_block_type " + core::json_excerpt(e["mid_block_type"]) +
                                              " is not supported (gen implements UNetMidBlock2DCrossAttn)");
  const json& oca = e["only_cross_attention"];
  bool any_only = oca.is_boolean() && oca.get<bool>();
  if (oca.is_array())
    for (const auto& x : oca) any_only = any_only || !x.is_boolean() || x.get<bool>();
  if (any_only) fail(ErrorCode::Unsupported, subject, "only_cross_attention is not supported");
  c.num_res_blocks = same_everywhere(e, "layers_per_block", n, subject);
  c.context_dim = same_everywhere(e, "cross_attention_dim", n, subject);
  if (e["norm_num_groups"].is_null()) fail(ErrorCode::Unsupported, subject, "norm_num_groups null is not supported");
  c.norm_groups = get_int(e, "norm_num_groups", subject);
  c.use_linear_in_transformer = get_bool(e, "use_linear_projection", subject);
  c.upcast_attention = get_bool(e, "upcast_attention", subject);
  // (0: a transformer without blocks, as diffusers' "small" SDXL ControlNets have)
  c.level_depth = per_level(e["transformer_layers_per_block"], "transformer_layers_per_block", n, subject, 0);
  c.transformer_depth = c.level_depth.back();
  if (!controlnet && !e["reverse_transformer_layers_per_block"].is_null())
    c.up_level_depth = per_level(e["reverse_transformer_layers_per_block"], "reverse_transformer_layers_per_block", n,
                                 subject, 0);
  // diffusers calls the head count `attention_head_dim` unless `num_attention_heads` is set.
  const bool named = !e["num_attention_heads"].is_null();
  c.level_heads = per_level(named ? e["num_attention_heads"] : e["attention_head_dim"],
                            named ? "num_attention_heads" : "attention_head_dim", n, subject);
  if (e["addition_embed_type"] == "text_time") {
    // SDXL (UNet and ControlNet alike): time ids through add_time_proj (a sinusoid each),
    // concatenated after the pooled text embeds, → add_embedding (LDM label_emb).
    const json& dim = e["projection_class_embeddings_input_dim"];
    const json& tdim = e["addition_time_embed_dim"];
    if (!dim.is_number_integer() || dim.get<std::int64_t>() <= 0 || !tdim.is_number_integer() ||
        tdim.get<std::int64_t>() <= 0)
      fail(ErrorCode::InvalidFormat, subject,
           "addition_embed_type \"text_time\" needs positive integers 'projection_class_embeddings_input_dim' and "
           "'addition_time_embed_dim'");
    c.adm_in_channels = dim.get<std::int64_t>();
    c.addition_time_embed_dim = tdim.get<std::int64_t>();
  }
  arch::check_bounds(c, subject);  // sizes no real model has, named by key, before validate()
  c.validate(subject);
  return c;
}

}  // namespace

UNetConfig UNetConfig::from_diffusers(const nlohmann::json& j, const std::string& subject) {
  return read_unet(arch::with_class_defaults(j, "UNet2DConditionModel", subject), false, subject);
}

bool UNetConfig::has_attention(std::size_t level) const {
  const auto& a = attention_resolutions;
  return std::find(a.begin(), a.end(), std::int64_t{1} << level) != a.end();
}

namespace {

AttentionOptions heads_of(const UNetConfig& c, std::int64_t channels, std::size_t level) {
  AttentionOptions o;
  if (!c.level_heads.empty()) {
    o.heads = c.level_heads[level];
    o.head_dim = channels / o.heads;  // rounded down, as diffusers
  } else if (c.num_head_channels > 0) {
    o.head_dim = c.num_head_channels;
    o.heads = channels / c.num_head_channels;
  } else {
    o.heads = c.num_heads;
    o.head_dim = channels / c.num_heads;
  }
  o.upcast = c.upcast_attention;
  return o;
}

}  // namespace

AttentionOptions UNetConfig::attention_at(std::size_t level) const {
  return heads_of(*this, block_channels[level], level);
}

AttentionOptions UNetConfig::attention_mid() const { return heads_of(*this, block_channels.back(), levels() - 1); }

std::int64_t UNetConfig::depth_down(std::size_t level) const {
  return level_depth.empty() ? transformer_depth : level_depth[level];
}

std::int64_t UNetConfig::depth_up(std::size_t level) const {
  return up_level_depth.empty() ? depth_down(level) : up_level_depth[levels() - 1 - level];
}

std::int64_t UNetConfig::depth_mid() const { return mid_depth > 0 ? mid_depth : depth_down(levels() - 1); }

void UNetConfig::validate(const std::string& subject) const {
  auto bad = [&](const std::string& why) { fail(ErrorCode::InvalidArgument, subject, "UNet config: " + why); };
  if (in_channels <= 0 || out_channels <= 0 || model_channels <= 0) bad("channel counts must be positive");
  if (block_channels.empty()) bad("there are no levels");
  // (a transformer depth may be 0: norm and projections without blocks, diffusers' Transformer2DModel
  // with num_layers 0, as in the "small" SDXL ControlNets)
  if (num_res_blocks <= 0 || transformer_depth < 0 || context_dim <= 0 || norm_groups <= 0)
    bad("counts must be positive");
  if (model_channels % norm_groups) bad("channels must be positive multiples of norm_groups");
  if (adm_in_channels < 0 || (adm_in_channels > 0 && addition_time_embed_dim <= 0))
    bad("the added condition's widths must be positive");
  if (!level_heads.empty() && level_heads.size() != levels()) bad("level_heads needs one count per level");
  if (!level_depth.empty() && level_depth.size() != levels()) bad("level_depth needs one depth per level");
  if (!up_level_depth.empty() && up_level_depth.size() != levels()) bad("up_level_depth needs one depth per level");
  for (std::size_t l = 0; l < levels(); ++l) {
    const auto ch = block_channels[l];
    if (ch <= 0 || ch % norm_groups) bad("channels must be positive multiples of norm_groups");
    if (depth_down(l) < 0 || depth_up(l) < 0) bad("transformer depths must not be negative");
    const auto a = attention_at(l);
    if (has_attention(l) && (a.heads <= 0 || a.head_dim <= 0))  // (SDXL's top level has none)
      bad(std::to_string(ch) + " channels do not split into " + std::to_string(a.heads) + " attention heads");
  }
  const auto m = attention_mid();
  if (m.heads <= 0 || m.head_dim <= 0 || depth_mid() < 0) bad("the middle block's attention heads or depth");
}

VaeConfig VaeConfig::sd() { return VaeConfig{}; }

VaeConfig VaeConfig::from_diffusers(const nlohmann::json& j, const std::string& subject) {
  const json e = arch::with_class_defaults(j, "AutoencoderKL", subject);
  VaeConfig c;
  c.in_channels = get_int(e, "in_channels", subject);
  c.out_channels = get_int(e, "out_channels", subject);
  c.latent_channels = get_int(e, "latent_channels", subject);
  c.num_res_blocks = get_int(e, "layers_per_block", subject);
  c.norm_groups = get_int(e, "norm_num_groups", subject);
  if (!e["scaling_factor"].is_number()) fail(ErrorCode::InvalidFormat, subject, "'scaling_factor' must be a number");
  c.scaling_factor = e["scaling_factor"].get<double>();
  c.block_channels = int_list(e["block_out_channels"], "block_out_channels", subject);
  c.channels = c.block_channels[0];
  for (const auto& t : string_list(e["down_block_types"], "down_block_types", c.levels(), subject))
    if (t != "DownEncoderBlock2D")
      fail(ErrorCode::Unsupported, subject, "VAE down block type '" + t + "' is not supported (gen implements DownEncoderBlock2D)");
  for (const auto& t : string_list(e["up_block_types"], "up_block_types", c.levels(), subject))
    if (t != "UpDecoderBlock2D")
      fail(ErrorCode::Unsupported, subject, "VAE up block type '" + t + "' is not supported (gen implements UpDecoderBlock2D)");
  arch::check_bounds(c, subject);  // sizes no real model has, named by key
  if (c.num_res_blocks <= 0 || c.norm_groups <= 0 || c.latent_channels <= 0)
    fail(ErrorCode::InvalidFormat, subject, "VAE counts must be positive");
  for (auto ch : c.block_channels)
    if (ch % c.norm_groups) fail(ErrorCode::InvalidFormat, subject, "VAE channels must be multiples of norm_num_groups");
  return c;
}

ClipTextConfig ClipTextConfig::sd15() { return ClipTextConfig{}; }

ClipTextConfig ClipTextConfig::sd21() {
  ClipTextConfig c;
  c.layout = Layout::OpenClip;
  c.width = 1024;
  c.layers = 24;
  c.heads = 16;
  c.ff_dim = 4096;
  c.quick_gelu = false;
  return c;
}

ClipTextConfig ClipTextConfig::from_transformers(const nlohmann::json& j, const std::string& subject,
                                                 bool with_projection) {
  const json e = arch::with_class_defaults(j, "CLIPTextConfig", subject);
  ClipTextConfig c;
  auto num = [&](const char* key) {
    if (!e[key].is_number_integer() || e[key].get<std::int64_t>() <= 0)
      fail(ErrorCode::InvalidFormat, subject, std::string("'") + key + "' must be a positive integer");
    return e[key].get<std::int64_t>();
  };
  c.vocab_size = num("vocab_size");
  c.max_positions = num("max_position_embeddings");
  c.width = num("hidden_size");
  c.layers = num("num_hidden_layers");
  c.heads = num("num_attention_heads");
  c.ff_dim = num("intermediate_size");
  if (with_projection) c.projection_dim = num("projection_dim");
  if (!e["hidden_act"].is_string()) fail(ErrorCode::InvalidFormat, subject, "'hidden_act' must be a string");
  const auto act = e["hidden_act"].get<std::string>();
  if (act != "quick_gelu" && act != "gelu")
    fail(ErrorCode::Unsupported, subject, "text encoder hidden_act '" + act + "' is not supported (gen implements "
                                          "quick_gelu and gelu)");
  c.quick_gelu = act == "quick_gelu";
  if (!e["layer_norm_eps"].is_null()) {
    if (!e["layer_norm_eps"].is_number()) fail(ErrorCode::InvalidFormat, subject, "'layer_norm_eps' must be a number");
    c.eps = e["layer_norm_eps"].get<double>();
  }
  if (e["eos_token_id"].is_number_integer() && e["eos_token_id"].get<std::int64_t>() != 2)
    c.eos_token_id = e["eos_token_id"].get<std::int64_t>();
  arch::check_bounds(c, subject);  // sizes no real model has (and 0 heads), named by key
  return c;
}

}  // namespace gen::models

namespace gen::control {

ControlNetConfig ControlNetConfig::sd15() {
  ControlNetConfig c;
  c.unet = models::UNetConfig::sd15();
  return c;
}

ControlNetConfig ControlNetConfig::from_diffusers(const nlohmann::json& j, const std::string& subject) {
  // ControlNetUnionModel (xinsir's own files say "ControlNetModel_Union"): the ControlNet's keys
  // less mid_block_type (always UNetMidBlock2DCrossAttn), plus the Union's.
  const auto cls = j.is_object() ? j.value("_class_name", nlohmann::json()) : nlohmann::json();
  const bool is_union = cls == "ControlNetUnionModel" || cls == "ControlNetModel_Union";
  nlohmann::json e = arch::with_class_defaults(j, is_union ? "ControlNetUnionModel" : "ControlNetModel", subject);
  if (is_union) e["mid_block_type"] = "UNetMidBlock2DCrossAttn";
  ControlNetConfig c;
  c.unet = models::read_unet(e, true, subject);
  if (is_union) {
    c.union_types = models::get_int(e, "num_control_type", subject);
    c.union_channels = models::get_int(e, "num_trans_channel", subject);
    c.union_heads = models::get_int(e, "num_trans_head", subject);
    c.union_layers = models::get_int(e, "num_trans_layer", subject);
    c.union_proj_channels = models::get_int(e, "num_proj_channel", subject);
    if (!e["addition_time_embed_dim"].is_number_integer())
      fail(ErrorCode::InvalidFormat, subject,
           "a ControlNetUnionModel needs 'addition_time_embed_dim' (the control-type sinusoid's width)");
    c.union_embed_dim = e["addition_time_embed_dim"].get<std::int64_t>();
    if (c.union_types <= 0 || c.union_types > 64 || c.union_channels != c.unet.model_channels ||
        c.union_proj_channels != c.unet.model_channels || c.union_heads <= 0 ||
        c.union_channels % c.union_heads != 0 || c.union_layers < 0 || c.union_layers > 64 ||
        c.union_embed_dim <= 0 || c.union_embed_dim > 4096)
      fail(ErrorCode::InvalidFormat, subject,
           "num_control_type (1-64), num_trans_channel and num_proj_channel (= block_out_channels[0] = " +
               std::to_string(c.unet.model_channels) + "), num_trans_head (dividing num_trans_channel) and "
               "num_trans_layer do not describe a ControlNet Union");
  }
  if (!e["conditioning_channels"].is_number_integer() || e["conditioning_channels"].get<std::int64_t>() <= 0)
    fail(ErrorCode::InvalidFormat, subject, "'conditioning_channels' must be a positive integer");
  c.hint_channels = e["conditioning_channels"].get<std::int64_t>();
  c.hint_block_channels =
      models::int_list(e["conditioning_embedding_out_channels"], "conditioning_embedding_out_channels", subject);
  const auto& order = e["controlnet_conditioning_channel_order"];
  if (order != "rgb" && order != "bgr")
    fail(ErrorCode::InvalidFormat, subject, "controlnet_conditioning_channel_order " + core::json_excerpt(order) +
                                                " must be \"rgb\" or \"bgr\"");
  c.bgr = order == "bgr";
  if (!e["global_pool_conditions"].is_boolean())
    fail(ErrorCode::InvalidFormat, subject, "'global_pool_conditions' must be true or false");
  c.global_average_pooling = e["global_pool_conditions"].get<bool>();
  return c;
}

}  // namespace gen::control
