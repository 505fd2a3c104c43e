// gen — gradient checkpointing of UNet blocks (torch.utils.checkpoint's reentrant variant, which
// libtorch lacks): the block runs forward without recording autograd history, keeping only its
// inputs; backward runs it again with history (under the autocast state of the forward) and
// back-propagates through that copy, which accumulates the block's parameter gradients and
// returns the inputs' gradients. Memory: the activations inside a block are held only while
// that block's backward runs; time: one more forward of every checkpointed block.
#pragma once

#include <ATen/core/Tensor.h>

#include "models/unet_blocks.hpp"

namespace gen::models {

// While one lives on a thread, the UNet and ControlNet blocks run there (every input block, the
// middle block, every output block) are checkpointed — in training, the locked UNet's too: its
// activations are what backward to the ControlNet's residuals needs. Training sets it around
// the forward of a micro-batch (--gradient-checkpointing); inference never does.
class GradientCheckpointing {
 public:
  explicit GradientCheckpointing(bool on = true);
  ~GradientCheckpointing();
  GradientCheckpointing(const GradientCheckpointing&) = delete;
  GradientCheckpointing& operator=(const GradientCheckpointing&) = delete;
  static bool enabled();

 private:
  bool previous_;
};

// block.forward(x, emb, context, size_hint); checkpointed when GradientCheckpointing is on and
// autograd records (grad mode on, not under inference mode), else a plain call.
at::Tensor run_block(UNetBlock& block, const at::Tensor& x, const at::Tensor& emb, const at::Tensor& context,
                     const at::Tensor& size_hint = at::Tensor());

}  // namespace gen::models
