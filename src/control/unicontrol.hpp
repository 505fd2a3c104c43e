// gen — UniControl (Salesforce, arXiv 2305.11147; salesforce/UniControl cldm/cldm_unicontrol.py
// and cldm_unicontrol_v11.py): a ControlNet whose hint encoder is a mixture of per-task
// adapters and whose zero-convolutions are modulated by a task-aware HyperNet. These are the
// parts it has beside (and instead of the hint encoder of) a ControlNet; control/controlnet.hpp
// builds them into the ControlNet next to the UNet encoder it shares. LDM names (the
// checkpoint's, under control_model.):
//   task_id_hypernet.{0,2}           Linear(D→4C), SiLU, Linear(4C→4C), SiLU; D = the text
//                                    encoder's width (768 for SD 1.5), C = model_channels
//   task_id_layernet.{0..N-1}        Linear(4C→ch_i): the scales of the N zero_convs' inputs
//   input_hint_block_list_moe.{k}.{0,2,4}  per task k: 3→16, 16→16, 16→32 stride 2 (SiLU after each)
//   input_hint_block_zeroconv_0.{0,1}      3×3 32→32 (.0 modulated by task_id_layernet_zeroconv_0)
//   input_hint_block_share.{0,2,4,6}       32→32, 32→96 s2, 96→96, 96→256 s2 (SiLU after each)
//   input_hint_block_zeroconv_1.{0,1}      3×3 256→C (.0 modulated by task_id_layernet_zeroconv_1)
//   task_id_layernet_zeroconv_{0,1}        Linear(4C→32), Linear(4C→256)
// A modulated convolution scales its input channels by the task vector and adds the bias
// unscaled: conv(x ⊙ s) + b. v1.1 adds the un-modulated `.1` branch of each hint zero-conv;
// v1.0 ignores it (its weights exist and are zero in v1.0 files). middle_block_out is a plain
// zero-conv.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "models/clip_text.hpp"
#include "models/layers.hpp"
#include "models/module.hpp"

namespace gen::control {

// The reference's tasks: the index of the per-task hint block, gen's name (the reference's
// without `control_`), the instruction the reference encodes. `img` ("image editing") has a
// block in the checkpoints but no inference path in the reference; it is listed, not offered.
struct UniControlTaskInfo {
  const char* name;
  std::int64_t id;
  const char* instruction;
};
const std::vector<UniControlTaskInfo>& unicontrol_tasks();
// "hed, canny, ..." (the offered names, for messages).
std::string unicontrol_task_names();

// One task, or a weighted mixture ("canny:0.6,depth:0.4"): (task id, weight) pairs.
using UniControlMix = std::vector<std::pair<std::int64_t, double>>;
// Parses `spec` (a name, or name:weight pairs separated by commas). InvalidArgument naming
// `subject` for an unknown name (the known ones listed), a bad or repeated weight, weights
// that do not sum to a positive number.
UniControlMix parse_unicontrol_task(const std::string& spec, const std::string& subject);

// The HyperNet's outputs for one task vector: the input-channel scales of the modulated
// convolutions, each [1, channels]. Depends only on the task vector: compute once per request.
struct TaskModulation {
  at::Tensor hint0, hint1;
  std::vector<at::Tensor> zero_convs;
  UniControlMix mix;
};

class UniControlParts {
 public:
  // Adds the parts above to `owner` (the ControlNet) under their LDM names. `skip_channels`:
  // the zero-convs' widths; `feature_dim` D; `tasks` the number of per-task blocks (13).
  UniControlParts(models::Module& owner, std::int64_t model_channels, std::int64_t hint_channels,
                  const std::vector<std::int64_t>& skip_channels, std::int64_t feature_dim, std::int64_t tasks,
                  bool v11_branch);
  // `feature` [D] or [1, D] or [1, 1, D]: the text encoder's output at position 0.
  TaskModulation modulation(const at::Tensor& feature, const UniControlMix& mix) const;
  // The hint [B, 3, 8h, 8w] → its embedding [B, C, h, w] for the task(s).
  at::Tensor embed_hint(const at::Tensor& hint, const TaskModulation& task) const;
  // Zero-conv `i`, modulated: conv(h ⊙ s_i) + b.
  at::Tensor zero_conv(std::size_t i, const at::Tensor& h, const TaskModulation& task) const;
  // v1.1 adds the `.1` hint zero-convs; v1.0 ignores them. A v1.0 file's are all zero (never
  // trained), so both give the same result there; the loader turns the branch off for them.
  bool v11_branch() const { return v11_branch_; }
  void set_v11_branch(bool on) { v11_branch_ = on; }
  // Whether the `.1` hint zero-convs hold any non-zero value (loaded weights).
  bool v11_weights_nonzero() const;
  std::int64_t feature_dim() const { return feature_dim_; }
  std::int64_t tasks() const { return static_cast<std::int64_t>(moe_.size()); }

 private:
  std::int64_t feature_dim_;
  bool v11_branch_;
  models::Linear *hyper0_ = nullptr, *hyper2_ = nullptr, *layer_z0_ = nullptr, *layer_z1_ = nullptr;
  std::vector<models::Linear*> layernet_;
  std::vector<std::vector<models::Conv2d*>> moe_;
  models::Conv2d *z0_[2] = {nullptr, nullptr}, *z1_[2] = {nullptr, nullptr};
  std::vector<models::Conv2d*> share_;
  std::vector<models::Conv2d*> zero_convs_;
};

// The task vector of the reference (ControlLDM: get_learned_conditioning(instruction)[:, :1, :]):
// the text encoder's last hidden state at position 0 for the instruction's tokens `ids` [1, L].
// CLIP's causal mask lets position 0 see only the start token: the vector is the same for every
// instruction (docs/unicontrol.md); it is computed as the reference does all the same.
// `ids` on the text encoder's device; `dtype` the computation's.
at::Tensor unicontrol_task_feature(const models::ClipTextModel& text_encoder, const at::Tensor& ids,
                                   at::ScalarType dtype = at::kFloat);

}  // namespace gen::control
