// The LDM .yaml beside a single file (what is read: ldm_config.hpp).
#include "io/ldm_config.hpp"

#include <filesystem>
#include <system_error>

#include "core/fail.hpp"
#include "core/json.hpp"
#include "io/yaml_reader.hpp"

namespace gen::io {
namespace {

using nlohmann::json;

const json* at(const json& j, std::initializer_list<const char*> path) {
  const json* p = &j;
  for (const char* k : path) {
    if (!p->is_object() || !p->contains(k)) return nullptr;
    p = &(*p)[k];
  }
  return p;
}

std::int64_t positive_int(const json* v, const std::string& path, const char* key) {
  if (!v || v->is_null()) return 0;
  if (!v->is_number_integer() || v->get<std::int64_t>() <= 0 || v->get<std::int64_t>() > (1 << 20))
    fail(ErrorCode::InvalidFormat, path, std::string(key) + " must be a positive integer, not " + core::json_excerpt(*v));
  return v->get<std::int64_t>();
}

std::string text_of(const json* v, const std::string& path, const char* key) {
  if (!v || v->is_null()) return "";
  if (!v->is_string()) fail(ErrorCode::InvalidFormat, path, std::string(key) + " must be a string, not " + core::json_excerpt(*v));
  return v->get<std::string>();
}

}  // namespace

std::string config_beside(const std::string& checkpoint) {
  std::filesystem::path p(checkpoint);
  p.replace_extension(".yaml");
  std::error_code ec;
  return std::filesystem::is_regular_file(p, ec) ? p.string() : std::string();
}

LdmConfig read_ldm_config(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) fail(ErrorCode::NotFound, path, "no such model config");
  const json y = read_yaml_file(path);
  LdmConfig c;
  c.path = path;
  const json* target = at(y, {"model", "target"});
  if (target && target->is_string() && target->get<std::string>().rfind("sgm.", 0) == 0) {
    c.sgm = true;
    return c;
  }
  const json* params = at(y, {"model", "params"});
  if (!params || !params->is_object())
    fail(ErrorCode::InvalidFormat, path, "no model.params: not an LDM model config (as v1-inference.yaml)");
  const auto param = text_of(at(*params, {"parameterization"}), path, "model.params.parameterization");
  if (param == "v") c.prediction_type = "v_prediction";
  else if (param == "eps") c.prediction_type = "epsilon";
  else if (!param.empty())
    fail(ErrorCode::Unsupported, path, "parameterization '" + param + "' (gen runs \"eps\" and \"v\")");
  if (const json* s = at(*params, {"scale_factor"}); s && !s->is_null()) {
    if (!s->is_number() || !(s->get<double>() > 0) || s->get<double>() > 1e6)
      fail(ErrorCode::InvalidFormat, path, "model.params.scale_factor must be a positive number, not " + core::json_excerpt(*s));
    c.scale_factor = s->get<double>();
  }
  if (const json* u = at(*params, {"unet_config", "params"})) {
    c.hints.unet_heads = positive_int(at(*u, {"num_heads"}), path, "num_heads");
    c.hints.unet_head_channels = positive_int(at(*u, {"num_head_channels"}), path, "num_head_channels");
    // LDM writes num_heads: -1 beside num_head_channels: 64 (and the reverse): -1 means "not this one".
    if (const json* h = at(*u, {"num_heads"}); h && h->is_number_integer() && h->get<std::int64_t>() == -1)
      c.hints.unet_heads = 0;
    c.context_dim = positive_int(at(*u, {"context_dim"}), path, "context_dim");
    c.in_channels = positive_int(at(*u, {"in_channels"}), path, "in_channels");
    c.model_channels = positive_int(at(*u, {"model_channels"}), path, "model_channels");
    if (const json* l = at(*u, {"use_linear_in_transformer"}); l && l->is_boolean()) c.linear_projection = l->get<bool>();
  }
  if (const json* cond = at(*params, {"cond_stage_config", "params"})) {
    const auto layer = text_of(at(*cond, {"layer"}), path, "cond_stage_config.params.layer");
    if (layer == "last") c.clip_skip = 0;
    else if (layer == "penultimate") c.clip_skip = 1;
    else if (!layer.empty())
      fail(ErrorCode::Unsupported, path, "cond_stage_config layer '" + layer + "' (gen reads \"last\" and \"penultimate\")");
  }
  if (const json* g = at(y, {"gen"})) {
    if (!g->is_object()) fail(ErrorCode::InvalidFormat, path, "gen: must be a mapping");
    static const char* known[] = {"text_heads", "unet_norm_groups", "vae_norm_groups"};
    for (const auto& [k, v] : g->items()) {
      bool ok = false;
      for (const char* n : known) ok = ok || k == n;
      if (!ok) fail(ErrorCode::InvalidFormat, path, "gen." + k + " is not a known key (text_heads, unet_norm_groups, vae_norm_groups)");
    }
    c.hints.text_heads = positive_int(at(*g, {"text_heads"}), path, "gen.text_heads");
    c.hints.unet_norm_groups = positive_int(at(*g, {"unet_norm_groups"}), path, "gen.unet_norm_groups");
    c.hints.vae_norm_groups = positive_int(at(*g, {"vae_norm_groups"}), path, "gen.vae_norm_groups");
  }
  return c;
}

models::InferenceHints merged_hints(const models::InferenceHints& hints, const LdmConfig& config) {
  models::InferenceHints h = hints;
  const auto& c = config.hints;
  if (h.unet_heads == 0 && h.unet_head_channels == 0) {
    h.unet_heads = c.unet_heads;
    h.unet_head_channels = c.unet_head_channels;
  }
  if (h.unet_norm_groups == 0) h.unet_norm_groups = c.unet_norm_groups;
  if (h.vae_norm_groups == 0) h.vae_norm_groups = c.vae_norm_groups;
  if (h.text_heads == 0) h.text_heads = c.text_heads;
  return h;
}

void check_ldm_config(const LdmConfig& config, const models::UNetConfig& unet, const std::string& checkpoint) {
  auto differ = [&](const char* key, std::int64_t said, std::int64_t has) {
    if (said && said != has)
      fail(ErrorCode::ModelMismatch, config.path,
           std::string(key) + " " + std::to_string(said) + " but " + checkpoint + " has " + std::to_string(has) +
               ": this config is not the checkpoint's");
  };
  differ("context_dim", config.context_dim, unet.context_dim);
  differ("in_channels", config.in_channels, unet.in_channels);
  differ("model_channels", config.model_channels, unet.model_channels);
  if (config.linear_projection && *config.linear_projection != unet.use_linear_in_transformer)
    fail(ErrorCode::ModelMismatch, config.path,
         std::string("use_linear_in_transformer ") + (*config.linear_projection ? "true" : "false") + " but " +
             checkpoint + "'s transformers use " + (unet.use_linear_in_transformer ? "linear" : "1×1 conv") +
             " projections: this config is not the checkpoint's");
}

}  // namespace gen::io
