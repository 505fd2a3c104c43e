#include "models/unet.hpp"

#include <ATen/ATen.h>

#include <algorithm>

#include "core/fail.hpp"
#include "models/checkpoint.hpp"


namespace gen::models {

UNetEncoder::UNetEncoder(Module& owner, const UNetConfig& c) : cfg_(c) {
  const auto mc = c.model_channels, emb = mc * 4;
  auto& te = owner.add("time_embed", std::make_unique<Container>());
  time1_ = &te.add("0", std::make_unique<Linear>(mc, emb));
  time2_ = &te.add("2", std::make_unique<Linear>(emb, emb));
  if (c.adm_in_channels > 0) {
    auto& label = owner.add("label_emb", std::make_unique<Container>()).add("0", std::make_unique<Container>());
    label1_ = &label.add("0", std::make_unique<Linear>(c.adm_in_channels, emb));
    label2_ = &label.add("2", std::make_unique<Linear>(emb, emb));
  }
  auto& blocks = owner.add("input_blocks", std::make_unique<Container>());
  auto next_block = [&]() -> UNetBlock& {
    auto& b = blocks.add(std::to_string(input_blocks_.size()), std::make_unique<UNetBlock>());
    input_blocks_.push_back(&b);
    return b;
  };
  next_block().push(std::make_unique<ConvLayer>(c.in_channels, mc));
  skip_channels_.push_back(mc);
  std::int64_t ch = mc;
  for (std::size_t level = 0; level < c.levels(); ++level) {
    const auto out = c.block_channels[level];
    for (std::int64_t r = 0; r < c.num_res_blocks; ++r) {
      auto& b = next_block();
      b.push(std::make_unique<ResBlock>(ch, emb, out, c.norm_groups));
      ch = out;
      if (c.has_attention(level))
        b.push(std::make_unique<SpatialTransformer>(ch, c.context_dim, c.depth_down(level),
                                                    c.use_linear_in_transformer, c.norm_groups,
                                                    c.attention_at(level)));
      skip_channels_.push_back(ch);
    }
    // diffusers adds a T2I-Adapter feature after a cross-attention level's last ResBlock and
    // attention, and after any other level's last block (its downsampler when it has one).
    intrablock_points_.push_back({input_blocks_.size() - 1, ch, static_cast<int>(level)});
    if (level + 1 < c.levels()) {
      next_block().push(std::make_unique<Downsample>(ch));
      skip_channels_.push_back(ch);
      if (!c.has_attention(level)) intrablock_points_.back() = {input_blocks_.size() - 1, ch, static_cast<int>(level + 1)};
    }
  }
  middle_ = &owner.add("middle_block", std::make_unique<UNetBlock>());
  middle_->push(std::make_unique<ResBlock>(ch, emb, ch, c.norm_groups));
  middle_->push(std::make_unique<SpatialTransformer>(ch, c.context_dim, c.depth_mid(),
                                                     c.use_linear_in_transformer, c.norm_groups,
                                                     c.attention_mid()));
  middle_->push(std::make_unique<ResBlock>(ch, emb, ch, c.norm_groups));
  middle_channels_ = ch;
}

at::Tensor UNetEncoder::embed_time(const at::Tensor& timesteps, at::ScalarType dtype, const at::Tensor& added) const {
  auto t = timestep_embedding(timesteps, cfg_.model_channels).to(dtype);
  auto emb = (*time2_)(at::silu((*time1_)(t)));
  if (!label1_) {
    if (added.defined())
      fail(ErrorCode::InvalidArgument, "UNet", "an added condition was given, but the UNet has no label_emb");
    return emb;
  }
  if (!added.defined() || added.dim() != 2 || added.size(1) != cfg_.adm_in_channels)
    fail(ErrorCode::InvalidArgument, "UNet",
         "the UNet's label_emb needs an added condition [B, " + std::to_string(cfg_.adm_in_channels) + "]");
  auto a = added.to(dtype);
  if (a.size(0) != emb.size(0)) a = a.expand({emb.size(0), a.size(1)});
  return emb + (*label2_)(at::silu((*label1_)(a)));
}

at::Tensor added_condition(const UNetConfig& c, const at::Tensor& pooled, const at::Tensor& time_ids) {
  if (c.adm_in_channels <= 0) fail(ErrorCode::InvalidArgument, "UNet", "the UNet takes no added condition");
  if (pooled.dim() != 2 || time_ids.dim() != 2 || pooled.size(0) != time_ids.size(0) ||
      pooled.size(1) + time_ids.size(1) * c.addition_time_embed_dim != c.adm_in_channels)
    fail(ErrorCode::InvalidArgument, "UNet",
         "the added condition: pooled text [B, P] and time ids [B, n] with P + n·" +
             std::to_string(c.addition_time_embed_dim) + " = " + std::to_string(c.adm_in_channels) + ", got P = " +
             std::to_string(pooled.dim() == 2 ? pooled.size(1) : -1) + ", n = " +
             std::to_string(time_ids.dim() == 2 ? time_ids.size(1) : -1));
  const auto b = time_ids.size(0);
  auto times = timestep_embedding(time_ids.reshape({-1}), c.addition_time_embed_dim).reshape({b, -1});
  return at::cat({pooled.to(at::kFloat), times.to(pooled.device())}, 1);
}

std::vector<at::Tensor> UNetEncoder::down(const at::Tensor& x, const at::Tensor& emb,
                                          const at::Tensor& context, const at::Tensor& after_first,
                                          const std::vector<at::Tensor>* intrablock,
                                          const std::function<at::Tensor(const at::Tensor&)>& after_first_of) const {
  std::vector<at::Tensor> hs;
  hs.reserve(input_blocks_.size());
  at::Tensor h = x;
  std::size_t next = 0;  // the next intrablock feature
  for (std::size_t i = 0; i < input_blocks_.size(); ++i) {
    h = run_block(*input_blocks_[i], h, emb, context, at::Tensor());
    if (i == 0 && after_first_of) h = h + after_first_of(h);
    else if (i == 0 && after_first.defined()) h = h + after_first;
    // (the skip is the sum: diffusers adds in place to the tensor it also keeps as the skip)
    if (intrablock && next < intrablock->size() && next < intrablock_points_.size() &&
        intrablock_points_[next].block == i)
      h = h + (*intrablock)[next++];
    hs.push_back(h);
  }
  return hs;
}

at::Tensor UNetEncoder::middle(const at::Tensor& h, const at::Tensor& emb, const at::Tensor& context) const {
  return run_block(*middle_, h, emb, context, at::Tensor());
}

UNet::UNet(const UNetConfig& config) : cfg_(config), encoder_((config.validate("UNet"), *this), config) {
  const auto mc = cfg_.model_channels, emb = mc * 4;
  auto skips = encoder_.skip_channels();
  auto& blocks = add("output_blocks", std::make_unique<Container>());
  std::int64_t ch = encoder_.middle_channels();
  for (std::size_t level = cfg_.levels(); level-- > 0;) {
    const auto out = cfg_.block_channels[level];
    for (std::int64_t r = 0; r <= cfg_.num_res_blocks; ++r) {
      auto& b = blocks.add(std::to_string(output_blocks_.size()), std::make_unique<UNetBlock>());
      output_blocks_.push_back(&b);
      const auto skip = skips.back();
      skips.pop_back();
      b.push(std::make_unique<ResBlock>(ch + skip, emb, out, cfg_.norm_groups));
      ch = out;
      if (cfg_.has_attention(level))
        b.push(std::make_unique<SpatialTransformer>(ch, cfg_.context_dim, cfg_.depth_up(level),
                                                    cfg_.use_linear_in_transformer, cfg_.norm_groups,
                                                    cfg_.attention_at(level)));
      if (level > 0 && r == cfg_.num_res_blocks) b.push(std::make_unique<Upsample>(ch));
    }
  }
  auto& out = add("out", std::make_unique<Container>());
  out_norm_ = &out.add("0", std::make_unique<GroupNorm>(cfg_.norm_groups, ch, 1e-5));
  out_conv_ = &out.add("2", std::make_unique<Conv2d>(ch, cfg_.out_channels, 3, 1, 1));
}

at::Tensor UNet::forward(const at::Tensor& x, const at::Tensor& timesteps, const at::Tensor& context,
                         const ControlResiduals* control, const at::Tensor& added) const {
  auto t = timesteps.dim() == 0 ? timesteps.expand({x.size(0)}) : timesteps;
  const auto emb = encoder_.embed_time(t, x.scalar_type(), added);
  const auto* intrablock = control && !control->intrablock.empty() ? &control->intrablock : nullptr;
  auto hs = encoder_.down(x, emb, context, at::Tensor(), intrablock);
  auto h = encoder_.middle(hs.back(), emb, context);
  // A feature left after the levels goes to the middle block when its shape is the middle's (diffusers).
  const auto levels = encoder_.intrablock_points().size();
  if (intrablock && intrablock->size() > levels) {
    const auto& f = (*intrablock)[levels];
    if (f.size(1) == h.size(1) && f.size(2) == h.size(2) && f.size(3) == h.size(3)) h = h + f;
  }
  if (control && control->middle.defined()) h = h + control->middle;
  for (std::size_t i = 0; i < output_blocks_.size(); ++i) {
    auto skip = std::move(hs.back());
    hs.pop_back();
    if (control && !control->down.empty()) skip = skip + control->down[hs.size()];
    // The next skip (if any) tells an upsampler which size to reach (odd latent sizes).
    const at::Tensor& size_hint = hs.empty() ? at::Tensor() : hs.back();
    h = run_block(*output_blocks_[i], at::cat({h, skip}, 1), emb, context, size_hint);
  }
  return (*out_conv_)(out_norm_->silu(h));
}

}  // namespace gen::models
