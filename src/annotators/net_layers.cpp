#include "annotators/net_layers.hpp"

#include <ATen/ATen.h>

#include <algorithm>

namespace gen::annotators {

Conv::Conv(std::int64_t in, std::int64_t out, std::int64_t kernel, bool bias, std::int64_t groups_)
    : groups(groups_), w_(param("weight", {out, in / groups_, kernel, kernel})) {
  if (bias) b_ = &param("bias", {out});
}

at::Tensor Conv::operator()(const at::Tensor& x, std::int64_t stride, std::int64_t padding, std::int64_t dilation,
                            const at::Tensor& weight) const {
  const at::Tensor& w = weight.defined() ? weight : w_;
  return at::conv2d(x, models::as_operand(w, x), b_ ? models::as_operand(*b_, x) : at::Tensor(), {stride, stride},
                    {padding, padding}, {dilation, dilation}, groups);
}

ConvTranspose::ConvTranspose(std::int64_t in, std::int64_t out, std::int64_t kernel, std::int64_t stride,
                             std::int64_t padding, std::int64_t output_padding)
    : w_(param("weight", {in, out, kernel, kernel})),
      b_(param("bias", {out})),
      stride_(stride),
      padding_(padding),
      output_padding_(output_padding) {}

at::Tensor ConvTranspose::operator()(const at::Tensor& x) const {
  return at::conv_transpose2d(x, models::as_operand(w_, x), models::as_operand(b_, x), {stride_, stride_},
                              {padding_, padding_}, {output_padding_, output_padding_});
}

BatchNorm::BatchNorm(std::int64_t c, double eps)
    : w_(param("weight", {c})), b_(param("bias", {c})), mean_(param("running_mean", {c})), var_(param("running_var", {c})),
      eps_(eps) {}

at::Tensor BatchNorm::operator()(const at::Tensor& x) const {
  return at::batch_norm(x, models::as_operand(w_, x), models::as_operand(b_, x), models::as_operand(mean_, x),
                        models::as_operand(var_, x), false, 0.1, eps_, true);
}

at::Tensor pad_same(const at::Tensor& x, std::int64_t k, std::int64_t s, double value) {
  auto total = [&](std::int64_t i) { return std::max<std::int64_t>(((i + s - 1) / s - 1) * s + k - i, 0); };
  const auto ph = total(x.size(2)), pw = total(x.size(3));
  if (ph == 0 && pw == 0) return x;
  return at::constant_pad_nd(x, {pw / 2, pw - pw / 2, ph / 2, ph - ph / 2}, value);
}

}  // namespace gen::annotators
