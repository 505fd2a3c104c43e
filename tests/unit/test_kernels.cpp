// Custom CUDA kernels against their ATen references. These need a GPU: on a
// machine without one (CI) they report SKIPPED with the reason.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/Context.h>

#include "kernels.hpp"

namespace {

bool have_gpu() { return gen::kernels::available() && at::hasCUDA(); }

at::Tensor reference_group_norm_silu(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b,
                                     int64_t groups, double eps, bool silu) {
  auto y = at::group_norm(x.to(at::kFloat), groups, w.to(at::kFloat), b.to(at::kFloat), eps);
  return silu ? at::silu(y) : y;
}

}  // namespace

TEST(Kernels, GroupNormSiluMatchesATen) {
  if (!have_gpu()) GTEST_SKIP() << "needs a CUDA GPU and a CUDA build";
  at::manual_seed(0);
  for (auto dtype : {at::kFloat, at::kHalf, at::kBFloat16}) {
    for (bool silu : {false, true}) {
      auto opts = at::TensorOptions().device(at::kCUDA);
      auto x = (at::randn({2, 320, 24, 17}, opts) * 3 + 0.5)
                   .to(dtype)
                   .contiguous(at::MemoryFormat::ChannelsLast);
      auto w = at::randn({320}, opts), b = at::randn({320}, opts);
      auto got = gen::kernels::group_norm_silu(x, w, b, 32, 1e-5, silu).to(at::kFloat);
      auto want = reference_group_norm_silu(x, w, b, 32, 1e-5, silu);
      const double tol = dtype == at::kFloat ? 1e-4 : (dtype == at::kHalf ? 1e-2 : 5e-2);
      EXPECT_TRUE(at::allclose(got, want, tol, tol))
          << "dtype " << dtype << " silu " << silu << " max diff "
          << (got - want).abs().max().item<float>();
    }
  }
}

TEST(Kernels, GroupNormSiluRejectsBadInputs) {
  if (!have_gpu()) GTEST_SKIP() << "needs a CUDA GPU and a CUDA build";
  auto opts = at::TensorOptions().device(at::kCUDA);
  auto w = at::ones({30}, opts), b = at::zeros({30}, opts);
  auto nchw = at::randn({1, 30, 4, 4}, opts);  // not channels-last
  EXPECT_THROW(gen::kernels::group_norm_silu(nchw, w, b, 3, 1e-5, true), c10::Error);
  auto cl = nchw.contiguous(at::MemoryFormat::ChannelsLast);
  EXPECT_THROW(gen::kernels::group_norm_silu(cl, w, b, 7, 1e-5, true), c10::Error);
  EXPECT_THROW(gen::kernels::group_norm_silu(cl.cpu(), w.cpu(), b.cpu(), 3, 1e-5, true), c10::Error);
}

TEST(Kernels, CpuBuildSaysNoKernels) {
  if (gen::kernels::available()) GTEST_SKIP() << "this build has the CUDA kernels";
  auto x = at::randn({1, 4, 2, 2}).contiguous(at::MemoryFormat::ChannelsLast);
  EXPECT_THROW(gen::kernels::group_norm_silu(x, at::ones({4}), at::zeros({4}), 2, 1e-5, true),
               c10::Error);
}
