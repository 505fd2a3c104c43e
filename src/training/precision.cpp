#include "training/precision.hpp"

#include <ATen/autocast_mode.h>

#include "core/fail.hpp"

namespace gen::training {

Precision precision_of(const std::string& name) {
  if (name == "no" || name == "fp32" || name.empty()) return Precision::Fp32;
  if (name == "bf16") return Precision::Bf16;
  if (name == "fp16")
    fail(ErrorCode::Unsupported, "--mixed-precision",
         "fp16 needs a GPU (fp16 autocast with loss scaling); training runs on the CPU, whose autocast "
         "computes in bfloat16: use bf16, or no");
  fail(ErrorCode::InvalidArgument, "--mixed-precision", "'" + name + "': no, bf16");
}

const char* name_of(Precision p) { return p == Precision::Bf16 ? "bf16" : "no"; }

ForwardScope::ForwardScope(Precision precision, bool checkpointing) : checkpoint_(checkpointing) {
  if (precision != Precision::Bf16) return;
  // As torch.autocast("cpu", dtype=torch.bfloat16).__enter__.
  autocast_ = true;
  was_enabled_ = at::autocast::is_autocast_enabled(at::kCPU);
  was_dtype_ = static_cast<int>(at::autocast::get_autocast_dtype(at::kCPU));
  at::autocast::set_autocast_enabled(at::kCPU, true);
  at::autocast::set_autocast_dtype(at::kCPU, at::kBFloat16);
  at::autocast::increment_nesting();
}

ForwardScope::~ForwardScope() {
  if (!autocast_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_autocast_enabled(at::kCPU, was_enabled_);
  at::autocast::set_autocast_dtype(at::kCPU, static_cast<at::ScalarType>(was_dtype_));
}

}  // namespace gen::training
