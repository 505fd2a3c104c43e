// CPU-only builds: the kernels are absent; callers use the ATen path.
#include <c10/util/Exception.h>

#include "kernels.hpp"

namespace gen::kernels {

bool available() noexcept { return false; }

at::Tensor group_norm_silu(const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t,
                           double, bool) {
  TORCH_CHECK(false, "group_norm_silu: this build of gen has no CUDA kernels");
}

std::int64_t cuda_peak_allocated() noexcept { return -1; }
void cuda_reset_peak() noexcept {}
void cuda_synchronize() {}

}  // namespace gen::kernels
