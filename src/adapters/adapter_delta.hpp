// gen — the weight change ΔW of one adapter module, and the weight with it applied, computed as
// the reference implementations compute them (kohya-ss / A1111 for LoRA and LoCon, lycoris-lora
// for LoHa, LoKr and DoRA; docs/adapters-formats.md gives each formula). float32 throughout.
#pragma once

#include <ATen/core/Tensor.h>

#include "adapters/adapter_file.hpp"

namespace gen::adapters {

// scale · ΔW of `m`, reshaped to `target` (the layer's weight shape). Throws gen::Error
// (ModelMismatch) naming both shapes when ΔW cannot have that shape.
at::Tensor delta_weight(const AdapterModule& m, at::IntArrayRef target);

// The float32 `weight` with m·ΔW added; for a LyCORIS DoRA module (dora_scale) the weight
// decomposed as LyCORIS merges it at `multiplier`; for a PEFT DoRA module (magnitude) as PEFT
// merges it, the norm taken over `base` + m·ΔW — the weight without any adapter, as PEFT's
// forward takes it when several adapters share a layer (undefined: `weight`).
at::Tensor merged_weight(const AdapterModule& m, const at::Tensor& weight, double multiplier,
                         const at::Tensor& base = at::Tensor());

}  // namespace gen::adapters
