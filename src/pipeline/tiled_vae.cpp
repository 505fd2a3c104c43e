#include "pipeline/tiled_vae.hpp"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <unistd.h>

#include <algorithm>
#include <functional>
#include <string>

#include "core/fail.hpp"

// Free device memory needs the CUDA runtime: only builds that compile the CUDA kernels
// (GEN_CUDA=ON with nvcc) have its headers and link c10_cuda.
#if defined(GEN_HAS_CUDA_KERNELS) && GEN_HAS_CUDA_KERNELS && __has_include(<cuda_runtime_api.h>) && \
    __has_include(<c10/cuda/CUDACachingAllocator.h>)
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <cuda_runtime_api.h>
#define GEN_TILED_VAE_CUDA 1
#endif

namespace gen::pipeline {

namespace {

std::int64_t factor_of(const models::Vae& vae) {
  return std::int64_t{1} << (vae.config().levels() - 1);
}

void check_tiling(const VaeTiling& t) {
  if (t.tile_latent < 1 || t.overlap_latent < 0 || t.overlap_latent >= t.tile_latent)
    fail(ErrorCode::InvalidArgument, "VAE tiling",
         "need tile >= 1 and 0 <= overlap < tile, got tile " + std::to_string(t.tile_latent) + ", overlap " +
             std::to_string(t.overlap_latent));
}

// Blend weights of every tile along one axis, in output units (latent × scale), normalised so
// that they sum to one at each output position. Tile i ramps up linearly across its overlap
// with tile i−1 and down across its overlap with tile i+1 (weights stay > 0, so the
// normalisation is defined everywhere).
std::vector<at::Tensor> axis_weights(const std::vector<std::int64_t>& pos, std::int64_t tile, std::int64_t size,
                                     std::int64_t scale) {
  const auto n = static_cast<std::int64_t>(pos.size());
  const auto len = tile * scale;
  std::vector<at::Tensor> w;
  auto sum = at::zeros({size * scale}, at::kDouble);
  for (std::int64_t i = 0; i < n; ++i) {
    auto x = at::arange(len, at::kDouble) + 0.5;  // pixel centres, tile-relative
    auto wi = at::ones({len}, at::kDouble);
    if (i > 0) {  // overlap with the previous tile: [0, prev_end − pos_i)
      const double b = static_cast<double>((pos[i - 1] + tile - pos[i]) * scale);
      wi = wi * (x / b).clamp_max(1.0);
    }
    if (i + 1 < n) {  // overlap with the next tile: [pos_{i+1} − pos_i, tile)
      const double a = static_cast<double>((pos[i + 1] - pos[i]) * scale);
      wi = wi * ((static_cast<double>(len) - x) / (static_cast<double>(len) - a)).clamp_max(1.0);
    }
    sum.slice(0, pos[i] * scale, pos[i] * scale + len) += wi;
    w.push_back(wi);
  }
  for (std::int64_t i = 0; i < n; ++i) w[i] = w[i] / sum.slice(0, pos[i] * scale, pos[i] * scale + len);
  return w;
}

// Runs `fn` on overlapping tiles of `input` (tile grid in latent units; input offsets ×
// in_scale, output offsets × out_scale) and blends each of its outputs into full-size
// tensors of `out_channels[k]` channels.
std::vector<at::Tensor> run_tiled(const at::Tensor& input, std::int64_t lat_h, std::int64_t lat_w,
                                  const VaeTiling& t, std::int64_t in_scale, std::int64_t out_scale,
                                  const std::function<std::vector<at::Tensor>(const at::Tensor&)>& fn) {
  const auto th = std::min<std::int64_t>(t.tile_latent, lat_h), tw = std::min<std::int64_t>(t.tile_latent, lat_w);
  const auto ys = tile_positions(lat_h, t.tile_latent, t.overlap_latent);
  const auto xs = tile_positions(lat_w, t.tile_latent, t.overlap_latent);
  const auto wy = axis_weights(ys, th, lat_h, out_scale), wx = axis_weights(xs, tw, lat_w, out_scale);
  const auto format = input.suggest_memory_format();
  std::vector<at::Tensor> out;
  for (std::size_t i = 0; i < ys.size(); ++i) {
    for (std::size_t j = 0; j < xs.size(); ++j) {
      auto tile = input.slice(2, ys[i] * in_scale, (ys[i] + th) * in_scale)
                      .slice(3, xs[j] * in_scale, (xs[j] + tw) * in_scale)
                      .contiguous(format);
      auto res = fn(tile);
      if (out.empty())
        for (const auto& r : res)
          out.push_back(at::zeros({r.size(0), r.size(1), lat_h * out_scale, lat_w * out_scale},
                                  r.options().dtype(at::kFloat)));
      // Blend in f32: half-precision accumulation would add rounding at every overlap.
      auto w = (wy[i].unsqueeze(1) * wx[j].unsqueeze(0)).to(res[0].device(), at::kFloat);
      for (std::size_t k = 0; k < res.size(); ++k)
        out[k].slice(2, ys[i] * out_scale, ys[i] * out_scale + th * out_scale)
            .slice(3, xs[j] * out_scale, xs[j] * out_scale + tw * out_scale)
            .add_(res[k].to(at::kFloat) * w);
    }
  }
  return out;
}

}  // namespace

std::vector<std::int64_t> tile_positions(std::int64_t size, std::int64_t tile, std::int64_t overlap) {
  if (size <= tile) return {0};
  const auto stride = tile - overlap;
  const auto count = 1 + (size - tile + stride - 1) / stride;
  std::vector<std::int64_t> pos;
  for (std::int64_t i = 0; i < count; ++i)  // evenly spread, rounded: first 0, last size − tile
    pos.push_back((i * (size - tile) * 2 + (count - 1)) / (2 * (count - 1)));
  return pos;
}

at::Tensor tiled_decode(const models::Vae& vae, const at::Tensor& z, const VaeTiling& t, std::string* how) {
  check_tiling(t);
  auto said = [&](const char* method) {
    if (how) *how = method;
  };
  if (z.size(2) <= t.tile_latent && z.size(3) <= t.tile_latent) {
    said("untiled");
    return vae.decode(z);
  }
  const auto f = factor_of(vae);
  if (resolve_method(vae, z.size(2) * f, z.size(3) * f, z.size(0), z.device(), z.scalar_type(), t) ==
      VaeTiling::Method::Exact) {
    try {
      said("exact");
      return vae.decode_tiled(z, t.tile_latent);
    } catch (const c10::OutOfMemoryError&) {
      // Asked for exact: that is the error. Chosen by Auto: the estimate was short; what the
      // exact method allocated is released by now, and the blended method needs one tile's worth.
      if (t.method == VaeTiling::Method::Exact) throw;
    }
  }
  said("blended");
  auto out = run_tiled(z, z.size(2), z.size(3), t, 1, f,
                       [&](const at::Tensor& tile) { return std::vector<at::Tensor>{vae.decode(tile)}; });
  return out[0].to(z.scalar_type()).contiguous(z.suggest_memory_format());
}

std::pair<at::Tensor, at::Tensor> tiled_encode(const models::Vae& vae, const at::Tensor& x, const VaeTiling& t) {
  check_tiling(t);
  const auto f = factor_of(vae);
  if (x.size(2) % f || x.size(3) % f)
    fail(ErrorCode::InvalidArgument, "VAE tiling",
         "the image size " + std::to_string(x.size(3)) + "x" + std::to_string(x.size(2)) + " is not a multiple of " +
             std::to_string(f));
  const auto h = x.size(2) / f, w = x.size(3) / f;
  if (h <= t.tile_latent && w <= t.tile_latent) return vae.encode(x);
  auto out = run_tiled(x, h, w, t, f, 1, [&](const at::Tensor& tile) {
    auto [mean, logvar] = vae.encode(tile);
    return std::vector<at::Tensor>{mean, logvar};
  });
  return {out[0].to(x.scalar_type()), out[1].to(x.scalar_type())};
}

std::int64_t estimate_decode_bytes(const models::Vae& vae, std::int64_t height, std::int64_t width,
                                   std::int64_t batch, at::ScalarType dtype) {
  // Walk the decoder as Vae builds it: (channels, resolution divisor) of every convolution
  // input, keeping the largest channels / divisor².
  const auto& c = vae.config();
  const auto levels = static_cast<std::int64_t>(c.levels());
  std::int64_t ch = c.block_channels.back(), div = std::int64_t{1} << (levels - 1);
  double widest = static_cast<double>(ch) / static_cast<double>(div * div);
  for (auto l = levels - 1; l >= 0; --l) {
    widest = std::max(widest, static_cast<double>(ch) / static_cast<double>(div * div));  // block 0 input
    ch = c.block_channels[l];
    if (l > 0) div /= 2;  // the upsample convolution runs on ch channels at the next size
    widest = std::max(widest, static_cast<double>(ch) / static_cast<double>(div * div));
  }
  constexpr double kLiveTensors = 4.0;
  return static_cast<std::int64_t>(widest * static_cast<double>(batch * height * width) *
                                   static_cast<double>(c10::elementSize(dtype)) * kLiveTensors);
}

std::int64_t estimate_exact_tiled_bytes(const models::Vae& vae, std::int64_t height, std::int64_t width,
                                        std::int64_t batch, at::ScalarType dtype, const VaeTiling& t) {
  const auto f = factor_of(vae);
  return vae.decode_tiled_bytes(height / f, width / f, batch, t.tile_latent, c10::elementSize(dtype));
}

std::int64_t decode_budget(c10::Device device) {
  if (device.is_cuda()) {
#ifdef GEN_TILED_VAE_CUDA
    c10::cuda::CUDAGuard guard(device);
    std::size_t free = 0, total = 0;
    if (cudaMemGetInfo(&free, &total) != cudaSuccess) {
      (void)cudaGetLastError();  // clear the sticky error; unknown budget
      return -1;
    }
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index() < 0 ? 0 : device.index());
    // Index 0 = StatType::AGGREGATE (whose namespace moved between PyTorch versions).
    const std::int64_t cached = stats.reserved_bytes[0].current - stats.allocated_bytes[0].current;
    return static_cast<std::int64_t>(free) + cached;
#else
    return -1;
#endif
  }
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return -1;
  return static_cast<std::int64_t>(pages) * page / 2;
}

VaeTiling::Method resolve_method(const models::Vae& vae, std::int64_t height, std::int64_t width, std::int64_t batch,
                                 c10::Device device, at::ScalarType dtype, const VaeTiling& t) {
  if (t.method != VaeTiling::Method::Auto) return t.method;
  const auto budget = decode_budget(device);
  return budget < 0 || estimate_exact_tiled_bytes(vae, height, width, batch, dtype, t) <= budget
             ? VaeTiling::Method::Exact
             : VaeTiling::Method::Blended;
}

bool should_tile(const models::Vae& vae, std::int64_t height, std::int64_t width, std::int64_t batch,
                 c10::Device device, at::ScalarType dtype) {
  const auto budget = decode_budget(device);
  return budget >= 0 && estimate_decode_bytes(vae, height, width, batch, dtype) > budget;
}

}  // namespace gen::pipeline
