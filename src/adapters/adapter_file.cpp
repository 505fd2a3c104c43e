#include "adapters/adapter_file.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <regex>

#include <nlohmann/json.hpp>

#include "core/fail.hpp"
#include "core/json.hpp"
#include "tensor/tensor_file.hpp"

namespace gen::adapters {
namespace fs = std::filesystem;
namespace {

bool ends_with(const std::string& s, const std::string& t) {
  return s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
}
bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

// Tensor-name suffixes of each layout and the role each one is.
struct Suffix {
  const char* text;
  const char* role;
};
const Suffix kKohya[] = {
    {".lora_down.weight", "lora_down"}, {".lora_up.weight", "lora_up"}, {".lora_mid.weight", "lora_mid"},
    {".hada_w1_a", "hada_w1_a"},        {".hada_w1_b", "hada_w1_b"},    {".hada_w2_a", "hada_w2_a"},
    {".hada_w2_b", "hada_w2_b"},        {".hada_t1", "hada_t1"},        {".hada_t2", "hada_t2"},
    {".lokr_w1_a", "lokr_w1_a"},        {".lokr_w1_b", "lokr_w1_b"},    {".lokr_w2_a", "lokr_w2_a"},
    {".lokr_w2_b", "lokr_w2_b"},        {".lokr_w1", "lokr_w1"},        {".lokr_w2", "lokr_w2"},
    {".lokr_t2", "lokr_t2"},            {".dora_scale", "dora_scale"},  {".diff", "diff"},
    {".alpha", "alpha"},
};
const Suffix kPeft[] = {
    {".lora_A.weight", "lora_down"}, {".lora_B.weight", "lora_up"}, {".alpha", "alpha"},
    {".lora_magnitude_vector.weight", "magnitude"}, {".lora_magnitude_vector", "magnitude"},
};
const Suffix kOld[] = {{".down.weight", "lora_down"}, {".up.weight", "lora_up"}, {".alpha", "alpha"}};

AdapterLayout detect_layout(const std::map<std::string, at::Tensor>& tensors) {
  for (const auto& [name, t] : tensors) {
    if (name.find(".lora_A.") != std::string::npos || name.find(".lora_B.") != std::string::npos)
      return AdapterLayout::Peft;
    if (ends_with(name, ".lora_down.weight") || name.find(".hada_") != std::string::npos ||
        name.find(".lokr_") != std::string::npos)
      return AdapterLayout::Kohya;
    if ((name.find("_lora.") != std::string::npos || name.find(".lora.") != std::string::npos ||
         name.find(".lora_linear_layer.") != std::string::npos) &&
        (ends_with(name, ".down.weight") || ends_with(name, ".up.weight")))
      return AdapterLayout::DiffusersOld;
  }
  return AdapterLayout::Kohya;
}

std::string shape_text(const at::Tensor& t) {
  std::string out = "[";
  for (int64_t i = 0; i < t.dim(); ++i) out += (i ? ", " : "") + std::to_string(t.size(i));
  return out + "]";
}

// PEFT's lora_alpha for a module: alpha_pattern (a regular expression matched as
// `(.*\.)?(pattern)$`, as PEFT's get_pattern_key) or lora_alpha; use_rslora.
struct PeftConfig {
  std::optional<double> alpha;
  bool rs = false;
  std::vector<std::pair<std::string, double>> patterns;
};

PeftConfig peft_config(const nlohmann::json& j, const std::string& path) {
  PeftConfig c;
  if (!j.is_object()) return c;
  const auto a = j.find("lora_alpha");
  if (a != j.end() && a->is_number()) c.alpha = a->get<double>();
  const auto rs = j.find("use_rslora");
  if (rs != j.end() && rs->is_boolean()) c.rs = rs->get<bool>();
  const auto p = j.find("alpha_pattern");
  if (p != j.end() && p->is_object())
    for (const auto& [k, v] : p->items()) {
      if (!v.is_number()) fail(ErrorCode::InvalidFormat, path, "alpha_pattern '" + k + "' is not a number");
      c.patterns.emplace_back(k, v.get<double>());
    }
  return c;
}

std::optional<double> pattern_alpha(const PeftConfig& c, const std::string& module, const std::string& path) {
  for (const auto& [pattern, alpha] : c.patterns) {
    try {
      if (std::regex_search(module, std::regex("(^|\\.)(" + pattern + ")$"))) return alpha;
    } catch (const std::regex_error&) {
      fail(ErrorCode::InvalidFormat, path, "alpha_pattern '" + pattern + "' is not a regular expression");
    }
  }
  return c.alpha;
}

// The PEFT configuration per component prefix ("unet", "text_encoder", "" for a bare PEFT file):
// diffusers' `lora_adapter_metadata` ({"unet.lora_alpha": 8, ...}), or PEFT's
// adapter_config.json beside the file.
std::map<std::string, PeftConfig> peft_configs(const std::string& path,
                                               const std::map<std::string, std::string>& metadata) {
  std::map<std::string, PeftConfig> out;
  const auto it = metadata.find("lora_adapter_metadata");
  if (it != metadata.end()) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(it->second);
    } catch (const std::exception&) {
      fail(ErrorCode::InvalidFormat, path, "its lora_adapter_metadata is not JSON");
    }
    if (!j.is_object()) fail(ErrorCode::InvalidFormat, path, "its lora_adapter_metadata is not a JSON object");
    std::map<std::string, nlohmann::json> split;
    for (const auto& [k, v] : j.items()) {
      const auto dot = k.find('.');
      if (dot == std::string::npos) split[""][k] = v;
      else split[k.substr(0, dot)][k.substr(dot + 1)] = v;
    }
    for (const auto& [prefix, cfg] : split) out[prefix] = peft_config(cfg, path);
    return out;
  }
  const fs::path config = fs::path(path).parent_path() / "adapter_config.json";
  std::error_code ec;
  if (fs::is_regular_file(config, ec))
    out[""] = peft_config(core::read_json_file(config.string(), std::size_t{1} << 20, "PEFT adapter config"), path);
  return out;
}

