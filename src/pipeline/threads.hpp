// gen — how many CPU threads a request's tensor work uses. docs/performance.md#threads.
//
// libtorch splits an operation over its threads and waits for all of them at the end (fork
// and join). On a machine shared with other work the threads are time-sliced, and every
// operation waits until each of them got its turn: with a model this small that waiting is
// most of the time (measured on 2 busy cores: 19 tiny jobs 3.4 s with one thread, over 40 s
// with two). So by default a request whose work per operation is small runs on one thread,
// and a larger one on every CPU the process may use; an explicit thread count is kept. The
// choice depends only on the request and the machine, so the same request gives the same
// image (the thread count changes low bits of CPU results: docs/determinism.md).
#pragma once

#include <cstdint>

namespace gen::pipeline {

// The CPUs this process may run on (its affinity mask: a container or taskset may allow
// fewer than the machine has).
int available_cpus();

// Below this many latent pixels × base channels² × images per batch (the work of one
// first-level convolution, in units of 9 multiply-adds), a request runs on one thread by
// default: the tiny test models (64×64 px, 32 channels: 2^16) do; SD 1.5 at 512×512 (2^28.6)
// or even 64×64 px (2^22.6) does not.
inline constexpr double kSmallWork = double(1 << 22);

// The thread count for a request: `option` when it is > 0, else 1 when `work` is below
// kSmallWork, else `cpus`.
int threads_for(double work, int option, int cpus);

// The work measure above for a UNet of base width `channels` at `width`×`height` pixels
// (latents 8× smaller) with `batch` images.
double request_work(std::int64_t width, std::int64_t height, std::int64_t channels, std::int64_t batch);

// Sets libtorch's intra-op thread count when it differs (process-wide).
void use_threads(int threads);

}  // namespace gen::pipeline
