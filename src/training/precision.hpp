// gen — how a training forward runs (docs/training.md): in float32, or under libtorch's CPU
// autocast to bfloat16 (--mixed-precision bf16) as accelerate's mixed precision runs diffusers'
// train_controlnet.py: the master weights, gradients and AdamW state stay float32, the forward's
// matrix products and convolutions run in bfloat16 (autocast's op lists decide which ops), the
// loss is computed in float32 and backward runs outside autocast. With gradient checkpointing
// (models/checkpoint.hpp) the blocks of the UNet and ControlNet keep only their inputs.
#pragma once

#include <string>

#include "models/checkpoint.hpp"

namespace gen::training {

enum class Precision { Fp32, Bf16 };

// "no" / "fp32" → Fp32, "bf16" → Bf16. "fp16" is refused (Unsupported: training runs on the
// CPU, whose autocast computes in bfloat16; fp16 autocast needs a GPU, and loss scaling with it);
// anything else InvalidArgument naming --mixed-precision.
Precision precision_of(const std::string& name);
const char* name_of(Precision p);

// While alive: CPU autocast to bfloat16 (Bf16; nothing for Fp32), and gradient checkpointing
// when `checkpointing` is set. The forward of a micro-batch runs inside one.
class ForwardScope {
 public:
  ForwardScope(Precision precision, bool checkpointing);
  ~ForwardScope();
  ForwardScope(const ForwardScope&) = delete;
  ForwardScope& operator=(const ForwardScope&) = delete;

 private:
  bool autocast_ = false;
  bool was_enabled_ = false;
  int was_dtype_ = 0;
  models::GradientCheckpointing checkpoint_;
};

}  // namespace gen::training
