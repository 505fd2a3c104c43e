#include "control/controlnet_union.hpp"

#include <ATen/ATen.h>

#include "core/fail.hpp"
#include "models/unet_blocks.hpp"  // timestep_embedding

namespace gen::control {

using models::Container;
using models::Linear;

const std::vector<UnionTypeInfo>& union_types() {
  // xinsir/controlnet-union-sdxl-1.0's model card ("ControlMode"), ComfyUI's
  // UNION_CONTROLNET_TYPES; tile and repaint are the ProMax file's additions.
  static const std::vector<UnionTypeInfo> types = {
      {"openpose", 0}, {"depth", 1},         {"hed", 2},  {"pidi", 2},   {"scribble", 2},
      {"ted", 2},      {"canny", 3},         {"lineart", 3}, {"anime_lineart", 3}, {"mlsd", 3},
      {"normal", 4},   {"segment", 5},       {"tile", 6}, {"repaint", 7},
  };
  return types;
}

std::string union_type_names(std::int64_t count) {
  std::string s;
  std::int64_t last = -1;
  for (const auto& t : union_types()) {
    if (t.index >= count) continue;
    if (t.index == last) {
      s += "/" + std::string(t.name);
    } else {
      if (last >= 0) s += " (" + std::to_string(last) + "), ";
      s += t.name;
      last = t.index;
    }
  }
  if (last >= 0) s += " (" + std::to_string(last) + ")";
  return s;
}

std::int64_t union_type_index(const std::string& name, std::int64_t count, const std::string& subject) {
  std::int64_t index = -1;
  for (const auto& t : union_types())
    if (name == t.name) index = t.index;
  if (index < 0 && !name.empty() && name.size() <= 3 && name.find_first_not_of("0123456789") == std::string::npos)
    index = std::stoll(name);
  if (index < 0)
    fail(ErrorCode::InvalidArgument, subject,
         "unknown control type '" + name + "' (this Union file knows " + union_type_names(count) + ")");
  if (index >= count)
    fail(ErrorCode::InvalidArgument, subject,
         "control type '" + name + "' (index " + std::to_string(index) + ") is not in this Union file, which has " +
             std::to_string(count) + " types: " + union_type_names(count));
  return index;
}

UnionParts::UnionParts(models::Module& owner, const ControlNetConfig& c)
    : types_(c.union_types), embed_dim_(c.union_embed_dim) {
  const std::int64_t d = c.union_channels, emb = 4 * c.unet.model_channels;
  task_ = &owner.add("", std::make_unique<models::Parameter>("task_embedding", std::vector<std::int64_t>{types_, d}));
  models::ClipTextConfig layer;  // ResidualAttentionBlock(d, heads): OpenCLIP names, QuickGELU, 4·d MLP
  layer.layout = models::ClipTextConfig::Layout::OpenClip;
  layer.width = d;
  layer.heads = c.union_heads;
  layer.ff_dim = 4 * d;
  layer.quick_gelu = true;
  layer.eps = 1e-5;
  auto& stack = owner.add("transformer_layes", std::make_unique<Container>());
  for (std::int64_t i = 0; i < c.union_layers; ++i)
    layers_.push_back(&stack.add(std::to_string(i), std::make_unique<models::ClipTextLayer>(layer)));
  proj_ = &owner.add("spatial_ch_projs", std::make_unique<Linear>(d, c.union_proj_channels));
  auto& add = owner.add("control_add_embedding", std::make_unique<Container>());
  add1_ = &add.add("linear_1", std::make_unique<Linear>(embed_dim_ * types_, emb));
  add2_ = &add.add("linear_2", std::make_unique<Linear>(emb, emb));
}

at::Tensor UnionParts::type_embedding(const std::vector<std::int64_t>& types, const at::Tensor& like) const {
  // diffusers: zeros(num_control_type).scatter_(0, control_mode, 1) → Timesteps(E) of each entry.
  auto onehot = at::zeros({types_}, at::TensorOptions().dtype(at::kFloat).device(like.device()));
  for (auto t : types) onehot[t].fill_(1.0);
  auto e = models::timestep_embedding(onehot, embed_dim_).reshape({1, -1}).to(like.scalar_type());
  return (*add2_)(at::silu((*add1_)(e)));
}

at::Tensor UnionParts::fuse(const at::Tensor& x0, const at::Tensor& hints, const UnionCall& call) const {
  const auto k = static_cast<std::int64_t>(call.types.size());
  if (hints.size(0) != k || static_cast<std::int64_t>(call.scales.size()) != k)
    fail(ErrorCode::InvalidArgument, "ControlNet Union",
         std::to_string(hints.size(0)) + " control images for " + std::to_string(k) + " control types");
  const auto b = x0.size(0);
  const auto task = models::as_operand(task_->value(), x0);
  std::vector<at::Tensor> tokens, conds;
  for (std::int64_t i = 0; i < k; ++i) {
    auto h = hints.slice(0, i, i + 1).to(x0.scalar_type()).expand({b, -1, -1, -1});
    auto f = h.mean({2, 3}) + task[call.types[static_cast<std::size_t>(i)]];
    const double s = call.scales[static_cast<std::size_t>(i)];
    tokens.push_back((s == 1.0 ? f : f * s).unsqueeze(1));
    conds.push_back(s == 1.0 ? h : h * s);
  }
  tokens.push_back(x0.mean({2, 3}).unsqueeze(1));
  auto z = at::cat(tokens, 1);  // [B, K + 1, D]
  // nn.MultiheadAttention without batch_first reads [B, K + 1, D] as (sequence, batch, D).
  z = z.transpose(0, 1);
  for (auto* layer : layers_) z = layer->forward(z);
  z = z.transpose(0, 1);
  at::Tensor fuser;
  for (std::int64_t i = 0; i < k; ++i) {
    auto alpha = (*proj_)(z.select(1, i)).unsqueeze(-1).unsqueeze(-1);
    const double s = call.scales[static_cast<std::size_t>(i)];
    auto term = conds[static_cast<std::size_t>(i)] + (s == 1.0 ? alpha : alpha * s);
    fuser = fuser.defined() ? fuser + term : term;
  }
  return fuser;
}

}  // namespace gen::control
