#include "upscalers/esrgan_arch.hpp"

#include <algorithm>
#include <cstdlib>
#include <sstream>

#include "core/fail.hpp"

namespace gen::upscalers {
namespace {

bool starts(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

// The names as spandrel's canonicalize_state_dict leaves them: inside the first wrapper present
// (flattened: "params_ema.<name>"), then without a prefix every name shares. The torch.save reader
// unwraps state_dict / model_state_dict / module / model / params itself (io/torch_checkpoint.hpp).
std::string wrapper_prefix(const ShapeMap& s) {
  std::string prefix;
  for (const char* w : {"model_state_dict.", "state_dict.", "params_ema.", "params-ema.", "params.", "net."}) {
    const auto it = s.lower_bound(w);
    if (it != s.end() && starts(it->first, w)) {
      prefix = w;
      break;
    }
  }
  for (const char* common : {"module.", "netG."}) {
    const std::string p = prefix + common;
    bool all = false;
    for (const auto& [name, shape] : s) {
      if (!starts(name, prefix)) continue;
      all = starts(name, p);
      if (!all) break;
    }
    if (all) prefix = p;
  }
  return prefix;
}

ShapeMap strip(const ShapeMap& s, const std::string& prefix) {
  ShapeMap out;
  for (const auto& [name, shape] : s)
    if (starts(name, prefix)) out.emplace(name.substr(prefix.size()), shape);
  return out;
}

bool has(const ShapeMap& s, const std::string& name) { return s.count(name) != 0; }

std::optional<EsrganLayout> layout_of(const ShapeMap& s) {
  if (has(s, "model.0.weight") && (has(s, "model.1.sub.0.RDB1.conv1.0.weight") || has(s, "model.1.sub.0.RDB1.conv1x1.weight")))
    return EsrganLayout::Old;
  if (has(s, "conv_first.weight") && has(s, "body.0.rdb1.conv1.weight") && has(s, "conv_body.weight") &&
      has(s, "conv_last.weight"))
    return EsrganLayout::BasicSR;
  if (has(s, "conv_first.weight") && has(s, "RRDB_trunk.0.RDB1.conv1.weight") && has(s, "trunk_conv.weight") &&
      has(s, "conv_last.weight"))
    return EsrganLayout::Bsrgan;
  return std::nullopt;
}

// The decimal number at the start of `s` (or -1).
long leading_number(const std::string& s) {
  if (s.empty() || s[0] < '0' || s[0] > '9') return -1;
  return std::strtol(s.c_str(), nullptr, 10);
}

// The highest `<index>` of names `prefix<index>.…` (spandrel's get_seq_len − 1), or -1.
long max_index(const ShapeMap& s, const std::string& prefix) {
  long m = -1;
  for (auto it = s.lower_bound(prefix); it != s.end() && starts(it->first, prefix); ++it)
    m = std::max(m, leading_number(it->first.substr(prefix.size())));
  return m;
}

// ONE rename table: an old-layout parameter's place in the net and its name in each layout.
// {i}: block, {k}: dense block 1..3, {j}: conv 1..5, {u}: upsampling conv 1..n.
struct Rename {
  const char* part;
  const char* old_name;
  const char* basicsr;
  const char* bsrgan;
};
constexpr Rename kRenames[] = {
    {"first", "model.0", "conv_first", "conv_first"},
    {"dense", "model.1.sub.{i}.RDB{k}.conv{j}.0", "body.{i}.rdb{k}.conv{j}", "RRDB_trunk.{i}.RDB{k}.conv{j}"},
    {"trunk", "model.1.sub.{nb}", "conv_body", "trunk_conv"},
    {"up", "model.{3u}", "conv_up{u}", "upconv{u}"},
    {"hr", "model.{3n+2}", "conv_hr", "HRconv"},
    {"last", "model.{3n+4}", "conv_last", "conv_last"},
};

std::string fill(std::string t, const std::map<std::string, std::string>& vars) {
  for (const auto& [k, v] : vars)
    for (std::size_t at; (at = t.find(k)) != std::string::npos;) t.replace(at, k.size(), v);
  return t;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> parts(1);
  for (char c : s) {
    if (c == '.') parts.emplace_back();
    else parts.back() += c;
  }
  return parts;
}

std::string shape_text(const std::vector<std::int64_t>& s) {
  std::string t = "[";
  for (std::size_t i = 0; i < s.size(); ++i) t += (i ? ", " : "") + std::to_string(s[i]);
  return t + "]";
}

}  // namespace

const char* layout_id(EsrganLayout l) noexcept {
  switch (l) {
    case EsrganLayout::Old: return "esrgan-old";
    case EsrganLayout::BasicSR: return "basicsr";
    case EsrganLayout::Bsrgan: return "bsrgan";
  }
  return "?";
}

std::string EsrganConfig::summary() const {
  std::ostringstream o;
  o << (plus ? "ESRGAN+ " : "ESRGAN ") << scale() << "x upscaler (RRDBNet, " << nf << " features, " << nb
    << " blocks";
  if (shuffle) o << ", Real-ESRGAN pixel-unshuffle " << shuffle << " of the input";
  o << "; " << (layout == EsrganLayout::Old ? "ESRGAN" : layout == EsrganLayout::BasicSR ? "BasicSR / Real-ESRGAN"
                                                                                             : "BSRGAN / RealSR")
    << " names)";
  return o.str();
}

bool looks_like_esrgan(const ShapeMap& tensors) { return layout_of(strip(tensors, wrapper_prefix(tensors))).has_value(); }

std::string esrgan_name(const EsrganConfig& c, const std::string& old_name) {
  if (c.layout == EsrganLayout::Old) return old_name;
  // Split "model.<...>.<weight|bias>" into the module path and the parameter.
  const auto dot = old_name.rfind('.');
  const std::string module = old_name.substr(0, dot), param = old_name.substr(dot);
  const auto p = split(module);
  std::map<std::string, std::string> vars;
  const Rename* row = nullptr;
  if (module == "model.0") {
    row = &kRenames[0];
  } else if (p.size() == 7 && p[1] == "1" && p[2] == "sub" && p[6] == "0") {
    row = &kRenames[1];
    vars = {{"{i}", p[3]}, {"{k}", p[4].substr(3)}, {"{j}", p[5].substr(4)}};
  } else if (p.size() == 4 && p[1] == "1" && p[2] == "sub") {
    row = &kRenames[2];
  } else if (p.size() == 2) {
    const long n = leading_number(p[1]);
    if (n == 3 * c.upsamples + 2) row = &kRenames[4];
    else if (n == 3 * c.upsamples + 4) row = &kRenames[5];
    else if (n > 0 && n % 3 == 0) {
      row = &kRenames[3];
      vars = {{"{u}", std::to_string(n / 3)}};
    }
  }
  if (!row) return old_name;  // no counterpart (ESRGAN+ conv1x1): reported missing by the loader
  return fill(c.layout == EsrganLayout::BasicSR ? row->basicsr : row->bsrgan, vars) + param;
}

EsrganConfig infer_esrgan(const ShapeMap& all, const std::string& subject) {
  EsrganConfig c;
  c.prefix = wrapper_prefix(all);
  const ShapeMap s = strip(all, c.prefix);
  const auto layout = layout_of(s);
  if (!layout)
    fail(ErrorCode::ModelMismatch, subject,
         "not an ESRGAN-family upscaler (RRDBNet): none of model.0.weight + model.1.sub.0.RDB1.conv1.0.weight, "
         "conv_first.weight + body.0.rdb1.conv1.weight, conv_first.weight + RRDB_trunk.0.RDB1.conv1.weight" +
             std::string(s.empty() ? " (no tensors)" : ""));
  c.layout = *layout;
  const bool old = c.layout == EsrganLayout::Old;
  auto need = [&](const std::string& old_name, std::size_t rank) -> const std::vector<std::int64_t>& {
    const std::string name = esrgan_name(c, old_name);
    const auto it = s.find(name);
    if (it == s.end())
      fail(ErrorCode::ModelMismatch, subject, "an ESRGAN-family (" + std::string(layout_id(c.layout)) +
                                                  ") file without " + c.prefix + name);
    if (it->second.size() != rank)
      fail(ErrorCode::ModelMismatch, subject, c.prefix + name + " has shape " + shape_text(it->second) +
                                                  " (expected " + std::to_string(rank) + " dimensions)");
    return it->second;
  };
  // Blocks and upsampling convs, as spandrel counts them.
  const std::string block_prefix = old ? "model.1.sub." : c.layout == EsrganLayout::BasicSR ? "body." : "RRDB_trunk.";
  if (old) {
    const long seq = max_index(s, "model.") + 1;  // spandrel: get_seq_len(state, "model")
    if (seq < 5 || (seq - 5) % 3 != 0)
      fail(ErrorCode::ModelMismatch, subject,
           "an ESRGAN file whose model.N sequence has " + std::to_string(seq) +
               " entries: expected 5 + 3 per ×2 upsampling stage");
    c.upsamples = static_cast<int>((seq - 5) / 3);
    c.nb = max_index(s, "model.1.sub.");  // the last entry is the trunk conv
  } else {
    long ups = 0;
    for (const auto& [name, shape] : s) {
      const char* up = c.layout == EsrganLayout::BasicSR ? "conv_up" : "upconv";
      if (starts(name, up)) ups = std::max(ups, leading_number(name.substr(std::string(up).size())));
    }
    c.upsamples = static_cast<int>(ups);
    c.nb = max_index(s, block_prefix) + 1;
  }
  if (c.upsamples > 4)
    fail(ErrorCode::Unsupported, subject, "an ESRGAN net with " + std::to_string(c.upsamples) +
                                              " ×2 upsampling stages (gen takes up to 16x)");
  if (c.nb < 1) fail(ErrorCode::ModelMismatch, subject, "an ESRGAN file without RRDB blocks");
  const auto& first = need("model.0.weight", 4);
  const auto& last = need("model." + std::to_string(3 * c.upsamples + 4) + ".weight", 4);
  const auto& dense = need("model.1.sub.0.RDB1.conv1.0.weight", 4);
  c.nf = first[0];
  c.in_nc = first[1];
  c.out_nc = last[0];
  c.gc = dense[0];
  c.plus = std::any_of(s.begin(), s.end(), [](const auto& kv) { return kv.first.find(".conv1x1.") != std::string::npos; });
  if (c.nf < 1 || c.in_nc < 1 || c.out_nc < 1 || c.gc < 1)
    fail(ErrorCode::ModelMismatch, subject, "an ESRGAN file with empty convolutions");
  if (c.in_nc == 4 * c.out_nc) c.shuffle = 2;
  else if (c.in_nc == 16 * c.out_nc) c.shuffle = 4;
  if (c.shuffle && c.net_scale() < c.shuffle)
    fail(ErrorCode::Unsupported, subject, "a pixel-unshuffle ESRGAN net that scales down");
  // Every conv gen will build must be there: the loader lists any name missing or mis-shaped.
  return c;
}

}  // namespace gen::upscalers
