// Whether the custom kernels run: per thread, set by the engine from its options
// (EngineOptions::fused_kernels), so an embedding application sees no hidden switch.
#include "kernels.hpp"

namespace gen::kernels {
namespace {
thread_local bool t_allowed = true;
}

bool enabled() noexcept { return t_allowed && available(); }

KernelScope::KernelScope(bool on) noexcept : previous_(t_allowed) { t_allowed = on; }
KernelScope::~KernelScope() { t_allowed = previous_; }

}  // namespace gen::kernels
