// gen — counting floating-point operations as the models run: convolutions, matrix products
// and attention, with the conventions of torch.utils.flop_counter (2 per multiply-add; bias,
// norms and elementwise work not counted), so a count can be checked against PyTorch's.
// The counter is per thread and costs a few integer operations per layer call.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace gen::models::flops {

// The running total of this thread (never reset; take differences).
double total() noexcept;

// Adds work done without the layers being called (a replayed CUDA graph of counted work).
void add(double flops) noexcept;

// out = conv(x, w): 2 × out elements × (in channels per group × kernel area).
void conv(const at::Tensor& w, const at::Tensor& out) noexcept;
// out = x · wᵀ: 2 × rows × in × out.
void linear(const at::Tensor& x, const at::Tensor& w) noexcept;
// softmax(q kᵀ) v: 2 × batch·heads × Lq × Lk × (d + dv).
void attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) noexcept;

}  // namespace gen::models::flops
