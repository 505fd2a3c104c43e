#include "control/unicontrol.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <set>

#include "core/fail.hpp"

namespace gen::control {

using models::Container;
using models::Conv2d;
using models::Linear;

const std::vector<UniControlTaskInfo>& unicontrol_tasks() {
  // cldm_unicontrol.py ControlNet.tasks_to_id and ControlLDM.mapping_task.
  static const std::vector<UniControlTaskInfo> tasks = {
      {"hed", 0, "hed edge to image"},
      {"canny", 1, "canny edge to image"},
      {"seg", 2, "segmentation map to image"},
      {"depth", 3, "depth map to image"},
      {"normal", 4, "normal surface map to image"},
      {"openpose", 5, "human pose skeleton to image"},
      {"hedsketch", 7, "sketch to image"},
      {"bbox", 8, "bounding box to image"},
      {"outpainting", 9, "image outpainting"},
      {"grayscale", 10, "gray image to color image"},
      {"blur", 11, "deblur image to clean image"},
      {"inpainting", 12, "image inpainting"},
  };
  return tasks;
}

std::string unicontrol_task_names() {
  std::string s;
  for (const auto& t : unicontrol_tasks()) s += (s.empty() ? "" : ", ") + std::string(t.name);
  return s;
}

UniControlMix parse_unicontrol_task(const std::string& spec, const std::string& subject) {
  UniControlMix mix;
  std::set<std::int64_t> seen;
  double sum = 0;
  std::size_t start = 0;
  while (true) {
    const auto comma = spec.find(',', start);
    const auto item = spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const auto colon = item.find(':');
    const auto name = item.substr(0, colon);
    double weight = 1.0;
    if (colon != std::string::npos) {
      const auto w = item.substr(colon + 1);
      std::size_t used = 0;
      try {
        weight = std::stod(w, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (w.empty() || used != w.size() || !std::isfinite(weight))
        fail(ErrorCode::InvalidArgument, subject, "task weight '" + w + "' of '" + name + "' is not a number");
    }
    const UniControlTaskInfo* info = nullptr;
    for (const auto& t : unicontrol_tasks())
      if (name == t.name) info = &t;
    if (!info)
      fail(ErrorCode::InvalidArgument, subject,
           "unknown UniControl task '" + name + "' (known: " + unicontrol_task_names() + ")");
    if (!seen.insert(info->id).second)
      fail(ErrorCode::InvalidArgument, subject, "UniControl task '" + name + "' given twice");
    mix.emplace_back(info->id, weight);
    sum += weight;
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (!(sum > 0))
    fail(ErrorCode::InvalidArgument, subject,
         "the UniControl task weights of '" + spec + "' sum to " + std::to_string(sum) + ", not a positive number");
  return mix;
}

UniControlParts::UniControlParts(models::Module& owner, std::int64_t model_channels, std::int64_t hint_channels,
                                 const std::vector<std::int64_t>& skip_channels, std::int64_t feature_dim,
                                 std::int64_t tasks, bool v11_branch)
    : feature_dim_(feature_dim), v11_branch_(v11_branch) {
  const std::int64_t emb = 4 * model_channels;
  auto& hyper = owner.add("task_id_hypernet", std::make_unique<Container>());
  hyper0_ = &hyper.add("0", std::make_unique<Linear>(feature_dim, emb));
  hyper2_ = &hyper.add("2", std::make_unique<Linear>(emb, emb));
  auto& layernet = owner.add("task_id_layernet", std::make_unique<Container>());
  for (std::size_t i = 0; i < skip_channels.size(); ++i)
    layernet_.push_back(&layernet.add(std::to_string(i), std::make_unique<Linear>(emb, skip_channels[i])));
  auto& moe = owner.add("input_hint_block_list_moe", std::make_unique<Container>());
  for (std::int64_t k = 0; k < tasks; ++k) {
    auto& block = moe.add(std::to_string(k), std::make_unique<Container>());
    moe_.push_back({&block.add("0", std::make_unique<Conv2d>(hint_channels, 16, 3, 1, 1)),
                    &block.add("2", std::make_unique<Conv2d>(16, 16, 3, 1, 1)),
                    &block.add("4", std::make_unique<Conv2d>(16, 32, 3, 2, 1))});
  }
  auto& z0 = owner.add("input_hint_block_zeroconv_0", std::make_unique<Container>());
  for (int j = 0; j < 2; ++j) z0_[j] = &z0.add(std::to_string(j), std::make_unique<Conv2d>(32, 32, 3, 1, 1));
  layer_z0_ = &owner.add("task_id_layernet_zeroconv_0", std::make_unique<Linear>(emb, 32));
  auto& share = owner.add("input_hint_block_share", std::make_unique<Container>());
  share_ = {&share.add("0", std::make_unique<Conv2d>(32, 32, 3, 1, 1)),
            &share.add("2", std::make_unique<Conv2d>(32, 96, 3, 2, 1)),
            &share.add("4", std::make_unique<Conv2d>(96, 96, 3, 1, 1)),
            &share.add("6", std::make_unique<Conv2d>(96, 256, 3, 2, 1))};
  auto& z1 = owner.add("input_hint_block_zeroconv_1", std::make_unique<Container>());
  for (int j = 0; j < 2; ++j)
    z1_[j] = &z1.add(std::to_string(j), std::make_unique<Conv2d>(256, model_channels, 3, 1, 1));
  layer_z1_ = &owner.add("task_id_layernet_zeroconv_1", std::make_unique<Linear>(emb, 256));
  auto& zeros = owner.add("zero_convs", std::make_unique<Container>());
  for (std::size_t i = 0; i < skip_channels.size(); ++i)
    zero_convs_.push_back(&zeros.add(std::to_string(i), std::make_unique<Container>())
                               .add("0", std::make_unique<Conv2d>(skip_channels[i], skip_channels[i], 1)));
}

TaskModulation UniControlParts::modulation(const at::Tensor& feature, const UniControlMix& mix) const {
  if (feature.numel() != feature_dim_)
    fail(ErrorCode::ModelMismatch, "UniControl",
         "the task vector has " + std::to_string(feature.numel()) + " values, the HyperNet takes " +
             std::to_string(feature_dim_) + " (the text encoder's width)");
  for (const auto& [id, w] : mix)
    if (id < 0 || id >= tasks())
      fail(ErrorCode::ModelMismatch, "UniControl",
           "the checkpoint has no adapter for task " + std::to_string(id) + " (it has " + std::to_string(tasks()) +
               ")");
  const auto f = feature.reshape({1, feature_dim_});
  const auto e = at::silu((*hyper2_)(at::silu((*hyper0_)(f))));  // task_id_emb [1, 4C]
  TaskModulation m;
  m.hint0 = (*layer_z0_)(e);
  m.hint1 = (*layer_z1_)(e);
  for (auto* l : layernet_) m.zero_convs.push_back((*l)(e));
  m.mix = mix;
  return m;
}

namespace {
// conv(x ⊙ s) + bias, s [1, C_in] (the reference modulates the weight instead: the same sum).
at::Tensor modulated(const Conv2d& conv, const at::Tensor& x, const at::Tensor& s) {
  return conv(x * s.to(x.scalar_type()).reshape({1, -1, 1, 1}));
}
}  // namespace

at::Tensor UniControlParts::embed_hint(const at::Tensor& hint, const TaskModulation& task) const {
  if (task.mix.empty()) fail(ErrorCode::InvalidArgument, "UniControl", "no task given");
  // The per-task adapters; a mixture weighs their outputs by weight / sum of weights.
  double sum = 0;
  for (const auto& [id, w] : task.mix) sum += w;
  at::Tensor h;
  for (const auto& [id, w] : task.mix) {
    auto y = hint;
    for (auto* c : moe_[static_cast<std::size_t>(id)]) y = at::silu((*c)(y));
    if (task.mix.size() > 1) y = y * (w / sum);
    h = h.defined() ? h + y : y;
  }
  auto g = modulated(*z0_[0], h, task.hint0);
  if (v11_branch_) g = g + (*z0_[1])(h);
  for (auto* c : share_) g = at::silu((*c)(g));
  auto out = modulated(*z1_[0], g, task.hint1);
  if (v11_branch_) out = out + (*z1_[1])(g);
  return out;
}

at::Tensor UniControlParts::zero_conv(std::size_t i, const at::Tensor& h, const TaskModulation& task) const {
  return modulated(*zero_convs_[i], h, task.zero_convs[i]);
}

bool UniControlParts::v11_weights_nonzero() const {
  bool nonzero = false;
  for (auto* c : {z0_[1], z1_[1]})
    c->visit([&](const std::string&, models::Module::Param& p) {
      if (p.value.defined() && p.value.ne(0).any().item<bool>()) nonzero = true;
    });
  return nonzero;
}

at::Tensor unicontrol_task_feature(const models::ClipTextModel& text_encoder, const at::Tensor& ids,
                                   at::ScalarType dtype) {
  return text_encoder.forward(ids, 0, dtype).select(1, 0);
}

}  // namespace gen::control
