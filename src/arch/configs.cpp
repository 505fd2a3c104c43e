// The configs' constructors from diffusers / transformers config.json, their defaults and checks.
#include "arch/configs.hpp"

#include <nlohmann/json.hpp>

#include "core/fail.hpp"

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

std::int64_t get_int(const nlohmann::json& j, const char* key, std::int64_t fallback,
                     const std::string& subject) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  if (!j[key].is_number_integer())
    fail(ErrorCode::InvalidFormat, subject, std::string("'") + key + "' must be an integer");
  return j[key].get<std::int64_t>();
}

}  // namespace

UNetConfig UNetConfig::from_diffusers(const nlohmann::json& j, const std::string& subject) {
  if (!j.is_object()) fail(ErrorCode::InvalidFormat, subject, "config is not a JSON object");
  UNetConfig c;
  c.in_channels = get_int(j, "in_channels", 4, subject);
  c.out_channels = get_int(j, "out_channels", c.in_channels, subject);
  c.num_res_blocks = get_int(j, "layers_per_block", 2, subject);
  c.context_dim = get_int(j, "cross_attention_dim", 768, subject);
  c.norm_groups = get_int(j, "norm_num_groups", 32, subject);
  c.transformer_depth = get_int(j, "transformer_layers_per_block", 1, subject);
  c.use_linear_in_transformer = j.value("use_linear_projection", false);
  c.upcast_attention = j.value("upcast_attention", false);
  const auto& boc = j.at("block_out_channels");
  if (!boc.is_array() || boc.empty())
    fail(ErrorCode::InvalidFormat, subject, "'block_out_channels' must be a non-empty array");
  c.model_channels = boc[0].get<std::int64_t>();
  c.channel_mult.clear();
  for (const auto& v : boc) {
    const auto ch = v.get<std::int64_t>();
    if (c.model_channels <= 0 || ch % c.model_channels)
      fail(ErrorCode::Unsupported, subject, "block_out_channels are not multiples of the first");
    c.channel_mult.push_back(ch / c.model_channels);
  }
  c.attention_resolutions.clear();
  const auto& types = j.at("down_block_types");
  for (std::size_t l = 0; l < types.size(); ++l)
    if (types[l].get<std::string>().find("CrossAttn") != std::string::npos)
      c.attention_resolutions.push_back(std::int64_t{1} << l);
  // diffusers calls the head count `attention_head_dim` unless `num_attention_heads` is set.
  nlohmann::json heads = j.contains("num_attention_heads") && !j["num_attention_heads"].is_null()
                             ? j["num_attention_heads"]
                             : j.value("attention_head_dim", nlohmann::json(8));
  if (heads.is_number_integer()) {
    c.num_heads = heads.get<std::int64_t>();
    c.num_head_channels = -1;
  } else if (heads.is_array() && heads.size() == boc.size()) {
    std::int64_t dim = -1;
    for (std::size_t l = 0; l < heads.size(); ++l) {
      const auto ch = boc[l].get<std::int64_t>(), h = heads[l].get<std::int64_t>();
      if (h <= 0 || ch % h || (dim >= 0 && ch / h != dim))
        fail(ErrorCode::Unsupported, subject, "per-level attention heads with unequal head sizes");
      dim = ch / h;
    }
    c.num_head_channels = dim;
  } else {
    fail(ErrorCode::InvalidFormat, subject, "'attention_head_dim' must be an integer or a per-level list");
  }
  c.validate(subject);
  return c;
}

AttentionOptions UNetConfig::attention_at(std::int64_t channels) const {
  AttentionOptions o;
  if (num_head_channels > 0) {
    o.head_dim = num_head_channels;
    o.heads = channels / num_head_channels;
  } else {
    o.heads = num_heads;
    o.head_dim = channels / num_heads;
  }
  o.upcast = upcast_attention;
  return o;
}

