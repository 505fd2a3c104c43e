// CPU-only builds: the kernels are absent; callers use the ATen path.
#include <c10/util/Exception.h>

#include <chrono>

#include "kernels.hpp"

namespace gen::kernels {

bool available() noexcept { return false; }

at::Tensor group_norm_silu(const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t,
                           double, bool) {
  TORCH_CHECK(false, "group_norm_silu: this build of gen has no CUDA kernels");
}

std::int64_t cuda_peak_allocated() noexcept { return -1; }
std::int64_t cuda_peak_reserved() noexcept { return -1; }
void cuda_reset_peak() noexcept {}
void cuda_synchronize() {}

bool cuda_graphs_available() noexcept { return false; }

struct CudaGraph::Impl {};
CudaGraph::CudaGraph() = default;
CudaGraph::~CudaGraph() = default;
void CudaGraph::warm_up(const std::function<void()>&) {
  TORCH_CHECK(false, "CUDA graphs: this build of gen has no CUDA support");
}
void CudaGraph::capture(const std::function<void()>&, const CudaGraph*) {
  TORCH_CHECK(false, "CUDA graphs: this build of gen has no CUDA support");
}
void CudaGraph::replay() { TORCH_CHECK(false, "CUDA graphs: this build of gen has no CUDA support"); }
bool CudaGraph::captured() const noexcept { return false; }

struct Timeline::Impl {
  std::vector<std::chrono::steady_clock::time_point> clocks;
};
Timeline::Timeline(bool) : impl_(std::make_unique<Impl>()) {}
Timeline::~Timeline() = default;
void Timeline::mark() { impl_->clocks.push_back(std::chrono::steady_clock::now()); }
std::vector<double> Timeline::intervals() {
  std::vector<double> out;
  for (std::size_t i = 1; i < impl_->clocks.size(); ++i)
    out.push_back(std::chrono::duration<double>(impl_->clocks[i] - impl_->clocks[i - 1]).count());
  return out;
}

SyncCheck::SyncCheck(bool) {}
SyncCheck::~SyncCheck() = default;

}  // namespace gen::kernels