void check_finite(const std::string& path, const std::string& name, const at::Tensor& t) {
  if (!at::isfinite(t).all().item<bool>())
    fail(ErrorCode::InvalidFormat, path, "tensor " + name + " holds NaN or infinite values");
}

void check_module(const std::string& path, AdapterModule& m) {
  const auto has = [&](const char* r) { return m.tensors.count(r) != 0; };
  const auto need = [&](const char* r, const char* with) {
    if (!has(r)) fail(ErrorCode::InvalidFormat, path, "module " + m.key + " has " + with + " but no " + r);
  };
  const auto dims = [&](const char* r, std::initializer_list<int64_t> ok) {
    if (!has(r)) return;
    const auto d = m.tensors.at(r).dim();
    for (auto k : ok)
      if (d == k) return;
    fail(ErrorCode::InvalidFormat, path, "module " + m.key + ": " + r + " has shape " + shape_text(m.tensors.at(r)));
  };
  const auto rank_pair = [&](const char* a, const char* b) {  // a: [out, r], b: [r, in]
    const auto& ta = m.tensors.at(a);
    const auto& tb = m.tensors.at(b);
    if (ta.size(1) != tb.size(0))
      fail(ErrorCode::InvalidFormat, path,
           "module " + m.key + ": the ranks of " + a + " " + shape_text(ta) + " and " + b + " " + shape_text(tb) +
               " disagree");
    return tb.size(0);
  };
  int kinds = 0;
  if (has("lora_down") || has("lora_up")) {
    need("lora_down", "lora_up");
    need("lora_up", "lora_down");
    dims("lora_down", {2, 4});
    dims("lora_up", {2, 4});
    dims("lora_mid", {4});
    m.kind = AdapterKind::LoRA;
    m.rank = m.tensors.at("lora_down").size(0);
    if (m.tensors.at("lora_up").size(1) != m.rank)
      fail(ErrorCode::InvalidFormat, path,
           "module " + m.key + ": lora_up " + shape_text(m.tensors.at("lora_up")) + " does not take lora_down's rank " +
               std::to_string(m.rank));
    if (has("lora_mid") && (m.tensors.at("lora_mid").size(0) != m.rank || m.tensors.at("lora_mid").size(1) != m.rank))
      fail(ErrorCode::InvalidFormat, path, "module " + m.key + ": lora_mid " + shape_text(m.tensors.at("lora_mid")) +
                                               " is not rank × rank");
    ++kinds;
  }
  if (has("hada_w1_a") || has("hada_w1_b") || has("hada_w2_a") || has("hada_w2_b")) {
    for (const char* r : {"hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b"}) need(r, "LoHa factors");
    if (has("hada_t1") != has("hada_t2")) fail(ErrorCode::InvalidFormat, path, "module " + m.key + " has one of hada_t1 / hada_t2 only");
    for (const char* r : {"hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b"}) dims(r, {2});
    dims("hada_t1", {4});
    dims("hada_t2", {4});
    m.kind = AdapterKind::LoHa;
    if (has("hada_t1")) {  // Tucker: w?_a [r, out], w?_b [r, in], t [r, r, k, k]
      m.rank = m.tensors.at("hada_w1_b").size(0);
      for (const char* r : {"hada_w1_a", "hada_w2_a", "hada_w2_b"})
        if (m.tensors.at(r).size(0) != m.rank)
          fail(ErrorCode::InvalidFormat, path, "module " + m.key + ": the ranks of its LoHa factors disagree");
    } else {
      m.rank = rank_pair("hada_w1_a", "hada_w1_b");
      if (rank_pair("hada_w2_a", "hada_w2_b") != m.rank)
        fail(ErrorCode::InvalidFormat, path, "module " + m.key + ": the ranks of its LoHa factors disagree");
    }
    ++kinds;
  }
  if (has("lokr_w1") || has("lokr_w1_a") || has("lokr_w2") || has("lokr_w2_a") || has("lokr_w1_b") ||
      has("lokr_w2_b")) {
    if (!has("lokr_w1")) {
      need("lokr_w1_a", "LoKr factors");
      need("lokr_w1_b", "lokr_w1_a");
    }
    if (!has("lokr_w2")) {
      need("lokr_w2_a", "LoKr factors");
      need("lokr_w2_b", "lokr_w2_a");
    }
    m.kind = AdapterKind::LoKr;
    dims("lokr_w1", {2});
    dims("lokr_w1_a", {2});
    dims("lokr_w1_b", {2});
    dims("lokr_w2", {2, 4});
    dims("lokr_w2_a", {2});
    dims("lokr_w2_b", {2, 4});
    dims("lokr_t2", {4});
    // A1111's rule: the rank is w1_b's, else w2_b's; none when both factors are full.
    if (has("lokr_w1_b")) m.rank = rank_pair("lokr_w1_a", "lokr_w1_b");
    if (has("lokr_w2_b")) {
      const auto r2 = has("lokr_t2") ? m.tensors.at("lokr_w2_b").size(0) : rank_pair("lokr_w2_a", "lokr_w2_b");
      if (m.rank == 0) m.rank = r2;
    }
    ++kinds;
  }
  if (has("diff")) {
    m.kind = AdapterKind::Full;
    m.rank = 0;
    ++kinds;
  }
  if (kinds == 0) {
    if (has("dora_scale") || has("magnitude"))
      fail(ErrorCode::InvalidFormat, path, "module " + m.key + " has a DoRA magnitude but no weight change");
    fail(ErrorCode::InvalidFormat, path, "module " + m.key + " has an alpha but no weight change");
  }
  if (kinds > 1) fail(ErrorCode::InvalidFormat, path, "module " + m.key + " mixes several adapter kinds");
  if (has("magnitude")) {  // PEFT's DoRA: one magnitude per output feature of a LoRA module
    if (m.kind != AdapterKind::LoRA || has("dora_scale"))
      fail(ErrorCode::InvalidFormat, path, "module " + m.key + " has a PEFT DoRA magnitude without lora_A / lora_B");
    const auto& mag = m.tensors.at("magnitude");
    if (mag.numel() != m.tensors.at("lora_up").size(0))
      fail(ErrorCode::InvalidFormat, path,
           "module " + m.key + ": lora_magnitude_vector " + shape_text(mag) + " does not have one value per output (" +
               std::to_string(m.tensors.at("lora_up").size(0)) + ")");
  }
}

}  // namespace

