// gen — custom CUDA kernels. Each has an ATen reference (tests/unit/test_kernels.cpp)
// and checks device, dtype, shape and contiguity before launching on the current stream.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <cstdlib>
#include <string>

namespace gen::kernels {

// True when this build carries the CUDA kernels (GEN_CUDA=ON and nvcc found).
bool available() noexcept;

// available(), unless the environment sets GEN_NO_KERNELS (to a value other than 0): the
// ATen paths then run instead, for side-by-side measurements (docs/performance.md).
inline bool enabled() noexcept {
  static const bool on = [] {
    const char* v = std::getenv("GEN_NO_KERNELS");
    return available() && !(v && *v && std::string(v) != "0");
  }();
  return on;
}

// GroupNorm over a 4-D channels-last CUDA tensor (N, C, H, W) in f16/bf16/f32,
// with per-channel affine weight and bias (f32 or the input's dtype), optionally
// followed by SiLU. Statistics are accumulated in f32. Returns a channels-last tensor.
// Throws c10::Error (from TORCH_CHECK) when the inputs do not fit those rules.
at::Tensor group_norm_silu(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                           int64_t groups, double eps, bool silu);

// Peak bytes held by libtorch's CUDA caching allocator on the current device since the last
// reset; -1 without CUDA.
std::int64_t cuda_peak_allocated() noexcept;
void cuda_reset_peak() noexcept;
// Waits for all work on the current device (no-op without CUDA).
void cuda_synchronize();

}  // namespace gen::kernels
