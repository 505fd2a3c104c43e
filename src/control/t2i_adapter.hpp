// gen — the T2I-Adapter (TencentARC; diffusers' T2IAdapter): a small net that turns a control image
// into one feature map per UNet level, added inside the UNet's encoder (models::UNetEncoder::down).
// It lives beside the ControlNet because it is the same stage of the data flow: a control image in,
// what steers the locked UNet out (src/adapters/ is LoRA and textual inversion: weight changes).
// Names and kinds: control/t2i_adapter_arch.hpp. The adapter depends only on its image: run it
// once per control image, not per step (pipeline/generate.cpp).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <memory>
#include <string>
#include <vector>

#include "control/t2i_adapter_arch.hpp"
#include "models/layers.hpp"

namespace gen::control {

class T2IAdapter : public models::Module {
 public:
  explicit T2IAdapter(const T2IAdapterConfig& config);
  const T2IAdapterConfig& config() const { return cfg_; }
  // x [B, in_channels, H, W] in [0, 1] (H, W multiples of the unshuffle factor) → one feature per level.
  std::vector<at::Tensor> forward(const at::Tensor& x) const;

 private:
  struct Block {  // full: a ResnetBlock; light: a ResnetBlock_light inside an extractor
    models::Conv2d* in_conv = nullptr;  // full: where the channels change
    models::Conv2d* block1 = nullptr;
    models::Conv2d* block2 = nullptr;
  };
  struct Level {
    bool pool = false;
    models::Conv2d* in_conv = nullptr;   // light
    std::vector<Block> blocks;
    models::Conv2d* out_conv = nullptr;  // light
  };
  T2IAdapterConfig cfg_;
  models::Conv2d* conv_in_ = nullptr;  // full
  std::vector<Level> levels_;
};

struct T2IAdapterFile {
  T2IAdapterConfig config;
  std::string weights;  // the weights file (a diffusers folder's diffusion_pytorch_model.*)
};

// What `path` (a file, or a diffusers T2IAdapter folder) holds: NotFound, InvalidFormat, and
// ModelMismatch / Unsupported saying what the file is when it is no T2I-Adapter gen runs.
T2IAdapterFile describe_t2i_adapter(const std::string& path);

std::unique_ptr<T2IAdapter> load_t2i_adapter(const std::string& path, at::ScalarType dtype, c10::Device device);

}  // namespace gen::control
