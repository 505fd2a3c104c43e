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

// The CUDA graph wrapper: a capture runs nothing, each replay recomputes from the static
// input; the kernel runs captured like any ATen operation; an operation that cannot be
// captured (a host synchronisation) fails the capture with an error and leaves the stream,
// the allocator and later captures working.
TEST(Kernels, CudaGraphCapturesReplaysAndSurvivesAFailedCapture) {
  if (!have_gpu() || !gen::kernels::cuda_graphs_available()) GTEST_SKIP() << "needs a CUDA GPU and a CUDA build";
  auto opts = at::TensorOptions().device(at::kCUDA).dtype(at::kHalf);
  auto x = at::randn({1, 64, 8, 8}, opts).contiguous(at::MemoryFormat::ChannelsLast);
  auto w = at::randn({64}, opts.dtype(at::kFloat)), b = at::randn({64}, opts.dtype(at::kFloat));
  auto step = [&] { return gen::kernels::group_norm_silu(x * 2 + 1, w, b, 32, 1e-5, true); };
  at::Tensor out;
  gen::kernels::CudaGraph::warm_up([&] { out = step(); });
  gen::kernels::CudaGraph graph;
  const auto before = out.clone();
  graph.capture([&] { out = step(); });
  EXPECT_TRUE(graph.captured());
  for (int i = 0; i < 3; ++i) {
    x.copy_(at::randn_like(x));
    graph.replay();
    EXPECT_TRUE(at::equal(out, step())) << "replay " << i;
  }
  EXPECT_FALSE(at::equal(out, before));

  gen::kernels::CudaGraph broken;
  EXPECT_THROW(broken.capture([&] { (void)x.sum().item<float>(); }), c10::Error);
  EXPECT_FALSE(broken.captured());
  auto y = step();  // the stream still works, eagerly and captured (sharing the first pool)
  gen::kernels::CudaGraph again;
  at::Tensor out2;
  again.capture([&] { out2 = step(); }, &graph);
  again.replay();
  EXPECT_TRUE(at::equal(out2, y));
}

TEST(Kernels, SyncCheckTurnsHostSynchronisationIntoErrors) {
  if (!have_gpu()) GTEST_SKIP() << "needs a CUDA GPU and a CUDA build";
  auto x = at::ones({16}, at::TensorOptions().device(at::kCUDA));
  {
    gen::kernels::SyncCheck check(true);
    EXPECT_THROW((void)x.sum().item<float>(), c10::Error);
    EXPECT_THROW((void)at::ones({16}).to(at::kCUDA), c10::Error);  // a blocking copy from pageable memory
    EXPECT_NO_THROW((void)at::ones({16}).pin_memory().to(at::kCUDA, /*non_blocking=*/true));
  }
  EXPECT_EQ(x.sum().item<float>(), 16.0f);
}

TEST(Kernels, TimelineMeasuresBetweenMarks) {
  for (bool cuda : {false, true}) {
    if (cuda && !have_gpu()) continue;
    gen::kernels::Timeline t(cuda);
    t.mark();
    auto x = at::randn({256, 256}, at::TensorOptions().device(cuda ? at::kCUDA : at::kCPU));
    for (int i = 0; i < 3; ++i) {
      x = x.mm(x).tanh();
      t.mark();
    }
    const auto v = t.intervals();
    ASSERT_EQ(v.size(), 3u);
    for (double s : v) EXPECT_GE(s, 0);
  }
}
