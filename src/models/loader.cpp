#include "models/loader.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <set>
#include <sstream>
#include <vector>

#include "core/fail.hpp"
#include "tensor/from_safetensors.hpp"

namespace gen::models {
namespace {

std::string shape_str(const std::vector<std::int64_t>& s) {
  std::ostringstream o;
  o << '[';
  for (std::size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << ']';
  return o.str();
}

void list(std::ostringstream& o, const char* what, const std::vector<std::string>& items) {
  if (items.empty()) return;
  o << "; " << items.size() << ' ' << what << ": ";
  const std::size_t shown = std::min<std::size_t>(items.size(), 8);
  for (std::size_t i = 0; i < shown; ++i) o << (i ? ", " : "") << items[i];
  if (items.size() > shown) o << ", …";
}

// Model weights are real numbers: an integer, boolean or complex tensor where a
// parameter is expected is a wrong file, not something to convert silently.
bool floating(DType d) {
  switch (d) {
    case DType::F16: case DType::BF16: case DType::F32: case DType::F64:
    case DType::F8_E4M3: case DType::F8_E5M2: case DType::F8_E4M3FNUZ: case DType::F8_E5M2FNUZ:
      return true;
    default:
      return false;
  }
}

// The checks of load_weights over any source of named tensors: `Source` says whether it holds a
// name, its dtype and shape, loads it to a dtype and device and lists its names.
template <class Source>
void load_from(Module& module, const Source& src, const LoadOptions& opt, const std::string& subject) {
  std::vector<std::string> missing, misshaped, wrong_dtype, unexpected;
  std::set<std::string> used;
  module.visit([&](const std::string& name, Module::Param& p) {
    const std::string key = opt.prefix + (opt.rename ? opt.rename(name) : name);
    if (!src.contains(key)) {
      missing.push_back(key);
      return;
    }
    used.insert(key);
    const DType stored = src.dtype(key);
    const std::vector<std::int64_t> shape = src.shape(key);
    if (!floating(stored)) {
      wrong_dtype.push_back(key + " (" + dtype_name(stored) + ")");
      return;
    }
    at::ScalarType target = opt.dtype;
    if (opt.keep_16bit && opt.dtype == at::kFloat && (stored == DType::F16 || stored == DType::BF16))
      target = stored == DType::F16 ? at::kHalf : at::kBFloat16;
    if (shape != p.shape && opt.reshape_trailing_ones && shape.size() < p.shape.size() &&
        std::equal(shape.begin(), shape.end(), p.shape.begin()) &&
        std::all_of(p.shape.begin() + shape.size(), p.shape.end(), [](std::int64_t d) { return d == 1; })) {
      p.value = src.load(key, target, opt.device).view(p.shape);
      return;
    }
    if (shape != p.shape) {
      misshaped.push_back(key + " " + shape_str(shape) + " (expected " + shape_str(p.shape) + ")");
      return;
    }
    p.value = src.load(key, target, opt.device);
  });
  if (opt.strict_unexpected) {
    for (const auto& key : src.names())
      if (key.compare(0, opt.prefix.size(), opt.prefix) == 0 && !used.count(key) &&
          !(opt.ignore && opt.ignore(key)))
        unexpected.push_back(key);
  }
  if (missing.empty() && misshaped.empty() && wrong_dtype.empty() && unexpected.empty()) return;
  std::ostringstream o;
  o << "tensors do not match the model";
  list(o, "missing", missing);
  list(o, "mis-shaped", misshaped);
  list(o, "not floating point (weights must be F16, BF16, F32, F64 or F8)", wrong_dtype);
  list(o, "unexpected", unexpected);
  fail(ErrorCode::ModelMismatch, subject, o.str());
}

struct CheckpointSource {
  const SafetensorsCheckpoint& c;
  bool contains(const std::string& k) const { return c.contains(k); }
  DType dtype(const std::string& k) const { return c.info(k).dtype; }
  std::vector<std::int64_t> shape(const std::string& k) const { return c.info(k).shape; }
  at::Tensor load(const std::string& k, at::ScalarType t, c10::Device d) const { return load_tensor(c, k, t, d); }
  std::vector<std::string> names() const { return c.names(); }
};

DType dtype_of(at::ScalarType t) {
  switch (t) {
    case at::kHalf: return DType::F16;
    case at::kBFloat16: return DType::BF16;
    case at::kFloat: return DType::F32;
    case at::kDouble: return DType::F64;
    case at::kFloat8_e4m3fn: return DType::F8_E4M3;
    case at::kFloat8_e5m2: return DType::F8_E5M2;
    case at::kComplexFloat: return DType::C64;
    case at::kBool: return DType::BOOL;
    case at::kByte: return DType::U8;
    case at::kChar: return DType::I8;
    case at::kShort: return DType::I16;
    case at::kInt: return DType::I32;
    default: return DType::I64;
  }
}

struct MapSource {
  const std::map<std::string, at::Tensor>& m;
  bool contains(const std::string& k) const { return m.count(k) != 0; }
  DType dtype(const std::string& k) const { return dtype_of(m.at(k).scalar_type()); }
  std::vector<std::int64_t> shape(const std::string& k) const { return m.at(k).sizes().vec(); }
  at::Tensor load(const std::string& k, at::ScalarType t, c10::Device d) const {
    return m.at(k).to(d, t, /*non_blocking=*/false, /*copy=*/true).contiguous();
  }
  std::vector<std::string> names() const {
    std::vector<std::string> v;
    for (const auto& kv : m) v.push_back(kv.first);
    return v;
  }
};

}  // namespace

void load_weights(Module& module, const SafetensorsCheckpoint& ckpt, const LoadOptions& opt,
                  const std::string& subject) {
  load_from(module, CheckpointSource{ckpt}, opt, subject);
}

void load_weights(Module& module, const std::map<std::string, at::Tensor>& tensors, const LoadOptions& opt,
                  const std::string& subject) {
  load_from(module, MapSource{tensors}, opt, subject);
}

}  // namespace gen::models
