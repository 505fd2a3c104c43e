// gen — the ControlNet: a trainable copy of the UNet's encoder (built by the same
// UNetEncoder code), a hint encoder, and zero-convolutions that turn each encoder
// output into a residual for the locked UNet. LDM names (cldm.py): time_embed,
// input_blocks, middle_block, input_hint_block, zero_convs, middle_block_out.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "arch/configs.hpp"  // ControlNetConfig
#include "models/unet.hpp"

namespace gen::control {

class ControlNet : public models::Module {
 public:
  explicit ControlNet(const ControlNetConfig& config);
  const ControlNetConfig& config() const { return cfg_; }
  // The hint image [B, 3, 8h, 8w] in [0, 1] → its embedding [B, C, h, w]. Depends
  // only on the image: compute it once per control image, not on every step.
  at::Tensor embed_hint(const at::Tensor& hint) const;
  // Residuals for the UNet's skips and middle block, before any scaling.
  models::ControlResiduals forward(const at::Tensor& x, const at::Tensor& timesteps,
                                   const at::Tensor& context, const at::Tensor& hint_embedding) const;

 private:
  ControlNetConfig cfg_;
  models::UNetEncoder encoder_;
  std::vector<models::Conv2d*> hint_;
  std::vector<models::Conv2d*> zero_convs_;
  models::Conv2d* middle_out_ = nullptr;
};

}  // namespace gen::control
