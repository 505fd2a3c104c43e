#include "annotators/dpt_blocks.hpp"

#include <ATen/ATen.h>

#include <memory>

namespace gen::annotators {

using models::Container;
using models::Conv2d;
using models::LayerNorm;
using models::Linear;

LayerScale::LayerScale(std::int64_t dim) : gamma_(param("gamma", {dim})) {}

at::Tensor LayerScale::operator()(const at::Tensor& x) const { return x * models::as_operand(gamma_, x); }

VitBlock::VitBlock(std::int64_t dim, std::int64_t hidden, std::int64_t heads, bool layer_scale) : heads_(heads) {
  norm1_ = &add("norm1", std::make_unique<LayerNorm>(dim, 1e-6));
  auto& attn = add("attn", std::make_unique<Container>());
  qkv_ = &attn.add("qkv", std::make_unique<Linear>(dim, 3 * dim));
  proj_ = &attn.add("proj", std::make_unique<Linear>(dim, dim));
  if (layer_scale) ls1_ = &add("ls1", std::make_unique<LayerScale>(dim));
  norm2_ = &add("norm2", std::make_unique<LayerNorm>(dim, 1e-6));
  auto& mlp = add("mlp", std::make_unique<Container>());
  fc1_ = &mlp.add("fc1", std::make_unique<Linear>(dim, hidden));
  fc2_ = &mlp.add("fc2", std::make_unique<Linear>(hidden, dim));
  if (layer_scale) ls2_ = &add("ls2", std::make_unique<LayerScale>(dim));
}

at::Tensor VitBlock::operator()(const at::Tensor& x) const {
  const auto b = x.size(0), n = x.size(1), c = x.size(2);
  auto qkv = (*qkv_)((*norm1_)(x)).view({b, n, 3, heads_, c / heads_}).permute({2, 0, 3, 1, 4});
  auto a = at::scaled_dot_product_attention(qkv[0], qkv[1], qkv[2]);
  a = (*proj_)(a.transpose(1, 2).reshape({b, n, c}));
  auto h = x + (ls1_ ? (*ls1_)(a) : a);
  auto m = (*fc2_)(at::gelu((*fc1_)((*norm2_)(h))));
  return h + (ls2_ ? (*ls2_)(m) : m);
}

ResidualConvUnit::ResidualConvUnit(std::int64_t f) {
  conv1_ = &add("conv1", std::make_unique<Conv2d>(f, f, 3, 1, 1));
  conv2_ = &add("conv2", std::make_unique<Conv2d>(f, f, 3, 1, 1));
}

at::Tensor ResidualConvUnit::operator()(const at::Tensor& x) const {
  return (*conv2_)(at::relu((*conv1_)(at::relu(x)))) + x;
}

FeatureFusionBlock::FeatureFusionBlock(std::int64_t f) {
  unit1_ = &add("resConfUnit1", std::make_unique<ResidualConvUnit>(f));
  unit2_ = &add("resConfUnit2", std::make_unique<ResidualConvUnit>(f));
  out_ = &add("out_conv", std::make_unique<Conv2d>(f, f, 1));
}

at::Tensor FeatureFusionBlock::operator()(const at::Tensor& x, const at::Tensor& skip,
                                          std::vector<std::int64_t> size) const {
  auto h = skip.defined() ? x + (*unit1_)(skip) : x;
  h = (*unit2_)(h);
  if (size.empty()) size = {h.size(2) * 2, h.size(3) * 2};
  return (*out_)(at::upsample_bilinear2d(h, size, true));
}

}  // namespace gen::annotators
