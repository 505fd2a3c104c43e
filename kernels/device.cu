// CUDA device queries used by `gen bench`: peak memory of the caching allocator, and a
// device-wide synchronisation for stage timings.
#include <ATen/Context.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>

#include "kernels.hpp"

namespace gen::kernels {

std::int64_t cuda_peak_allocated() noexcept {
  try {
    if (!at::hasCUDA()) return -1;
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(c10::cuda::current_device());
    return stats.allocated_bytes[static_cast<std::size_t>(c10::CachingAllocator::StatType::AGGREGATE)].peak;
  } catch (...) {
    return -1;
  }
}

std::int64_t cuda_peak_reserved() noexcept {
  try {
    if (!at::hasCUDA()) return -1;
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(c10::cuda::current_device());
    return stats.reserved_bytes[static_cast<std::size_t>(c10::CachingAllocator::StatType::AGGREGATE)].peak;
  } catch (...) {
    return -1;
  }
}

void cuda_reset_peak() noexcept {
  try {
    if (at::hasCUDA()) c10::cuda::CUDACachingAllocator::resetPeakStats(c10::cuda::current_device());
  } catch (...) {
  }
}

void cuda_synchronize() {
  if (at::hasCUDA()) c10::cuda::device_synchronize();
}

}  // namespace gen::kernels
