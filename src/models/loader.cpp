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

}  // namespace

void load_weights(Module& module, const SafetensorsCheckpoint& ckpt, const LoadOptions& opt,
                  const std::string& subject) {
  std::vector<std::string> missing, misshaped, wrong_dtype, unexpected;
  std::set<std::string> used;
  module.visit([&](const std::string& name, Module::Param& p) {
    const std::string key = opt.prefix + (opt.rename ? opt.rename(name) : name);
    if (!ckpt.contains(key)) {
      missing.push_back(key);
      return;
    }
    used.insert(key);
    const auto& info = ckpt.info(key);
    if (!floating(info.dtype)) {
      wrong_dtype.push_back(key + " (" + dtype_name(info.dtype) + ")");
      return;
    }
    at::ScalarType target = opt.dtype;
    if (opt.keep_16bit && opt.dtype == at::kFloat && (info.dtype == DType::F16 || info.dtype == DType::BF16))
      target = info.dtype == DType::F16 ? at::kHalf : at::kBFloat16;
    if (info.shape != p.shape && opt.reshape_trailing_ones && info.shape.size() < p.shape.size() &&
        std::equal(info.shape.begin(), info.shape.end(), p.shape.begin()) &&
        std::all_of(p.shape.begin() + info.shape.size(), p.shape.end(), [](std::int64_t d) { return d == 1; })) {
      p.value = load_tensor(ckpt, key, target, opt.device).view(p.shape);
      return;
    }
    if (info.shape != p.shape) {
      misshaped.push_back(key + " " + shape_str(info.shape) + " (expected " + shape_str(p.shape) + ")");
      return;
    }
    p.value = load_tensor(ckpt, key, target, opt.device);
  });
  if (opt.strict_unexpected) {
    for (const auto& key : ckpt.names())
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

}  // namespace gen::models
