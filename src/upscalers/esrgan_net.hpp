// gen — the RRDBNet of ESRGAN-family upscalers (ESRGAN, ESRGAN+, Real-ESRGAN incl. its x2 / x1
// pixel-unshuffle models, BSRGAN, community 4x models), built from a file's shapes
// (upscalers/esrgan_arch.hpp) with the old ESRGAN names as module names; the BasicSR and BSRGAN
// names are read through esrgan_arch's one rename table. The forward pass is spandrel 0.4.2's
// (spandrel/architectures/ESRGAN/__arch/RRDB.py); tests/unit/test_upscalers.cpp checks it
// against spandrel on random weights in every layout.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <list>
#include <memory>
#include <utility>
#include <string>
#include <vector>

#include "models/layers.hpp"
#include "models/module.hpp"
#include "upscalers/esrgan_arch.hpp"

namespace gen::upscalers {

class EsrganNet : public models::Module {
 public:
  explicit EsrganNet(const EsrganConfig& config);
  // [B, image_channels, H, W] in 0..1 (as the file's training data: A1111 passes BGR) →
  // [B, out_nc, H·scale, W·scale], unclamped. Runs in x's dtype and device.
  at::Tensor forward(const at::Tensor& x) const;
  const EsrganConfig& config() const { return cfg_; }

 private:
  struct Dense {
    models::Conv2d* conv[5] = {};
    models::Conv2d* conv1x1 = nullptr;  // ESRGAN+
  };
  at::Tensor dense(const Dense& d, const at::Tensor& x) const;

  EsrganConfig cfg_;
  models::Conv2d* first_ = nullptr;
  std::vector<Dense> dense_;  // 3 per block
  models::Conv2d* trunk_ = nullptr;
  std::vector<models::Conv2d*> ups_;
  models::Conv2d* hr_ = nullptr;
  models::Conv2d* last_ = nullptr;
};

// An upscaler file loaded: .safetensors by the safetensors reader, .pth / .pt by the
// non-executing pickle reader. Errors name the file: NotFound / Io, InvalidFormat (corrupt,
// truncated, not an ESRGAN-family net: the message says what the file looks like instead),
// UnsafeContent, Unsupported, ModelMismatch (missing / mis-shaped / unexpected tensors).
struct UpscalerModel {
  std::string path;
  std::unique_ptr<EsrganNet> net;
};
UpscalerModel load_upscaler(const std::string& path, at::ScalarType dtype, c10::Device device);

// `name` as a file, else NAME, NAME.pth, NAME.safetensors or NAME.pt in `dir` (then its
// subfolders, the first in sorted order): A1111's models/ESRGAN folder. NotFound naming `subject`.
std::string find_upscaler_file(const std::string& name, const std::string& dir, const std::string& subject);

// The nets an engine keeps (the last `capacity` used), by file identity (path, size, mtime),
// device and dtype. Not thread-safe (one per engine, used under its lock).
class UpscalerCache {
 public:
  explicit UpscalerCache(std::size_t capacity = 1) : capacity_(capacity) {}
  const EsrganNet& get(const std::string& path, at::ScalarType dtype, c10::Device device);
  void clear() { items_.clear(); }

 private:
  std::size_t capacity_;
  std::list<std::pair<std::string, std::shared_ptr<UpscalerModel>>> items_;  // most recently used first
};

}  // namespace gen::upscalers
