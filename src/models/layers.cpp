#include "models/layers.hpp"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include "kernels.hpp"
#include "models/flops.hpp"

namespace gen::models {

Linear::Linear(std::int64_t in, std::int64_t out, bool bias)
    : in_features(in), out_features(out), w_(param("weight", {out, in})) {
  if (bias) b_ = &param("bias", {out});
}

at::Tensor Linear::operator()(const at::Tensor& x) const {
  flops::linear(x, w_);
  auto y = b_ ? at::linear(x, as_operand(w_, x), as_operand(*b_, x)) : at::linear(x, as_operand(w_, x));
  for (const auto& b : bypass) {
    const auto d = b.delta.defined()
                       ? at::linear(x, as_operand(b.delta, x))
                       : at::linear(at::linear(x, as_operand(b.down, x)), as_operand(b.up, x));
    y = y + d * b.scale;
  }
  return y;
}

Conv2d::Conv2d(std::int64_t in, std::int64_t out, std::int64_t kernel, std::int64_t stride,
               std::int64_t padding, bool bias)
    : in_channels(in),
      out_channels(out),
      w_(param("weight", {out, in, kernel, kernel})),
      stride_(stride),
      padding_(padding) {
  if (bias) b_ = &param("bias", {out});
}

at::Tensor Conv2d::operator()(const at::Tensor& x) const {
  auto y = at::conv2d(x, as_operand(w_, x), b_ ? as_operand(*b_, x) : at::Tensor(), {stride_, stride_},
                      {padding_, padding_});
  flops::conv(w_, y);
  for (const auto& b : bypass) {
    at::Tensor d;
    if (b.delta.defined()) {
      d = at::conv2d(x, as_operand(b.delta, x), {}, {stride_, stride_}, {padding_, padding_});
    } else if (b.mid.defined()) {  // Tucker: 1×1 down, the kernel in mid, 1×1 up
      d = at::conv2d(at::conv2d(x, as_operand(b.down, x)), as_operand(b.mid, x), {}, {stride_, stride_},
                     {padding_, padding_});
      d = at::conv2d(d, as_operand(b.up, x));
    } else {
      d = at::conv2d(at::conv2d(x, as_operand(b.down, x), {}, {stride_, stride_}, {padding_, padding_}),
                     as_operand(b.up, x));
    }
    y = y + d * b.scale;
  }
  return y;
}

GroupNorm::GroupNorm(std::int64_t groups, std::int64_t channels, double eps)
    : w_(param("weight", {channels})), b_(param("bias", {channels})), groups_(groups), eps_(eps) {}

at::Tensor GroupNorm::operator()(const at::Tensor& x) const {
  return at::group_norm(x, groups_, as_operand(w_, x), as_operand(b_, x), eps_);
}

at::Tensor GroupNorm::silu(const at::Tensor& x) const {
  // The fused kernel has no backward: not while autograd records (ControlNet training).
  if (x.is_cuda() && kernels::enabled() && x.dim() == 4 &&
      x.is_contiguous(at::MemoryFormat::ChannelsLast) &&
      !(c10::GradMode::is_enabled() && (x.requires_grad() || w_.requires_grad())))
    return kernels::group_norm_silu(x, as_operand(w_, x), as_operand(b_, x), groups_, eps_, true);
  return at::silu(at::group_norm(x, groups_, as_operand(w_, x), as_operand(b_, x), eps_));
}

std::pair<at::Tensor, at::Tensor> GroupNorm::fold(const at::Tensor& mean, const at::Tensor& rstd,
                                                  const at::Tensor& like) const {
  const auto b = mean.size(0), c = w_.size(0), per_group = c / groups_;
  auto opts = like.options().dtype(at::kFloat);
  auto r = rstd.to(opts).repeat_interleave(per_group, 1);
  auto m = mean.to(opts).repeat_interleave(per_group, 1);
  auto scale = r * as_operand(w_, like).to(at::kFloat).unsqueeze(0);
  auto shift = as_operand(b_, like).to(at::kFloat).unsqueeze(0) - m * scale;
  return {scale.view({b, c, 1, 1}), shift.view({b, c, 1, 1})};
}

at::Tensor GroupNorm::silu_with(const at::Tensor& x, const at::Tensor& scale, const at::Tensor& shift) {
  auto xf = x.scalar_type() == at::kFloat ? x : x.to(at::kFloat);
  auto y = at::addcmul(shift, xf, scale);
  at::silu_(y);
  return y.scalar_type() == x.scalar_type() ? y : y.to(x.scalar_type());
}

LayerNorm::LayerNorm(std::int64_t dim, double eps)
    : w_(param("weight", {dim})), b_(param("bias", {dim})), dim_(dim), eps_(eps) {}

at::Tensor LayerNorm::operator()(const at::Tensor& x) const {
  return at::layer_norm(x, {dim_}, as_operand(w_, x), as_operand(b_, x), eps_);
}

Embedding::Embedding(std::int64_t count, std::int64_t dim) : w_(param("weight", {count, dim})) {}

at::Tensor Embedding::operator()(const at::Tensor& ids) const { return at::embedding(on_device_of(w_, ids), ids); }

}  // namespace gen::models
