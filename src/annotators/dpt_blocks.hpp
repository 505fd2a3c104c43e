// gen — the pieces the DPT depth networks share, as models::Modules named as their checkpoints
// are: a ViT block (timm's / DINOv2's: norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2, and
// DINOv2's layer scales ls1 / ls2 when asked) and the DPT fusion stage (ResidualConvUnit and
// FeatureFusionBlock of MiDaS's blocks.py, which Depth Anything V2 reuses). Used by
// depth_anything.cpp and midas.cpp.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "models/layers.hpp"

namespace gen::annotators {

class LayerScale : public models::Module {
 public:
  explicit LayerScale(std::int64_t dim);
  at::Tensor operator()(const at::Tensor& x) const;

 private:
  at::Tensor& gamma_;
};

// Pre-norm transformer block (LayerNorm eps 1e-6, exact GELU, `heads` heads over [B, N, C]).
class VitBlock : public models::Module {
 public:
  VitBlock(std::int64_t dim, std::int64_t hidden, std::int64_t heads, bool layer_scale);
  at::Tensor operator()(const at::Tensor& x) const;

 private:
  std::int64_t heads_;
  models::LayerNorm *norm1_, *norm2_;
  models::Linear *qkv_, *proj_, *fc1_, *fc2_;
  LayerScale *ls1_ = nullptr, *ls2_ = nullptr;
};

// relu → conv1 → relu → conv2, plus the input (conv1, conv2: 3×3, f → f).
class ResidualConvUnit : public models::Module {
 public:
  explicit ResidualConvUnit(std::int64_t f);
  at::Tensor operator()(const at::Tensor& x) const;

 private:
  models::Conv2d *conv1_, *conv2_;
};

// (x + resConfUnit1(skip)) → resConfUnit2 → bilinear (align_corners) to `size` → out_conv (1×1).
class FeatureFusionBlock : public models::Module {
 public:
  explicit FeatureFusionBlock(std::int64_t f);
  // `skip` may be undefined (refinenet4); `size` empty means twice the size.
  at::Tensor operator()(const at::Tensor& x, const at::Tensor& skip, std::vector<std::int64_t> size) const;

 private:
  ResidualConvUnit *unit1_, *unit2_;
  models::Conv2d* out_;
};

}  // namespace gen::annotators
