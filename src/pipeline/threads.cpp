#include "pipeline/threads.hpp"

#include <ATen/Parallel.h>
#include <sched.h>

#include <thread>

namespace gen::pipeline {

int available_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  const unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? static_cast<int>(n) : 1;
}

int threads_for(double work, int option, int cpus) {
  if (option > 0) return option;
  return work < kSmallWork ? 1 : (cpus > 0 ? cpus : 1);
}

double request_work(std::int64_t width, std::int64_t height, std::int64_t channels, std::int64_t batch) {
  return double(width / 8) * double(height / 8) * double(channels) * double(channels) * double(batch);
}

void use_threads(int threads) {
  if (threads > 0 && at::get_num_threads() != threads) at::set_num_threads(threads);
}

}  // namespace gen::pipeline