const char* layout_name(AdapterLayout layout) {
  switch (layout) {
    case AdapterLayout::Kohya: return "kohya";
    case AdapterLayout::Peft: return "peft";
    case AdapterLayout::DiffusersOld: return "diffusers-attn-procs";
  }
  return "?";
}

const char* kind_name(AdapterKind kind) {
  switch (kind) {
    case AdapterKind::LoRA: return "LoRA";
    case AdapterKind::LoHa: return "LoHa";
    case AdapterKind::LoKr: return "LoKr";
    case AdapterKind::Full: return "full";
  }
  return "?";
}

double AdapterModule::scale() const {
  if (!alpha || rank <= 0) return 1.0;
  return rs_lora ? *alpha / std::sqrt(static_cast<double>(rank)) : *alpha / static_cast<double>(rank);
}

AdapterFile parse_adapter_tensors(const std::string& path, const std::map<std::string, at::Tensor>& tensors,
                                  const std::map<std::string, std::string>& metadata) {
  AdapterFile file;
  file.path = path;
  file.metadata = metadata;
  file.layout = detect_layout(tensors);
  const Suffix* begin = kKohya;
  const Suffix* end = kKohya + std::size(kKohya);
  if (file.layout == AdapterLayout::Peft) begin = kPeft, end = kPeft + std::size(kPeft);
  if (file.layout == AdapterLayout::DiffusersOld) begin = kOld, end = kOld + std::size(kOld);
  std::map<std::string, std::size_t> where;
  for (const auto& [name, t] : tensors) {
    file.tensor_bytes += t.nbytes();
    const Suffix* s = begin;
    for (; s != end; ++s)
      if (ends_with(name, s->text) && name.size() > std::strlen(s->text)) break;
    if (s == end) {
      file.unknown.push_back(name);
      continue;
    }
    const std::string key = name.substr(0, name.size() - std::strlen(s->text));
    auto [it, fresh] = where.emplace(key, file.modules.size());
    if (fresh) file.modules.push_back(AdapterModule{key});
    AdapterModule& m = file.modules[it->second];
    if (!t.is_floating_point() && std::string(s->role) != "alpha")
      fail(ErrorCode::InvalidFormat, path, "tensor " + name + " is not floating point");
    check_finite(path, name, t.to(at::kFloat));
    if (std::string(s->role) == "alpha") {
      if (t.numel() != 1) fail(ErrorCode::InvalidFormat, path, "alpha " + name + " is not one number but " + shape_text(t));
      m.alpha = t.to(at::kDouble).reshape({}).item<double>();
      continue;
    }
    m.tensors[s->role] = t.to(at::kFloat).contiguous();
  }
  if (file.layout == AdapterLayout::Peft) {
    const auto configs = peft_configs(path, metadata);
    for (auto& m : file.modules) {
      if (m.alpha) continue;
      std::string prefix, module = m.key;
      if (starts_with(module, "base_model.model.")) module = module.substr(17);
      const auto dot = module.find('.');
      if (dot != std::string::npos && configs.count(module.substr(0, dot))) {
        prefix = module.substr(0, dot);
        module = module.substr(dot + 1);
      }
      const auto c = configs.find(prefix);
      if (c == configs.end()) continue;  // diffusers: no alpha means alpha = rank
      m.alpha = pattern_alpha(c->second, module, path);
      m.rs_lora = c->second.rs;
    }
  }
  for (auto& m : file.modules) check_module(path, m);
  if (file.modules.empty())
    fail(ErrorCode::InvalidFormat, path,
         "holds no adapter module (no lora_down/lora_up, lora_A/lora_B, hada_*, lokr_* tensors) — is it a LoRA?");
  return file;
}

AdapterFile read_adapter_file(const std::string& path_in) {
  std::string path = path_in;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {  // a PEFT / diffusers adapter folder
    for (const char* name : {"adapter_model.safetensors", "pytorch_lora_weights.safetensors"})
      if (fs::is_regular_file(fs::path(path) / name, ec)) {
        path = (fs::path(path) / name).string();
        break;
      }
    if (fs::is_directory(path, ec))
      fail(ErrorCode::NotFound, path_in, "a folder without adapter_model.safetensors or pytorch_lora_weights.safetensors");
  }
  auto file = read_tensor_file(path);
  return parse_adapter_tensors(path, file.tensors, file.metadata);
}

}  // namespace gen::adapters
