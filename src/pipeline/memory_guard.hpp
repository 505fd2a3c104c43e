// gen — the memory guard (docs/performance.md#memory-guard): before a request's first step,
// its peak memory on the target device is estimated — what the process already holds (the
// loaded weights, libtorch) plus the working memory of its largest stage — and compared with
// what the device has free. A request that cannot fit is refused (OutOfMemory, exit 9) with
// the estimate, what is available and what to change, instead of running until the machine
// swaps or the allocator fails halfway. EngineOptions::memory_guard = false skips it.
//
// The working memory of each stage, in bytes (e: the compute dtype's size; rows: the images
// of a batch, doubled by classifier-free guidance; T_l: the latent pixels at UNet level l):
// - UNet step: rows × e × (skips + widest), skips = Σ the down path's outputs kept for the up
//   path (conv_in, every resnet, every downsample: channels × T_l), widest = the largest
//   working set of one block: a transformer's GEGLU feed-forward (18 × C_l × T_l: its 8C
//   projection, 4C GELU, 4C product, input and norm) or a resnet (input + 3 outputs; up-path
//   resnets read the concatenated skip, twice). Attention adds nothing quadratic: ATen's SDPA
//   kernels (CPU flash, CUDA flash / memory-efficient) hold no tokens² map.
// - ControlNets: one encoder-half step (unet_step_bytes with encoder_only: its residuals, the
//   skips, and its widest block; an upper bound, as its widest block is gone when the UNet
//   runs), two while several are summed.
// - VAE decode at the output size: tiled_vae.hpp's estimates (untiled, exact-tiled, or one
//   blended tile) as --vae-tiling resolves, plus the float image and its two copies
//   (batch × 3 × H × W × 4 × 3).
// - Editing / hires with an upscaler model: the VAE encode, estimated as the decode.
// - Hires fix: the second pass's UNet step and decode at its size.
// The sum is multiplied by kWorkFactor, calibrated against measured peak RSS
// (tools/bench_memory.py; the table in docs/performance.md).
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <string>

#include "gen/request.hpp"
#include "models/unet.hpp"
#include "models/vae.hpp"

namespace gen::pipeline {

// The allocator's overhead and the temporaries not modelled above (measured: see the header).
inline constexpr double kWorkFactor = 2.0;

// A UNet (or a ControlNet's encoder half, `encoder_only`) step on `rows` latents of h × w.
std::int64_t unet_step_bytes(const models::UNetConfig& c, std::int64_t latent_h, std::int64_t latent_w,
                             std::int64_t rows, std::size_t element_size, bool encoder_only = false);

// A VAE decode of `batch` images of height × width as `mode` resolves on `device`.
std::int64_t decode_step_bytes(const models::Vae& vae, std::int64_t height, std::int64_t width, std::int64_t batch,
                               TilingMode mode, c10::Device device, at::ScalarType dtype);

struct MemoryEstimate {
  std::int64_t in_use = 0;      // held now: the process's RSS (CPU) or tensors allocated (CUDA)
  std::int64_t work = 0;        // the largest stage's working memory (× kWorkFactor)
  std::string stage;            // which stage that is ("UNet step at 512x512 × 2 rows", ...)
  std::int64_t available = -1;  // what the work may take: free memory (-1: unknown)
  std::string available_from;   // where `available` comes from (MemAvailable, a cgroup, cudaMemGetInfo, --memory-limit)
  std::int64_t peak() const { return in_use + work; }
};

// The estimate of `req` (width, height, batch_size, cfg, hires, tiling, editing) on the UNet,
// VAE and `controlnets` ControlNets loaded, on `device` in `dtype`; `limit` > 0 caps the
// peak at that many bytes (EngineOptions::memory_limit).
MemoryEstimate estimate_memory(const Request& req, const models::UNetConfig& unet, const models::Vae& vae,
                               int controlnets, int vae_factor, c10::Device device, at::ScalarType dtype,
                               std::int64_t limit);

// OutOfMemory (exit 9) when the work does not fit what is available: the message gives the
// estimate, what is available and what to change. Nothing when `available` is unknown.
void check_memory(const MemoryEstimate& e, const Request& req);

}  // namespace gen::pipeline
