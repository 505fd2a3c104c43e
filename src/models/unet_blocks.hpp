// gen — the building blocks of the LDM UNet (and of the ControlNet, which reuses
// them): ResBlock, SpatialTransformer, down/upsampling, timestep embedding.
// Child names follow the LDM checkpoint (openaimodel.py / attention.py).
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <vector>

#include "arch/configs.hpp"  // AttentionOptions
#include "models/layers.hpp"

namespace gen::models {

// Sinusoidal embedding of timesteps [B] → [B, dim] in f32 ([cos | sin] halves).
at::Tensor timestep_embedding(const at::Tensor& t, std::int64_t dim, double max_period = 10000.0);

// One layer inside an `input_blocks.N` / `middle_block` / `output_blocks.N` list.
class UNetLayer : public Module {
 public:
  virtual at::Tensor forward(const at::Tensor& x, const at::Tensor& emb, const at::Tensor& context,
                             const at::Tensor& skip_hint) = 0;
};

// An ordered list of layers named "0", "1", … run one after the other.
class UNetBlock : public Module {
 public:
  template <class L>
  L& push(std::unique_ptr<L> layer) {
    L& ref = add(std::to_string(layers_.size()), std::move(layer));
    layers_.push_back(&ref);
    return ref;
  }
  // `size_hint` (may be undefined) is the spatial size an upsampler should reach.
  at::Tensor forward(at::Tensor x, const at::Tensor& emb, const at::Tensor& context,
                     const at::Tensor& size_hint = at::Tensor());

 private:
  std::vector<UNetLayer*> layers_;
};

class ConvLayer : public UNetLayer {  // input_blocks.0.0: a 3×3 conv with its own weight/bias
 public:
  ConvLayer(std::int64_t in, std::int64_t out);
  at::Tensor forward(const at::Tensor& x, const at::Tensor&, const at::Tensor&, const at::Tensor&) override;

 private:
  at::Tensor& w_;
  at::Tensor& b_;
};

class ResBlock : public UNetLayer {
 public:
  ResBlock(std::int64_t in, std::int64_t emb_dim, std::int64_t out, std::int64_t groups);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& emb, const at::Tensor&, const at::Tensor&) override;

 private:
  GroupNorm& norm1_;
  Conv2d& conv1_;
  Linear& emb_proj_;
  GroupNorm& norm2_;
  Conv2d& conv2_;
  Conv2d* skip_ = nullptr;
};

class CrossAttention : public Module {
 public:
  CrossAttention(std::int64_t query_dim, std::int64_t context_dim, const AttentionOptions& opt);
  at::Tensor operator()(const at::Tensor& x, const at::Tensor& context) const;

 private:
  Linear &q_, &k_, &v_, &out_;
  AttentionOptions opt_;
};

class SpatialTransformer : public UNetLayer {
 public:
  SpatialTransformer(std::int64_t channels, std::int64_t context_dim, std::int64_t depth,
                     bool linear_projection, std::int64_t groups, const AttentionOptions& opt);
  at::Tensor forward(const at::Tensor& x, const at::Tensor&, const at::Tensor& context, const at::Tensor&) override;

 private:
  struct Block;
  GroupNorm& norm_;
  Module* proj_in_;
  Module* proj_out_;
  bool linear_;
  std::vector<Block*> blocks_;
};

class Downsample : public UNetLayer {
 public:
  explicit Downsample(std::int64_t channels);
  at::Tensor forward(const at::Tensor& x, const at::Tensor&, const at::Tensor&, const at::Tensor&) override;

 private:
  Conv2d& op_;
};

class Upsample : public UNetLayer {
 public:
  explicit Upsample(std::int64_t channels);
  // Nearest-neighbour ×2 (or to size_hint's H×W when given), then a 3×3 conv.
  at::Tensor forward(const at::Tensor& x, const at::Tensor&, const at::Tensor&, const at::Tensor& size_hint) override;

 private:
  Conv2d& conv_;
};

}  // namespace gen::models
