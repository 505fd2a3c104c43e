// gen — the layers the annotator networks need beyond models/layers.hpp: a convolution with
// groups and dilation whose weight may be transformed before use (PiDiNet's pixel-difference
// convolutions), a transposed convolution, eval-mode BatchNorm, and TensorFlow "SAME" padding.
// Parameter names: weight, bias (BatchNorm: also running_mean, running_var).
#pragma once

#include <ATen/core/Tensor.h>

#include "models/module.hpp"

namespace gen::annotators {

class Conv : public models::Module {
 public:
  Conv(std::int64_t in, std::int64_t out, std::int64_t kernel, bool bias, std::int64_t groups = 1);
  // conv2d(x, w or `weight` when given, bias, stride, padding, dilation, groups)
  at::Tensor operator()(const at::Tensor& x, std::int64_t stride = 1, std::int64_t padding = 0,
                        std::int64_t dilation = 1, const at::Tensor& weight = {}) const;
  const at::Tensor& weight() const { return w_; }
  std::int64_t groups;

 private:
  at::Tensor& w_;
  at::Tensor* b_ = nullptr;
};

// torch.nn.ConvTranspose2d(in, out, kernel, stride, padding, output_padding): weight [in, out, k, k].
class ConvTranspose : public models::Module {
 public:
  ConvTranspose(std::int64_t in, std::int64_t out, std::int64_t kernel, std::int64_t stride, std::int64_t padding,
                std::int64_t output_padding);
  at::Tensor operator()(const at::Tensor& x) const;

 private:
  at::Tensor& w_;
  at::Tensor& b_;
  std::int64_t stride_, padding_, output_padding_;
};

// nn.BatchNorm2d in eval mode (running statistics; eps 1e-5 as torch's default, 1e-3 in the
// TF-ported EfficientNets). num_batches_tracked is not read.
class BatchNorm : public models::Module {
 public:
  explicit BatchNorm(std::int64_t c, double eps = 1e-5);
  at::Tensor operator()(const at::Tensor& x) const;

 private:
  at::Tensor &w_, &b_, &mean_, &var_;
  double eps_;
};

// TensorFlow "SAME" padding (timm's pad_same, gen-efficientnet's Conv2dSame): total
// max((⌈i/s⌉ − 1)·s + k − i, 0) per side pair, the odd pixel after; `value` fills it (−∞ for
// max pooling). `x` unchanged when nothing is added.
at::Tensor pad_same(const at::Tensor& x, std::int64_t k, std::int64_t s, double value = 0.0);

}  // namespace gen::annotators
