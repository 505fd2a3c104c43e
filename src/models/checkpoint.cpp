#include "models/checkpoint.hpp"

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace gen::models {

namespace {

thread_local bool checkpointing = false;

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Which of the four block arguments (x, emb, context, size_hint) are defined: bit i.
std::int64_t defined_mask(const at::Tensor (&a)[4]) {
  std::int64_t m = 0;
  for (int i = 0; i < 4; ++i)
    if (a[i].defined()) m |= std::int64_t{1} << i;
  return m;
}

std::string autocast_key(at::DeviceType d) { return d == at::kCPU ? "autocast_cpu_" : "autocast_cuda_"; }

// The CPU and CUDA autocast state of the forward, kept in `ctx`
void save_autocast(AutogradContext* ctx) {
  for (auto d : {at::kCPU, at::kCUDA}) {
    ctx->saved_data[autocast_key(d) + "on"] = at::autocast::is_autocast_enabled(d);
    ctx->saved_data[autocast_key(d) + "dtype"] = static_cast<std::int64_t>(at::autocast::get_autocast_dtype(d));
  }
}

// … and restored around the recomputation.
class AutocastRestore {
 public:
  explicit AutocastRestore(AutogradContext* ctx) {
    for (int i = 0; i < 2; ++i) {
      const auto d = i == 0 ? at::kCPU : at::kCUDA;
      const auto k = autocast_key(d);
      was_on_[i] = at::autocast::is_autocast_enabled(d);
      was_dtype_[i] = at::autocast::get_autocast_dtype(d);
      at::autocast::set_autocast_enabled(d, ctx->saved_data[k + "on"].toBool());
      at::autocast::set_autocast_dtype(d, static_cast<at::ScalarType>(ctx->saved_data[k + "dtype"].toInt()));
    }
  }
  ~AutocastRestore() {
    for (int i = 0; i < 2; ++i) {
      const auto d = i == 0 ? at::kCPU : at::kCUDA;
      at::autocast::set_autocast_enabled(d, was_on_[i]);
      at::autocast::set_autocast_dtype(d, was_dtype_[i]);
    }
    at::autocast::clear_cache();
  }

 private:
  bool was_on_[2] = {false, false};
  at::ScalarType was_dtype_[2] = {at::kFloat, at::kFloat};
};

// inputs: the defined block arguments in order, then (optionally) a dummy that requires
// gradients so that the node is recorded when only the block's parameters need them.
struct BlockCheckpoint : torch::autograd::Function<BlockCheckpoint> {
  static variable_list forward(AutogradContext* ctx, at::TensorList inputs, UNetBlock* block, std::int64_t mask) {
    ctx->saved_data["block"] = reinterpret_cast<std::int64_t>(block);
    ctx->saved_data["mask"] = mask;
    save_autocast(ctx);
    ctx->save_for_backward(inputs.vec());
    const auto args = unpack(inputs.vec(), mask);
    return {block->forward(args[0], args[1], args[2], args[3])};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    auto* block = reinterpret_cast<UNetBlock*>(ctx->saved_data["block"].toInt());
    const auto mask = ctx->saved_data["mask"].toInt();
    auto saved = ctx->get_saved_variables();
    variable_list detached;
    for (const auto& t : saved) detached.push_back(t.detach().requires_grad_(t.requires_grad()));
    at::Tensor out;
    {
      c10::AutoGradMode grad(true);
      AutocastRestore autocast(ctx);
      const auto args = unpack(detached, mask);
      out = block->forward(args[0], args[1], args[2], args[3]);
    }
    if (out.requires_grad()) torch::autograd::backward({out}, {grad_out[0]});
    variable_list grads;
    for (const auto& t : detached) grads.push_back(t.requires_grad() ? t.grad() : at::Tensor());
    grads.push_back(at::Tensor());  // block
    grads.push_back(at::Tensor());  // mask
    return grads;
  }

  static std::array<at::Tensor, 4> unpack(const variable_list& v, std::int64_t mask) {
    std::array<at::Tensor, 4> a;
    std::size_t k = 0;
    for (int i = 0; i < 4; ++i)
      if (mask & (std::int64_t{1} << i)) a[i] = v.at(k++);
    return a;
  }
};

}  // namespace

GradientCheckpointing::GradientCheckpointing(bool on) : previous_(checkpointing) { checkpointing = on; }
GradientCheckpointing::~GradientCheckpointing() { checkpointing = previous_; }
bool GradientCheckpointing::enabled() { return checkpointing; }

at::Tensor run_block(UNetBlock& block, const at::Tensor& x, const at::Tensor& emb, const at::Tensor& context,
                     const at::Tensor& size_hint) {
  if (!checkpointing || !c10::GradMode::is_enabled() || c10::InferenceMode::is_enabled())
    return block.forward(x, emb, context, size_hint);
  const at::Tensor args[4] = {x, emb, context, size_hint};
  std::vector<at::Tensor> inputs;
  bool any_grad = false;
  for (const auto& a : args)
    if (a.defined()) {
      inputs.push_back(a);
      any_grad = any_grad || a.requires_grad();
    }
  if (!any_grad) {
    bool trained = false;
    block.visit([&](const std::string&, Module::Param& p) { trained = trained || (p.value.defined() && p.value.requires_grad()); });
    if (!trained) return block.forward(x, emb, context, size_hint);  // nothing to differentiate
    inputs.push_back(at::empty({0}, x.options().dtype(at::kFloat)).requires_grad_(true));
  }
  return BlockCheckpoint::apply(at::TensorList(inputs), &block, defined_mask(args))[0];
}

}  // namespace gen::models
