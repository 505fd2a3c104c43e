// gen — the ControlNet: a trainable copy of the UNet's encoder (built by the same
// UNetEncoder code), a hint encoder, and zero-convolutions that turn each encoder
// output into a residual for the locked UNet. LDM names (cldm.py): time_embed,
// input_blocks, middle_block, input_hint_block, zero_convs, middle_block_out.
// A UniControl (config.unicontrol_tasks > 0) has the parts of control/unicontrol.hpp in place
// of input_hint_block and zero_convs; its calls take the task's modulation. A ControlNet Union
// (config.union_types > 0) has the parts of control/controlnet_union.hpp besides them: its
// hint encoder embeds each condition's image, its calls take the conditions' types and scales.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

#include "arch/configs.hpp"  // ControlNetConfig
#include "control/controlnet_union.hpp"
#include "control/unicontrol.hpp"
#include "models/unet.hpp"

namespace gen::control {

class ControlNet : public models::Module {
 public:
  explicit ControlNet(const ControlNetConfig& config);
  const ControlNetConfig& config() const { return cfg_; }
  // The hint image [B, 3, 8h, 8w] in [0, 1] → its embedding [B, C, h, w]. Depends
  // only on the image: compute it once per control image, not on every step.
  // `task`: a UniControl's task (required for one, refused for a plain ControlNet).
  at::Tensor embed_hint(const at::Tensor& hint, const TaskModulation* task = nullptr) const;
  // Residuals for the UNet's skips and middle block, before any scaling. `added`: an SDXL
  // ControlNet's added condition [B, adm_in_channels] (models::added_condition: pooled text +
  // time ids, the same vector the SDXL UNet takes; required for one, refused otherwise).
  // `uni`: a Union's call (required for one, refused otherwise); `hint_embedding` then holds
  // its conditions' embeddings [K, C, h, w], in the order of uni->types.
  models::ControlResiduals forward(const at::Tensor& x, const at::Tensor& timesteps,
                                   const at::Tensor& context, const at::Tensor& hint_embedding,
                                   const TaskModulation* task = nullptr, const at::Tensor& added = at::Tensor(),
                                   const UnionCall* uni = nullptr) const;
  bool is_union() const { return union_ != nullptr; }
  // The control types a Union file has (0 for another ControlNet).
  std::int64_t union_types() const { return cfg_.union_types; }
  bool is_unicontrol() const { return uni_ != nullptr; }
  UniControlParts* unicontrol() { return uni_.get(); }
  const UniControlParts* unicontrol() const { return uni_.get(); }
  // UniControl: the HyperNet's scales for the task vector `feature` (the text encoder's
  // output at position 0, unicontrol_task_feature) and the task(s) `mix`.
  TaskModulation task_modulation(const at::Tensor& feature, const UniControlMix& mix) const;

 private:
  ControlNetConfig cfg_;
  models::UNetEncoder encoder_;
  std::vector<models::Conv2d*> hint_;
  std::vector<models::Conv2d*> zero_convs_;
  models::Conv2d* middle_out_ = nullptr;
  std::unique_ptr<UniControlParts> uni_;
  std::unique_ptr<UnionParts> union_;
};

}  // namespace gen::control
