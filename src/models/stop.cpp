#include "models/stop.hpp"

#include "core/fail.hpp"

namespace gen::models {
namespace detail {
thread_local const std::atomic<bool>* stop_flag = nullptr;

void stopped() { fail(ErrorCode::Cancelled, "generation", "cancelled during a model call (checked between its blocks)"); }
}  // namespace detail

StopScope::StopScope(const std::atomic<bool>* flag) noexcept : previous_(detail::stop_flag) { detail::stop_flag = flag; }
StopScope::~StopScope() { detail::stop_flag = previous_; }

}  // namespace gen::models
