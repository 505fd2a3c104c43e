#include "adapters/adapter_delta.hpp"

#include <ATen/ATen.h>

#include <limits>
#include <string>
#include <vector>

#include "core/fail.hpp"

namespace gen::adapters {
namespace {

std::string shape_text(at::IntArrayRef s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

[[noreturn]] void misfit(const AdapterModule& m, at::IntArrayRef got, at::IntArrayRef target) {
  throw Error(ErrorCode::ModelMismatch, std::string(kind_name(m.kind)) + " ΔW " + shape_text(got) +
                                            " cannot have the layer's shape " + shape_text(target));
}

int64_t numel_of(at::IntArrayRef s) {
  int64_t n = 1;
  for (auto v : s) n *= v;
  return n;
}

// A weight of `target`'s shape from `w`, whose elements must be as many and whose first
// dimension (the output features) must agree.
at::Tensor fit(const AdapterModule& m, const at::Tensor& w, at::IntArrayRef target) {
  if (w.numel() != numel_of(target) || w.size(0) != target[0]) misfit(m, w.sizes(), target);
  return w.reshape(target);
}

// LyCORIS' rebuild of a Tucker-decomposed weight: einsum("i j k l, j r, i p -> p r k l", t, b, a)
// with a: [rank, out], b: [rank, in], t: [rank, rank, kh, kw].
at::Tensor tucker(const at::Tensor& t, const at::Tensor& a, const at::Tensor& b) {
  return at::einsum("ijkl,jr,ip->prkl", {t, b, a});
}

at::Tensor lora_delta(const AdapterModule& m, at::IntArrayRef target) {
  const auto& down = m.tensors.at("lora_down");
  const auto& up = m.tensors.at("lora_up");
  const auto r = down.size(0);
  const auto up2 = up.reshape({up.size(0), r});
  const auto mid = m.tensors.find("lora_mid");
  if (mid != m.tensors.end()) {  // LoCon with Tucker: down [r, in, 1, 1], mid [r, r, kh, kw], up [out, r, 1, 1]
    return at::einsum("ijkl,jr,pi->prkl", {mid->second, down.reshape({r, -1}), up2});
  }
  return at::matmul(up2, down.reshape({r, -1}));
}

at::Tensor loha_delta(const AdapterModule& m, at::IntArrayRef target) {
  const auto& t = m.tensors;
  if (t.count("hada_t1")) {
    const auto w1 = tucker(t.at("hada_t1"), t.at("hada_w1_a"), t.at("hada_w1_b"));
    const auto w2 = tucker(t.at("hada_t2"), t.at("hada_w2_a"), t.at("hada_w2_b"));
    if (w1.sizes() != w2.sizes()) misfit(m, w1.sizes(), w2.sizes());
    return w1 * w2;
  }
  const auto w1 = at::matmul(t.at("hada_w1_a"), t.at("hada_w1_b"));
  const auto w2 = at::matmul(t.at("hada_w2_a"), t.at("hada_w2_b"));
  if (w1.sizes() != w2.sizes()) misfit(m, w1.sizes(), w2.sizes());
  return w1 * w2;
}

at::Tensor lokr_delta(const AdapterModule& m, at::IntArrayRef target) {
  const auto& t = m.tensors;
  const at::Tensor w1 = t.count("lokr_w1") ? t.at("lokr_w1") : at::matmul(t.at("lokr_w1_a"), t.at("lokr_w1_b"));
  at::Tensor w2;
  if (t.count("lokr_w2")) {
    w2 = t.at("lokr_w2");
  } else if (t.count("lokr_t2")) {  // einsum("i j k l, i p, j r -> p r k l", t2, w2_a, w2_b)
    w2 = at::einsum("ijkl,ip,jr->prkl", {t.at("lokr_t2"), t.at("lokr_w2_a"), t.at("lokr_w2_b").reshape({t.at("lokr_w2_b").size(0), -1})});
  } else {
    const auto& b = t.at("lokr_w2_b");
    w2 = at::matmul(t.at("lokr_w2_a"), b.reshape({b.size(0), -1}));
  }
  if (target.size() == 4) {  // a convolution: the kernel lives in w2
    if (w2.dim() == 2) {
      if (w2.size(1) % (target[2] * target[3]) != 0) misfit(m, w2.sizes(), target);
      w2 = w2.reshape({w2.size(0), -1, target[2], target[3]});
    }
    return at::kron(w1.reshape({w1.size(0), w1.size(1), 1, 1}).contiguous(), w2.contiguous());
  }
  if (w2.dim() != 2) misfit(m, w2.sizes(), target);
  return at::kron(w1.contiguous(), w2.contiguous());
}

// LyCORIS' weight decomposition: the merged weight W' = W + m·ΔW, then each column (the norm
// over every dimension but the input's; the output's for a dora_scale shaped [out, 1, ...])
// rescaled to dora_scale; at a multiplier ≠ 1 the rescale is interpolated as
// multiplier · (scale − 1) + 1.
at::Tensor decompose(const AdapterModule& m, const at::Tensor& merged, double multiplier) {
  const auto& ds = m.tensors.at("dora_scale");
  const bool on_out = ds.dim() >= 2 && ds.size(0) == merged.size(0) && ds.size(1) == 1 && merged.size(1) != 1;
  const float eps = std::numeric_limits<float>::epsilon();
  at::Tensor norm;
  std::vector<int64_t> shape(merged.dim(), 1);
  if (on_out) {
    shape[0] = merged.size(0);
    norm = merged.reshape({merged.size(0), -1}).norm(2, {1}).reshape(shape) + eps;
  } else {
    shape[1] = merged.size(1);
    norm = merged.transpose(0, 1).reshape({merged.size(1), -1}).norm(2, {1}).reshape(shape) + eps;
  }
  if (ds.numel() != numel_of(shape)) misfit(m, ds.sizes(), shape);
  auto scale = ds.reshape(shape) / norm;
  if (multiplier != 1.0) scale = multiplier * (scale - 1) + 1;
  return merged * scale;
}

// PEFT's DoRA (tuners/lora/dora.py, variants.py merge_safe): with the LoRA part
// D = multiplier · scale · ΔW (PEFT's scaling carries the adapter weight), the norm of each
// output row of base + D (the weight without the adapters; detached, no eps) gives
// f = magnitude / ‖base + D‖, and the layer computes f · (W + D): its forward
// y + (f − 1)·(W x) + f·D x, which merging equals.
at::Tensor peft_decompose(const AdapterModule& m, const at::Tensor& weight, const at::Tensor& base, const at::Tensor& d) {
  std::vector<int64_t> shape(weight.dim(), 1);
  shape[0] = weight.size(0);
  const auto norm = (base + d).reshape({weight.size(0), -1}).norm(2, {1}).reshape(shape);
  return m.tensors.at("magnitude").reshape(shape).to(weight.device()) / norm * (weight + d);
}

}  // namespace

at::Tensor delta_weight(const AdapterModule& m, at::IntArrayRef target) {
  at::Tensor d;
  try {
    switch (m.kind) {
      case AdapterKind::LoRA: d = lora_delta(m, target); break;
      case AdapterKind::LoHa: d = loha_delta(m, target); break;
      case AdapterKind::LoKr: d = lokr_delta(m, target); break;
      case AdapterKind::Full: d = m.tensors.at("diff"); break;
    }
  } catch (const c10::Error& e) {  // factors whose shapes do not compose
    throw Error(ErrorCode::ModelMismatch, std::string("the ") + kind_name(m.kind) + " factors do not compose: " +
                                              e.what_without_backtrace());
  }
  return fit(m, d, target) * m.scale();
}

at::Tensor merged_weight(const AdapterModule& m, const at::Tensor& weight, double multiplier, const at::Tensor& base) {
  const auto w = weight.to(at::kFloat);
  const auto d = delta_weight(m, w.sizes()).to(w.device());
  if (m.dora()) return decompose(m, w + d, multiplier);
  if (m.peft_dora()) return peft_decompose(m, w, base.defined() ? base.to(at::kFloat) : w, d * multiplier);
  return w + d * multiplier;
}

}  // namespace gen::adapters
