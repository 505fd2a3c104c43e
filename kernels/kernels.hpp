// gen — custom CUDA kernels. Each has an ATen reference (tests/unit/test_kernels.cpp)
// and checks device, dtype, shape and contiguity before launching on the current stream.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace gen::kernels {

// True when this build carries the CUDA kernels (GEN_CUDA=ON and nvcc found).
bool available() noexcept;

// available(), unless a KernelScope on this thread turned them off: the ATen paths then
// run instead, for side-by-side measurements (EngineOptions::fused_kernels).
bool enabled() noexcept;

// While alive, enabled() on this thread answers `on && available()` (the engine opens one
// per request, from its options).
class KernelScope {
 public:
  explicit KernelScope(bool on) noexcept;
  ~KernelScope();
  KernelScope(const KernelScope&) = delete;
  KernelScope& operator=(const KernelScope&) = delete;

 private:
  bool previous_;
};

// GroupNorm over a 4-D channels-last CUDA tensor (N, C, H, W) in f16/bf16/f32,
// with per-channel affine weight and bias (f32 or the input's dtype), optionally
// followed by SiLU. Statistics are accumulated in f32. Returns a channels-last tensor.
// Throws c10::Error (from TORCH_CHECK) when the inputs do not fit those rules.
at::Tensor group_norm_silu(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                           int64_t groups, double eps, bool silu);

// Peak bytes held by libtorch's CUDA caching allocator on the current device since the last
// reset; -1 without CUDA.
std::int64_t cuda_peak_allocated() noexcept;
// Peak bytes the caching allocator reserved from the driver (tensors, its cache, and the
// memory pools of CUDA graphs, whose replays allocate nothing the allocated peak would see).
std::int64_t cuda_peak_reserved() noexcept;
void cuda_reset_peak() noexcept;
// Waits for all work on the current device (no-op without CUDA).
void cuda_synchronize();

// True when this build can capture CUDA graphs and a CUDA device is present.
bool cuda_graphs_available() noexcept;

// A CUDA graph of the work a function enqueues (kernels/cuda_graph.cu): captured once on a
// side stream that first waits for the current stream, then replayed on the current stream.
// Tensors the captured work allocates live in the graph's private memory pool; the ones it
// returns stay valid (and are overwritten by every replay) for as long as the caller keeps
// them. Several graphs may share one pool when they are never replayed concurrently.
class CudaGraph {
 public:
  CudaGraph();
  ~CudaGraph();
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;

  // Runs `body` eagerly on the side stream the captures use (after the current stream's
  // work) and waits for it: lazy initialisations (library handles, workspaces) happen here,
  // outside any capture.
  static void warm_up(const std::function<void()>& body);
  // Records `body` into this graph; nothing runs. `share_pool_with`: a captured graph whose
  // pool this one shares (nullptr: a pool of its own). On failure (an operation that cannot
  // be captured, such as a host synchronisation) the capture is ended, the stream stays
  // usable, and c10::Error is thrown.
  void capture(const std::function<void()>& body, const CudaGraph* share_pool_with = nullptr);
  // Launches the captured work on the current stream (no host synchronisation).
  void replay();
  bool captured() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Device-side timestamps on the current stream (CUDA events), read once at the end so that
// timing adds no host synchronisation to the loop it measures. Without CUDA: host clocks.
class Timeline {
 public:
  explicit Timeline(bool cuda);
  ~Timeline();
  Timeline(const Timeline&) = delete;
  Timeline& operator=(const Timeline&) = delete;
  void mark();  // records a timestamp after the work enqueued so far
  // Seconds between consecutive marks; waits for the last one.
  std::vector<double> intervals();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// While alive (and `on`), any host-device synchronisation libtorch performs on CUDA (a
// blocking copy, .item(), a stream or device synchronise) throws c10::Error instead
// (c10's sync debug mode). For tests that check a loop never waits for the GPU.
class SyncCheck {
 public:
  explicit SyncCheck(bool on);
  ~SyncCheck();
  SyncCheck(const SyncCheck&) = delete;
  SyncCheck& operator=(const SyncCheck&) = delete;

 private:
  int previous_ = 0;
  bool on_ = false;
};

}  // namespace gen::kernels
