// gen — parameterised layers with LDM parameter names (weight, bias).
#pragma once

#include <ATen/core/Tensor.h>

#include <utility>
#include <vector>

#include "models/module.hpp"

namespace gen::models {

// A weight change applied on the fly (adapters, src/adapters/), added to a layer's output:
// scale · up(mid(down(x))) for a low-rank pair (down carries the layer's kernel, stride and
// padding unless a Tucker `mid` does), else scale · layer(x) with `delta` as its weight.
struct Bypass {
  at::Tensor down, mid, up, delta;
  double scale = 1.0;
};

class Linear : public Module {
 public:
  Linear(std::int64_t in, std::int64_t out, bool bias = true);
  at::Tensor operator()(const at::Tensor& x) const;
  at::Tensor& weight() { return w_; }
  std::int64_t in_features, out_features;
  std::vector<Bypass> bypass;  // applied in order after the layer (usually none)

 private:
  at::Tensor& w_;
  at::Tensor* b_ = nullptr;
};

class Conv2d : public Module {
 public:
  Conv2d(std::int64_t in, std::int64_t out, std::int64_t kernel, std::int64_t stride = 1,
         std::int64_t padding = 0, bool bias = true);
  at::Tensor operator()(const at::Tensor& x) const;
  at::Tensor& weight() { return w_; }
  std::int64_t in_channels, out_channels;
  std::vector<Bypass> bypass;  // applied in order after the layer (usually none)

 private:
  at::Tensor& w_;
  at::Tensor* b_ = nullptr;
  std::int64_t stride_, padding_;
};

class GroupNorm : public Module {
 public:
  GroupNorm(std::int64_t groups, std::int64_t channels, double eps);
  at::Tensor operator()(const at::Tensor& x) const;
  // GroupNorm followed by SiLU (fused on CUDA when the kernel applies).
  at::Tensor silu(const at::Tensor& x) const;
  // GroupNorm + SiLU with statistics taken elsewhere (a tile of a larger image). fold() turns
  // the mean and 1/sqrt(var + eps) per (sample, group), [B, groups] (f32 or f64), into f32
  // scale = γ·rstd and shift = β − mean·scale per (sample, channel), [B, C, 1, 1], on
  // `like`'s device; silu_with() applies them in f32 (like ATen's group_norm for half
  // inputs) and returns x's dtype.
  std::pair<at::Tensor, at::Tensor> fold(const at::Tensor& mean, const at::Tensor& rstd, const at::Tensor& like) const;
  static at::Tensor silu_with(const at::Tensor& x, const at::Tensor& scale, const at::Tensor& shift);
  std::int64_t groups() const { return groups_; }
  double eps() const { return eps_; }

 private:
  at::Tensor& w_;
  at::Tensor& b_;
  std::int64_t groups_;
  double eps_;
};

class LayerNorm : public Module {
 public:
  LayerNorm(std::int64_t dim, double eps);
  at::Tensor operator()(const at::Tensor& x) const;

 private:
  at::Tensor& w_;
  at::Tensor& b_;
  std::int64_t dim_;
  double eps_;
};

class Embedding : public Module {
 public:
  Embedding(std::int64_t count, std::int64_t dim);
  at::Tensor operator()(const at::Tensor& ids) const;
  const at::Tensor& weight() const { return w_; }

 private:
  at::Tensor& w_;
};

// A bare parameter as a module (e.g. CLIP's `position_embedding.weight` or
// OpenCLIP's `positional_embedding`).
class Parameter : public Module {
 public:
  Parameter(const std::string& name, std::vector<std::int64_t> shape) : v_(param(name, std::move(shape))) {}
  const at::Tensor& value() const { return v_; }

 private:
  at::Tensor& v_;
};

}  // namespace gen::models
