// gen — a small module tree over ATen. Parameter names are the dotted paths of
// the tree, chosen equal to the original (LDM) checkpoint keys, so loading is a
// name lookup; renames from other layouts live in one table (src/models/key_map).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace gen::models {

class Module {
 public:
  struct Param {
    std::string name;
    std::vector<std::int64_t> shape;
    at::Tensor value;  // undefined until loaded
  };
  using Visitor = std::function<void(const std::string& full_name, Param& p)>;

  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  virtual ~Module() = default;

  // Every parameter of this module and its children, depth first, named
  // `prefix` + dotted path.
  void visit(const Visitor& f, const std::string& prefix = "");
  // This module and every child, depth first, with its dotted path ("" for this one).
  void visit_modules(const std::function<void(const std::string& path, Module& m)>& f, const std::string& path = "");
  std::int64_t parameter_count();

  // Adds a named child module and returns it.
  template <class M>
  M& add(std::string name, std::unique_ptr<M> m) {
    M& ref = *m;
    children_.emplace_back(std::move(name), std::move(m));
    return ref;
  }

 protected:
  // Declares a parameter with its expected shape; the reference stays valid.
  at::Tensor& param(std::string name, std::vector<std::int64_t> shape);

 private:
  std::deque<Param> params_;
  std::vector<std::pair<std::string, std::unique_ptr<Module>>> children_;
};

// A weight as an operand for the activations `x`: in their dtype and on their device.
// Weights may be stored narrower than the computation (LoadOptions::keep_16bit: widened
// layer by layer, exactly, since every F16/BF16 value is an F32 value) or in host memory
// while the computation runs on a GPU (sequential offload: copied layer by layer; from
// pinned memory the copy is asynchronous). Otherwise the weight itself, no copy.
inline at::Tensor as_operand(const at::Tensor& w, const at::Tensor& x) {
  if (w.scalar_type() == x.scalar_type() && w.device() == x.device()) return w;
  return w.to(x.device(), x.scalar_type(), /*non_blocking=*/true);
}

// The same for a weight whose dtype is its own (an embedding table indexed by `x`).
inline at::Tensor on_device_of(const at::Tensor& w, const at::Tensor& x) {
  return w.device() == x.device() ? w : w.to(x.device(), /*non_blocking=*/true);
}

// A module that only names its children (e.g. LDM's `time_embed.0`, `time_embed.2`).
class Container : public Module {};

}  // namespace gen::models
