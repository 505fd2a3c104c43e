// CUDA graphs, device timelines and the sync check (kernels.hpp) over libtorch's CUDA API.
#include <ATen/Context.h>
#include <ATen/core/CachingHostAllocator.h>
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <chrono>
#include <optional>

#include "kernels.hpp"

namespace gen::kernels {

namespace {

// The side stream every capture and warm-up runs on (one per device, from libtorch's pool).
c10::cuda::CUDAStream side_stream() {
  static thread_local std::optional<c10::cuda::CUDAStream> stream;
  const auto device = c10::cuda::current_device();
  if (!stream || stream->device_index() != device) stream = c10::cuda::getStreamFromPool(false, device);
  return *stream;
}

// `waiter` starts its next work after everything enqueued so far on `first`.
void order_after(c10::cuda::CUDAStream waiter, c10::cuda::CUDAStream first) {
  at::cuda::CUDAEvent done;
  done.record(first);
  done.block(waiter);
}

}  // namespace

bool cuda_graphs_available() noexcept {
  try {
    return at::hasCUDA() && c10::cuda::device_count() > 0;
  } catch (...) {
    return false;
  }
}

struct CudaGraph::Impl {
  std::unique_ptr<at::cuda::CUDAGraph> graph = std::make_unique<at::cuda::CUDAGraph>();
  at::cuda::MempoolId_t pool{0, 0};
  bool captured = false;
};

CudaGraph::CudaGraph() : impl_(std::make_unique<Impl>()) {}
CudaGraph::~CudaGraph() = default;

bool CudaGraph::captured() const noexcept { return impl_->captured; }

void CudaGraph::warm_up(const std::function<void()>& body) {
  const auto main = c10::cuda::getCurrentCUDAStream();
  const auto side = side_stream();
  order_after(side, main);
  {
    c10::cuda::CUDAStreamGuard guard(side);
    body();
  }
  // Once per graph, outside the loop's steady state: what the warm-up allocated on the side
  // stream is free for the caller's stream afterwards.
  side.synchronize();
}

void CudaGraph::capture(const std::function<void()>& body, const CudaGraph* share_pool_with) {
  TORCH_CHECK(!impl_->captured, "CudaGraph::capture: this graph is already captured");
  const auto main = c10::cuda::getCurrentCUDAStream();
  const auto side = side_stream();
  order_after(side, main);
  // A pool handle known here (not made inside capture_begin), so that a failed capture can
  // hand its pool back.
  const auto pool = share_pool_with && share_pool_with->impl_->captured ? share_pool_with->impl_->pool
                                                                        : at::cuda::graph_pool_handle();
  const auto device = c10::cuda::current_device();
  c10::cuda::CUDAStreamGuard guard(side);
  impl_->graph->capture_begin(pool);
  try {
    body();
    impl_->graph->capture_end();
  } catch (...) {
    // End the capture (if still open) so that the stream and the allocator stay usable,
    // give the pool back, forget the graph, then report.
    cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
    if (cudaStreamIsCapturing(side.stream(), &status) == cudaSuccess && status != cudaStreamCaptureStatusNone) {
      cudaGraph_t broken = nullptr;
      (void)cudaStreamEndCapture(side.stream(), &broken);
      if (broken) (void)cudaGraphDestroy(broken);
      c10::cuda::CUDACachingAllocator::endAllocateToPool(device, pool);
      at::getHostAllocator(at::kCUDA)->end_allocate_to_pool(pool);
      c10::cuda::CUDACachingAllocator::releasePool(device, pool);
      at::getHostAllocator(at::kCUDA)->release_pool(pool);
    }
    (void)cudaGetLastError();
    impl_->graph = std::make_unique<at::cuda::CUDAGraph>();
    throw;
  }
  impl_->pool = pool;
  impl_->captured = true;
}

void CudaGraph::replay() {
  TORCH_CHECK(impl_->captured, "CudaGraph::replay: nothing captured");
  impl_->graph->replay();
}

struct Timeline::Impl {
  bool cuda = false;
  std::vector<at::cuda::CUDAEvent> events;
  std::vector<std::chrono::steady_clock::time_point> clocks;
};

Timeline::Timeline(bool cuda) : impl_(std::make_unique<Impl>()) { impl_->cuda = cuda && at::hasCUDA(); }
Timeline::~Timeline() = default;

void Timeline::mark() {
  if (!impl_->cuda) {
    impl_->clocks.push_back(std::chrono::steady_clock::now());
    return;
  }
  impl_->events.emplace_back(cudaEventDefault);  // timing enabled
  impl_->events.back().record(c10::cuda::getCurrentCUDAStream());
}

std::vector<double> Timeline::intervals() {
  std::vector<double> out;
  if (!impl_->cuda) {
    for (std::size_t i = 1; i < impl_->clocks.size(); ++i)
      out.push_back(std::chrono::duration<double>(impl_->clocks[i] - impl_->clocks[i - 1]).count());
    return out;
  }
  if (impl_->events.empty()) return out;
  impl_->events.back().synchronize();
  for (std::size_t i = 1; i < impl_->events.size(); ++i)
    out.push_back(impl_->events[i - 1].elapsed_time(impl_->events[i]) / 1000.0);
  return out;
}

SyncCheck::SyncCheck(bool on) : on_(on && at::hasCUDA()) {
  if (!on_) return;
  auto& state = c10::cuda::warning_state();
  previous_ = static_cast<int>(state.get_sync_debug_mode());
  state.set_sync_debug_mode(c10::cuda::SyncDebugMode::L_ERROR);
}

SyncCheck::~SyncCheck() {
  if (on_) c10::cuda::warning_state().set_sync_debug_mode(static_cast<c10::cuda::SyncDebugMode>(previous_));
}

}  // namespace gen::kernels
