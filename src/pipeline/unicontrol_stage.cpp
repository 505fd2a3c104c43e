#include "pipeline/unicontrol_stage.hpp"

#include <ATen/ATen.h>

#include "core/fail.hpp"

namespace gen::pipeline {

std::shared_ptr<const control::TaskModulation> unicontrol_task(const control::ControlNet& net,
                                                               const ControlRequest& c, const TextEncoder& encoder,
                                                               const text::ClipTokenizer& tokenizer) {
  if (!net.is_unicontrol()) {
    if (!c.task.empty())
      fail(ErrorCode::InvalidArgument, c.model,
           "is a plain ControlNet, not a UniControl: --control-task '" + c.task + "' does not apply to it");
    return nullptr;
  }
  if (c.task.empty())
    fail(ErrorCode::InvalidArgument, c.model,
         "is a UniControl model: give its task with --control-task (one of " + control::unicontrol_task_names() +
             ")");
  const auto mix = control::parse_unicontrol_task(c.task, "--control-task");
  std::string instruction;
  for (const auto& t : control::unicontrol_tasks())
    if (t.id == mix.front().first) instruction = t.instruction;
  // The reference: get_learned_conditioning(instruction)[:, :1, :] (FrozenCLIPEmbedder: padded to
  // 77 tokens, the last layer after the final norm).
  const auto padded = tokenizer.encode_padded(instruction, encoder.padding);
  auto device = encoder.device.value_or(c10::Device(c10::kCPU));
  const auto ids = at::tensor(std::vector<std::int64_t>(padded.begin(), padded.end()), at::kLong).view({1, -1});
  const auto dtype = encoder.dtype == at::ScalarType::Undefined ? at::kFloat : encoder.dtype;
  const auto feature = control::unicontrol_task_feature(*encoder.model, ids.to(device), dtype);
  if (feature.size(-1) != net.unicontrol()->feature_dim())
    fail(ErrorCode::ModelMismatch, c.model,
         "its task HyperNet takes " + std::to_string(net.unicontrol()->feature_dim()) +
             "-wide task vectors but the model's text encoder is " + std::to_string(feature.size(-1)) + " wide");
  return std::make_shared<const control::TaskModulation>(net.task_modulation(feature, mix));
}

std::vector<std::int64_t> union_types_of(const control::ControlNet& net, const ControlRequest& c) {
  if (!net.is_union()) {
    if (!c.type.empty())
      fail(ErrorCode::InvalidArgument, c.model,
           "is not a ControlNet Union: --control-type '" + c.type + "' does not apply to it");
    if (!c.conditions.empty())
      fail(ErrorCode::InvalidArgument, c.model,
           "is not a ControlNet Union: it takes one control image per --control group, not " +
               std::to_string(c.conditions.size() + 1));
    return {};
  }
  const auto count = net.union_types();
  if (c.type.empty())
    fail(ErrorCode::InvalidArgument, c.model,
         "is a ControlNet Union: give each control image its type with --control-type (this file knows " +
             control::union_type_names(count) + ")");
  if (static_cast<std::int64_t>(c.conditions.size()) + 1 > count)
    fail(ErrorCode::InvalidArgument, c.model,
         std::to_string(c.conditions.size() + 1) + " control images in one group, but this ControlNet Union has " +
             std::to_string(count) + " control types");
  std::vector<std::int64_t> types{control::union_type_index(c.type, count, "--control-type")};
  for (const auto& k : c.conditions) types.push_back(control::union_type_index(k.type, count, "--control-type"));
  return types;
}

}  // namespace gen::pipeline