void UNetConfig::validate(const std::string& subject) const {
  auto bad = [&](const std::string& why) { fail(ErrorCode::InvalidArgument, subject, "UNet config: " + why); };
  if (in_channels <= 0 || out_channels <= 0 || model_channels <= 0) bad("channel counts must be positive");
  if (channel_mult.empty()) bad("channel_mult is empty");
  if (num_res_blocks <= 0 || transformer_depth <= 0 || context_dim <= 0) bad("counts must be positive");
  for (auto m : channel_mult) {
    const auto ch = m * model_channels;
    if (m <= 0 || ch % norm_groups) bad("channels must be positive multiples of norm_groups");
    const auto a = attention_at(ch);
    if (a.heads <= 0 || a.head_dim <= 0 || a.heads * a.head_dim != ch)
      bad(std::to_string(ch) + " channels do not split into attention heads");
  }
}

VaeConfig VaeConfig::sd() { return VaeConfig{}; }

VaeConfig VaeConfig::from_diffusers(const nlohmann::json& j, const std::string& subject) {
  if (!j.is_object()) fail(ErrorCode::InvalidFormat, subject, "config is not a JSON object");
  VaeConfig c;
  c.in_channels = j.value("in_channels", c.in_channels);
  c.out_channels = j.value("out_channels", c.out_channels);
  c.latent_channels = j.value("latent_channels", c.latent_channels);
  c.num_res_blocks = j.value("layers_per_block", c.num_res_blocks);
  c.norm_groups = j.value("norm_num_groups", c.norm_groups);
  c.scaling_factor = j.value("scaling_factor", c.scaling_factor);
  const auto& boc = j.at("block_out_channels");
  if (!boc.is_array() || boc.empty()) fail(ErrorCode::InvalidFormat, subject, "'block_out_channels' must be a non-empty array");
  c.channels = boc[0].get<std::int64_t>();
  c.channel_mult.clear();
  for (const auto& v : boc) {
    const auto ch = v.get<std::int64_t>();
    if (c.channels <= 0 || ch % c.channels) fail(ErrorCode::Unsupported, subject, "block_out_channels are not multiples of the first");
    c.channel_mult.push_back(ch / c.channels);
  }
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

ClipTextConfig ClipTextConfig::from_transformers(const nlohmann::json& j, const std::string& subject) {
  if (!j.is_object()) fail(ErrorCode::InvalidFormat, subject, "config is not a JSON object");
  ClipTextConfig c;
  auto num = [&](const char* key, std::int64_t fallback) {
    if (!j.contains(key)) return fallback;
    if (!j[key].is_number_integer() || j[key].get<std::int64_t>() <= 0)
      fail(ErrorCode::InvalidFormat, subject, std::string("'") + key + "' must be a positive integer");
    return j[key].get<std::int64_t>();
  };
  c.vocab_size = num("vocab_size", c.vocab_size);
  c.max_positions = num("max_position_embeddings", c.max_positions);
  c.width = num("hidden_size", c.width);
  c.layers = num("num_hidden_layers", c.layers);
  c.heads = num("num_attention_heads", c.heads);
  c.ff_dim = num("intermediate_size", c.ff_dim);
  const auto act = j.value("hidden_act", std::string("quick_gelu"));
  if (act != "quick_gelu" && act != "gelu")
    fail(ErrorCode::Unsupported, subject, "text encoder activation '" + act + "'");
  c.quick_gelu = act == "quick_gelu";
  c.eps = j.value("layer_norm_eps", 1e-5);
  if (c.width % c.heads) fail(ErrorCode::InvalidFormat, subject, "hidden_size is not a multiple of the heads");
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
  ControlNetConfig c;
  // A ControlNetModel config has no up blocks; the encoder fields are the UNet's.
  nlohmann::json u = j;
  if (!u.contains("out_channels")) u["out_channels"] = j.value("in_channels", 4);
  c.unet = models::UNetConfig::from_diffusers(u, subject);
  c.hint_channels = j.value("conditioning_channels", std::int64_t{3});
  if (j.contains("conditioning_embedding_out_channels")) {
    c.hint_block_channels = j["conditioning_embedding_out_channels"].get<std::vector<std::int64_t>>();
    if (c.hint_block_channels.empty())
      fail(ErrorCode::InvalidFormat, subject, "'conditioning_embedding_out_channels' is empty");
  }
  c.global_average_pooling = j.value("global_pool_conditions", false);
  return c;
}

}  // namespace gen::control
