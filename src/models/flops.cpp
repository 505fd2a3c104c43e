#include "models/flops.hpp"

namespace gen::models::flops {
namespace {
thread_local double g_total = 0;
}

double total() noexcept { return g_total; }

void add(double flops) noexcept { g_total += flops; }

void conv(const at::Tensor& w, const at::Tensor& out) noexcept {
  // w: [Cout, Cin/groups, kh, kw]
  g_total += 2.0 * static_cast<double>(out.numel()) * static_cast<double>(w.size(1) * w.size(2) * w.size(3));
}

void linear(const at::Tensor& x, const at::Tensor& w) noexcept {
  // w: [out, in]; x: [..., in]
  const double rows = static_cast<double>(x.numel()) / static_cast<double>(w.size(1));
  g_total += 2.0 * rows * static_cast<double>(w.size(0) * w.size(1));
}

void attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) noexcept {
  // [..., Lq, d] × [..., Lk, d] → [..., Lq, Lk] × [..., Lk, dv]
  const auto lq = q.size(-2), d = q.size(-1), lk = k.size(-2), dv = v.size(-1);
  const double batch = static_cast<double>(q.numel()) / static_cast<double>(lq * d);
  g_total += 2.0 * batch * static_cast<double>(lq) * static_cast<double>(lk) * static_cast<double>(d + dv);
}

}  // namespace gen::models::flops
