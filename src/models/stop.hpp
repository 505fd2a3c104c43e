// gen — the stop flag a model call checks between its blocks, so that SIGINT / SIGTERM /
// Engine::cancel() take effect within a fraction of one model call on large requests (a UNet
// call at 2048² takes minutes on a CPU) instead of at the next step.
//
// The flag is the generate() call's cancel flag, made visible to the model code of the calling
// thread by a StopScope (pipeline::Engine::generate sets one); without a scope, or with a null
// flag, check_stop() does nothing. The cost: one thread-local read and one relaxed atomic load
// per block.
#pragma once

#include <atomic>

namespace gen::models {

class StopScope {
 public:
  // `flag` (may be null: no checks, e.g. while a CUDA graph is captured) for this thread until
  // the scope ends; scopes nest.
  explicit StopScope(const std::atomic<bool>* flag) noexcept;
  ~StopScope();
  StopScope(const StopScope&) = delete;
  StopScope& operator=(const StopScope&) = delete;

 private:
  const std::atomic<bool>* previous_;
};

namespace detail {
extern thread_local const std::atomic<bool>* stop_flag;
[[noreturn]] void stopped();
}  // namespace detail

// Throws gen::Error (Cancelled) when this thread's stop flag is set.
inline void check_stop() {
  const auto* f = detail::stop_flag;
  if (f && f->load(std::memory_order_relaxed)) detail::stopped();
}

}  // namespace gen::models
