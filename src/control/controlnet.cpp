#include "control/controlnet.hpp"

#include <ATen/ATen.h>

#include "core/fail.hpp"


namespace gen::control {

using models::Container;
using models::Conv2d;

ControlNet::ControlNet(const ControlNetConfig& config)
    : cfg_(config), encoder_((config.unet.validate("ControlNet"), *this), config.unet) {
  if (cfg_.unicontrol_tasks > 0) {
    uni_ = std::make_unique<UniControlParts>(*this, cfg_.unet.model_channels, cfg_.hint_channels,
                                             encoder_.skip_channels(), cfg_.unicontrol_feature_dim,
                                             cfg_.unicontrol_tasks, cfg_.unicontrol_v11);
    middle_out_ = &add("middle_block_out", std::make_unique<Container>())
                       .add("0", std::make_unique<Conv2d>(encoder_.middle_channels(), encoder_.middle_channels(), 1));
    return;
  }
  auto& hint = add("input_hint_block", std::make_unique<Container>());
  const auto& hc = cfg_.hint_block_channels;
  int index = 0;
  auto conv = [&](std::int64_t in, std::int64_t out, std::int64_t stride) {
    hint_.push_back(&hint.add(std::to_string(index), std::make_unique<Conv2d>(in, out, 3, stride, 1)));
    index += 2;  // odd indices are the SiLUs between the convolutions
  };
  conv(cfg_.hint_channels, hc[0], 1);
  for (std::size_t i = 0; i + 1 < hc.size(); ++i) {
    conv(hc[i], hc[i], 1);
    conv(hc[i], hc[i + 1], 2);
  }
  conv(hc.back(), cfg_.unet.model_channels, 1);
  auto& zeros = add("zero_convs", std::make_unique<Container>());
  const auto& skips = encoder_.skip_channels();
  for (std::size_t i = 0; i < skips.size(); ++i)
    zero_convs_.push_back(&zeros.add(std::to_string(i), std::make_unique<Container>())
                               .add("0", std::make_unique<Conv2d>(skips[i], skips[i], 1)));
  middle_out_ = &add("middle_block_out", std::make_unique<Container>())
                     .add("0", std::make_unique<Conv2d>(encoder_.middle_channels(), encoder_.middle_channels(), 1));
  if (cfg_.union_types > 0) union_ = std::make_unique<UnionParts>(*this, cfg_);
}

namespace {
void check_task(bool unicontrol, const TaskModulation* task) {
  if (unicontrol && !task)
    fail(ErrorCode::InvalidArgument, "UniControl", "a UniControl model needs a task (--control-task)");
  if (!unicontrol && task)
    fail(ErrorCode::InvalidArgument, "ControlNet", "a task was given to a plain ControlNet, which has none");
}
const TaskModulation kNoTask;
}  // namespace

TaskModulation ControlNet::task_modulation(const at::Tensor& feature, const UniControlMix& mix) const {
  if (!uni_) check_task(false, &kNoTask);
  return uni_->modulation(feature, mix);
}

at::Tensor ControlNet::embed_hint(const at::Tensor& hint, const TaskModulation* task) const {
  check_task(uni_ != nullptr, task);
  if (uni_) return uni_->embed_hint(hint, *task);
  // diffusers: controlnet_conditioning_channel_order "bgr" flips the channel axis.
  auto h = cfg_.bgr ? hint.flip({1}) : hint;
  for (std::size_t i = 0; i < hint_.size(); ++i) {
    h = (*hint_[i])(h);
    if (i + 1 < hint_.size()) h = at::silu(h);
  }
  return h;
}

models::ControlResiduals ControlNet::forward(const at::Tensor& x, const at::Tensor& timesteps,
                                             const at::Tensor& context, const at::Tensor& hint_embedding,
                                             const TaskModulation* task, const at::Tensor& added,
                                             const UnionCall* uni) const {
  check_task(uni_ != nullptr, task);
  if ((union_ != nullptr) != (uni != nullptr))
    fail(ErrorCode::InvalidArgument, "ControlNet",
         union_ ? "a ControlNet Union needs its control types (--control-type)"
                : "control types were given to a ControlNet that is not a Union");
  auto t = timesteps.dim() == 0 ? timesteps.expand({x.size(0)}) : timesteps;
  auto emb = encoder_.embed_time(t, x.scalar_type(), added);
  std::vector<at::Tensor> hs;
  if (union_) {  // diffusers ControlNetUnionModel: the one-hot's embedding joins the time's
    emb = emb + union_->type_embedding(uni->types, emb);
    hs = encoder_.down(x, emb, context, at::Tensor(), nullptr,
                       [&](const at::Tensor& x0) { return union_->fuse(x0, hint_embedding, *uni); });
  } else {
    auto hint = hint_embedding.to(x.scalar_type());
    if (hint.size(0) != x.size(0)) hint = hint.expand({x.size(0), -1, -1, -1});
    hs = encoder_.down(x, emb, context, hint);
  }
  models::ControlResiduals r;
  r.down.reserve(hs.size());
  for (std::size_t i = 0; i < hs.size(); ++i)
    r.down.push_back(uni_ ? uni_->zero_conv(i, hs[i], *task) : (*zero_convs_[i])(hs[i]));
  r.middle = (*middle_out_)(encoder_.middle(hs.back(), emb, context));
  if (cfg_.global_average_pooling) {
    for (auto& d : r.down) d = d.mean({2, 3}, true);
    r.middle = r.middle.mean({2, 3}, true);
  }
  return r;
}

}  // namespace gen::control
