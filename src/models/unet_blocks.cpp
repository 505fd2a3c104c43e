#include "models/unet_blocks.hpp"
#include "models/flops.hpp"
#include "models/stop.hpp"

#include <ATen/ATen.h>

#include <cmath>

namespace gen::models {

at::Tensor timestep_embedding(const at::Tensor& t, std::int64_t dim, double max_period) {
  const std::int64_t half = dim / 2;
  auto freqs = at::exp(-std::log(max_period) *
                       at::arange(half, at::TensorOptions().dtype(at::kFloat).device(t.device())) /
                       static_cast<double>(half));
  auto args = t.to(at::kFloat).unsqueeze(1) * freqs.unsqueeze(0);
  auto emb = at::cat({at::cos(args), at::sin(args)}, 1);
  if (dim % 2) emb = at::constant_pad_nd(emb, {0, 1});
  return emb;
}

at::Tensor UNetBlock::forward(at::Tensor x, const at::Tensor& emb, const at::Tensor& context,
                              const at::Tensor& size_hint) {
  for (auto* layer : layers_) {
    check_stop();  // SIGINT / SIGTERM between layers, not only between model calls (models/stop.hpp)
    x = layer->forward(x, emb, context, size_hint);
  }
  return x;
}

ConvLayer::ConvLayer(std::int64_t in, std::int64_t out)
    : w_(param("weight", {out, in, 3, 3})), b_(param("bias", {out})) {}

at::Tensor ConvLayer::forward(const at::Tensor& x, const at::Tensor&, const at::Tensor&, const at::Tensor&) {
  auto y = at::conv2d(x, as_operand(w_, x), as_operand(b_, x), {1, 1}, {1, 1});
  flops::conv(w_, y);
  return y;
}

ResBlock::ResBlock(std::int64_t in, std::int64_t emb_dim, std::int64_t out, std::int64_t groups)
    : norm1_(add("in_layers.0", std::make_unique<GroupNorm>(groups, in, 1e-5))),
      conv1_(add("in_layers.2", std::make_unique<Conv2d>(in, out, 3, 1, 1))),
      emb_proj_(add("emb_layers.1", std::make_unique<Linear>(emb_dim, out))),
      norm2_(add("out_layers.0", std::make_unique<GroupNorm>(groups, out, 1e-5))),
      conv2_(add("out_layers.3", std::make_unique<Conv2d>(out, out, 3, 1, 1))) {
  if (in != out) skip_ = &add("skip_connection", std::make_unique<Conv2d>(in, out, 1));
}

at::Tensor ResBlock::forward(const at::Tensor& x, const at::Tensor& emb, const at::Tensor&, const at::Tensor&) {
  auto h = conv1_(norm1_.silu(x));
  auto e = emb_proj_(at::silu(emb)).to(h.scalar_type());
  h = h + e.unsqueeze(-1).unsqueeze(-1);
  h = conv2_(norm2_.silu(h));
  return (skip_ ? (*skip_)(x) : x) + h;
}

CrossAttention::CrossAttention(std::int64_t query_dim, std::int64_t context_dim,
                               const AttentionOptions& opt)
    : q_(add("to_q", std::make_unique<Linear>(query_dim, opt.heads * opt.head_dim, false))),
      k_(add("to_k", std::make_unique<Linear>(context_dim, opt.heads * opt.head_dim, false))),
      v_(add("to_v", std::make_unique<Linear>(context_dim, opt.heads * opt.head_dim, false))),
      out_(add("to_out.0", std::make_unique<Linear>(opt.heads * opt.head_dim, query_dim))),
      opt_(opt) {}

at::Tensor CrossAttention::operator()(const at::Tensor& x, const at::Tensor& context) const {
  const auto& ctx = context.defined() ? context : x;
  const auto b = x.size(0);
  auto split = [&](const at::Tensor& t) {  // [B, L, H*D] → [B, H, L, D]
    return t.view({b, -1, opt_.heads, opt_.head_dim}).transpose(1, 2);
  };
  auto q = split(q_(x)), k = split(k_(ctx)), v = split(v_(ctx));
  const auto dtype = q.scalar_type();
  if (opt_.upcast && dtype != at::kFloat) {
    q = q.to(at::kFloat), k = k.to(at::kFloat), v = v.to(at::kFloat);
  }
  flops::attention(q, k, v);
  auto o = at::scaled_dot_product_attention(q, k, v).to(dtype);
  o = o.transpose(1, 2).reshape({b, -1, opt_.heads * opt_.head_dim});
  return out_(o);
}

struct SpatialTransformer::Block : public Module {
  Block(std::int64_t dim, std::int64_t context_dim, const AttentionOptions& opt)
      : attn1(add("attn1", std::make_unique<CrossAttention>(dim, dim, opt))),
        ff_in(add("ff.net.0.proj", std::make_unique<Linear>(dim, dim * 8))),
        ff_out(add("ff.net.2", std::make_unique<Linear>(dim * 4, dim))),
        attn2(add("attn2", std::make_unique<CrossAttention>(dim, context_dim, opt))),
        norm1(add("norm1", std::make_unique<LayerNorm>(dim, 1e-5))),
        norm2(add("norm2", std::make_unique<LayerNorm>(dim, 1e-5))),
        norm3(add("norm3", std::make_unique<LayerNorm>(dim, 1e-5))) {}
  at::Tensor forward(at::Tensor x, const at::Tensor& context) {
    x = attn1(norm1(x), at::Tensor()) + x;
    x = attn2(norm2(x), context) + x;
    auto h = ff_in(norm3(x)).chunk(2, -1);  // GEGLU
    return ff_out(h[0] * at::gelu(h[1])) + x;
  }
  CrossAttention& attn1;
  Linear& ff_in;
  Linear& ff_out;
  CrossAttention& attn2;
  LayerNorm &norm1, &norm2, &norm3;
};

SpatialTransformer::SpatialTransformer(std::int64_t channels, std::int64_t context_dim,
                                       std::int64_t depth, bool linear_projection,
                                       std::int64_t groups, const AttentionOptions& opt)
    : norm_(add("norm", std::make_unique<GroupNorm>(groups, channels, 1e-6))), linear_(linear_projection) {
  const auto inner = opt.heads * opt.head_dim;
  if (linear_) {
    proj_in_ = &add("proj_in", std::make_unique<Linear>(channels, inner));
  } else {
    proj_in_ = &add("proj_in", std::make_unique<Conv2d>(channels, inner, 1));
  }
  for (std::int64_t i = 0; i < depth; ++i)
    blocks_.push_back(&add("transformer_blocks." + std::to_string(i),
                           std::make_unique<Block>(inner, context_dim, opt)));
  if (linear_) {
    proj_out_ = &add("proj_out", std::make_unique<Linear>(inner, channels));
  } else {
    proj_out_ = &add("proj_out", std::make_unique<Conv2d>(inner, channels, 1));
  }
}

at::Tensor SpatialTransformer::forward(const at::Tensor& x, const at::Tensor&, const at::Tensor& context,
                                       const at::Tensor&) {
  const auto b = x.size(0), h = x.size(2), w = x.size(3);
  auto t = norm_(x);
  auto to_tokens = [&](const at::Tensor& v) { return v.flatten(2).transpose(1, 2); };  // [B, HW, C]
  auto to_map = [&](const at::Tensor& v) { return v.transpose(1, 2).reshape({b, -1, h, w}); };
  if (linear_) {
    t = (*static_cast<Linear*>(proj_in_))(to_tokens(t));
  } else {
    t = to_tokens((*static_cast<Conv2d*>(proj_in_))(t));
  }
  for (auto* blk : blocks_) t = blk->forward(t, context);
  if (linear_) {
    t = to_map((*static_cast<Linear*>(proj_out_))(t));
  } else {
    t = (*static_cast<Conv2d*>(proj_out_))(to_map(t).contiguous(x.suggest_memory_format()));
  }
  return t + x;
}

Downsample::Downsample(std::int64_t channels)
    : op_(add("op", std::make_unique<Conv2d>(channels, channels, 3, 2, 1))) {}

at::Tensor Downsample::forward(const at::Tensor& x, const at::Tensor&, const at::Tensor&, const at::Tensor&) {
  return op_(x);
}

Upsample::Upsample(std::int64_t channels)
    : conv_(add("conv", std::make_unique<Conv2d>(channels, channels, 3, 1, 1))) {}

at::Tensor Upsample::forward(const at::Tensor& x, const at::Tensor&, const at::Tensor&,
                             const at::Tensor& size_hint) {
  std::vector<std::int64_t> size = {x.size(2) * 2, x.size(3) * 2};
  if (size_hint.defined()) size = {size_hint.size(2), size_hint.size(3)};
  auto dtype = x.scalar_type();
  // Nearest upsampling of bf16 is slow or missing on some backends: go through f32 there.
  auto src = dtype == at::kBFloat16 ? x.to(at::kFloat) : x;
  auto up = at::upsample_nearest2d(src, size).to(dtype);
  return conv_(up);
}

}  // namespace gen::models
