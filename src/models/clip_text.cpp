#include "models/clip_text.hpp"
#include "models/flops.hpp"

#include <ATen/ATen.h>

#include <optional>

#include "core/fail.hpp"

namespace gen::models {

ClipTextLayer::ClipTextLayer(const ClipTextConfig& c) : cfg_(c) {
  const bool hf = c.layout == ClipTextConfig::Layout::HuggingFace;
  const auto w = c.width;
  norm1_ = &add(hf ? "layer_norm1" : "ln_1", std::make_unique<LayerNorm>(w, c.eps));
  if (hf) {
    q_ = &add("self_attn.q_proj", std::make_unique<Linear>(w, w));
    k_ = &add("self_attn.k_proj", std::make_unique<Linear>(w, w));
    v_ = &add("self_attn.v_proj", std::make_unique<Linear>(w, w));
    out_ = &add("self_attn.out_proj", std::make_unique<Linear>(w, w));
  } else {
    auto& attn = add("attn", std::make_unique<Container>());
    in_w_ = &attn.add("", std::make_unique<Parameter>("in_proj_weight", std::vector<std::int64_t>{3 * w, w}));
    in_b_ = &attn.add("", std::make_unique<Parameter>("in_proj_bias", std::vector<std::int64_t>{3 * w}));
    out_ = &attn.add("out_proj", std::make_unique<Linear>(w, w));
  }
  norm2_ = &add(hf ? "layer_norm2" : "ln_2", std::make_unique<LayerNorm>(w, c.eps));
  fc1_ = &add(hf ? "mlp.fc1" : "mlp.c_fc", std::make_unique<Linear>(w, c.ff_dim));
  fc2_ = &add(hf ? "mlp.fc2" : "mlp.c_proj", std::make_unique<Linear>(c.ff_dim, w));
}

at::Tensor ClipTextLayer::forward(const at::Tensor& x, const at::Tensor& mask) const {
  const auto b = x.size(0), l = x.size(1), hd = cfg_.width / cfg_.heads;
  auto h = (*norm1_)(x);
  at::Tensor qv, kv, vv;
  if (q_) {
    qv = (*q_)(h), kv = (*k_)(h), vv = (*v_)(h);
  } else {
    flops::linear(h, in_w_->value());
    auto qkv = at::linear(h, as_operand(in_w_->value(), h), as_operand(in_b_->value(), h)).chunk(3, -1);
    qv = qkv[0], kv = qkv[1], vv = qkv[2];
  }
  auto split = [&](const at::Tensor& t) { return t.reshape({b, l, cfg_.heads, hd}).transpose(1, 2); };
  flops::attention(split(qv), split(kv), split(vv));
  const auto m = mask.defined() ? std::optional<at::Tensor>(mask) : std::nullopt;
  auto a = at::scaled_dot_product_attention(split(qv), split(kv), split(vv), m);
  auto y = x + (*out_)(a.transpose(1, 2).reshape({b, l, cfg_.width}));
  auto f = (*fc1_)((*norm2_)(y));
  f = cfg_.quick_gelu ? f * at::sigmoid(1.702 * f) : at::gelu(f);
  return y + (*fc2_)(f);
}

ClipTextModel::ClipTextModel(const ClipTextConfig& c) : cfg_(c) {
  const bool hf = c.layout == ClipTextConfig::Layout::HuggingFace;
  if (hf) {
    auto& emb = add("embeddings", std::make_unique<Container>());
    tokens_ = &emb.add("token_embedding", std::make_unique<Embedding>(c.vocab_size, c.width));
    positions_ = &emb.add("position_embedding",
                          std::make_unique<Parameter>("weight", std::vector<std::int64_t>{c.max_positions, c.width}));
  } else {
    tokens_ = &add("token_embedding", std::make_unique<Embedding>(c.vocab_size, c.width));
    positions_ = &add("", std::make_unique<Parameter>("positional_embedding",
                                                      std::vector<std::int64_t>{c.max_positions, c.width}));
  }
  auto& stack = hf ? add("encoder", std::make_unique<Container>()).add("layers", std::make_unique<Container>())
                   : add("transformer", std::make_unique<Container>()).add("resblocks", std::make_unique<Container>());
  for (std::int64_t i = 0; i < c.layers; ++i)
    layers_.push_back(&stack.add(std::to_string(i), std::make_unique<ClipTextLayer>(cfg_)));
  final_norm_ = &add(hf ? "final_layer_norm" : "ln_final", std::make_unique<LayerNorm>(c.width, c.eps));
  if (c.projection_dim > 0) {
    if (hf)
      projection_ = &add("text_projection", std::make_unique<Linear>(c.width, c.projection_dim, false));
    else
      projection_t_ = &add("", std::make_unique<Parameter>("text_projection",
                                                            std::vector<std::int64_t>{c.width, c.projection_dim}));
  }
}

at::Tensor ClipTextModel::embed(const at::Tensor& ids, std::int64_t skip, at::ScalarType& dtype,
                                const std::vector<TokenOverride>& overrides) const {
  if (ids.dim() != 2 || ids.size(1) > cfg_.max_positions)
    fail(ErrorCode::InvalidArgument, "text encoder", "token ids must be [B, L] with L <= " +
                                                         std::to_string(cfg_.max_positions));
  if (skip < 0 || skip >= cfg_.layers)
    fail(ErrorCode::InvalidArgument, "text encoder", "clip skip must be in [0, " +
                                                         std::to_string(cfg_.layers - 1) + "]");
  const auto l = ids.size(1);
  if (dtype == at::ScalarType::Undefined) dtype = tokens_->weight().scalar_type();
  auto x = (*tokens_)(ids).to(dtype);
  for (const auto& o : overrides) {
    if (o.vectors.dim() != 2 || o.vectors.size(1) != cfg_.width || o.row < 0 || o.row >= ids.size(0) ||
        o.position < 0 || o.position + o.vectors.size(0) > l)
      fail(ErrorCode::InvalidArgument, "text encoder",
           "a token override of " + std::to_string(o.vectors.dim() == 2 ? o.vectors.size(0) : -1) +
               " vectors at row " + std::to_string(o.row) + ", position " + std::to_string(o.position) +
               " does not fit the [" + std::to_string(ids.size(0)) + ", " + std::to_string(l) + ", " +
               std::to_string(cfg_.width) + "] token embeddings");
    x[o.row].narrow(0, o.position, o.vectors.size(0)).copy_(o.vectors);
  }
  return x + as_operand(positions_->value().slice(0, 0, l).unsqueeze(0), x);
}

namespace {
// Causal mask: a token sees itself and the tokens before it.
at::Tensor causal_mask(const at::Tensor& ids) {
  const auto l = ids.size(1);
  return at::ones({l, l}, at::TensorOptions().dtype(at::kBool).device(ids.device())).tril();
}
}  // namespace

at::Tensor ClipTextModel::forward(const at::Tensor& ids, std::int64_t skip, at::ScalarType dtype,
                                  const std::vector<TokenOverride>& overrides) const {
  auto x = embed(ids, skip, dtype, overrides);
  const auto mask = causal_mask(ids);
  const auto n = cfg_.layers - skip;
  for (std::int64_t i = 0; i < n; ++i) x = layers_[i]->forward(x, mask);
  return (*final_norm_)(x);
}

at::Tensor ClipTextModel::pool(const at::Tensor& normed, const at::Tensor& ids) const {
  // transformers: the first eos_token_id (argmax of ids == eos); OpenCLIP / legacy: argmax of ids.
  auto where = cfg_.eos_token_id >= 0 ? (ids == cfg_.eos_token_id).to(at::kInt).argmax(-1) : ids.argmax(-1);
  const auto b = normed.size(0), w = normed.size(2);
  auto p = normed.gather(1, where.to(at::kLong).view({b, 1, 1}).expand({b, 1, w})).squeeze(1);
  if (projection_) return (*projection_)(p);
  if (projection_t_) return at::matmul(p, as_operand(projection_t_->value(), p));
  return p;
}

ClipTextModel::Encoded ClipTextModel::encode(const at::Tensor& ids, std::int64_t skip, bool pooled,
                                             at::ScalarType dtype,
                                             const std::vector<TokenOverride>& overrides) const {
  auto x = embed(ids, skip, dtype, overrides);
  const auto mask = causal_mask(ids);
  Encoded out;
  const auto n = cfg_.layers - skip;
  for (std::int64_t i = 0; i < cfg_.layers; ++i) {
    if (i == n) {
      out.hidden = x;
      if (!pooled) return out;
    }
    x = layers_[i]->forward(x, mask);
  }
  if (n == cfg_.layers) out.hidden = x;
  if (pooled) out.pooled = pool((*final_norm_)(x), ids);
  return out;
}

}  // namespace gen::models
