// gen — tiled VAE decode and encode, so that large images fit in bounded memory.
//
// Two methods:
// - Exact (decode only; Vae::decode_tiled): the latent-resolution part runs whole, the up
//   path runs on tiles with margins and whole-image GroupNorm statistics. Equal to the
//   untiled decode up to rounding; holds one or two full-size activations (not the untiled
//   decoder's four and more), so it saves about half the memory at large sizes.
// - Blended: the latent plane is covered by overlapping square tiles (in latent units); each
//   tile is decoded (or its image region encoded) on its own and the results are blended with
//   separable ramps across the overlaps, normalised so that the weights sum to one at every
//   output pixel. Tile positions are spread evenly, so every overlap is at least
//   `overlap_latent` and the last tile ends at the image edge (no padding, odd sizes work).
//   Not equal to the untiled result: GroupNorm statistics and the middle self-attention see
//   one tile, and convolutions zero-pad at tile edges. The ramps hide these differences (no
//   visible seams; tests/unit/test_tiled_vae.cpp measures them). Memory scales with the
//   tile, not the image: the output and its accumulator are the only full-size tensors.
// Auto (the default) decodes exactly when the estimate of the exact method fits in the memory
// at hand (or a CUDA out-of-memory error stops it), blended otherwise.
// An input that fits in one tile is passed to the VAE unchanged (exactly the untiled result).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "models/vae.hpp"

namespace gen::pipeline {

struct VaeTiling {
  // Tile side in latent pixels (×8 image pixels for SD): 64 → 512×512 image tiles.
  int tile_latent = 64;
  // Minimum overlap between neighbouring tiles in latent pixels, blended with a ramp.
  // Must be in [0, tile_latent); a quarter of the tile hides GroupNorm/attention differences.
  // Blended tiles only.
  int overlap_latent = 16;
  enum class Method { Auto, Exact, Blended };
  Method method = Method::Auto;  // decode; encoding is always blended
};

// When to tile: Auto asks should_tile() (memory estimate), On tiles whenever the input is
// larger than one tile, Off never tiles.
enum class Tiling { Auto, On, Off };

// z: latents already divided by the scaling factor ([B, C, h, w], as Vae::decode takes
// them) → image in [-1, 1] (unclamped), [B, 3, h·f, w·f] with f the VAE's factor.
// `how` (optional): "untiled" (one tile covers the input), "exact" or "blended".
at::Tensor tiled_decode(const models::Vae& vae, const at::Tensor& z, const VaeTiling& tiling = {},
                        std::string* how = nullptr);

// x: image in [-1, 1], [B, 3, H, W] with H and W multiples of the VAE's factor → the latent
// distribution's (mean, log-variance), as Vae::encode returns them. Tiles are tile_latent·f
// image pixels.
std::pair<at::Tensor, at::Tensor> tiled_encode(const models::Vae& vae, const at::Tensor& x,
                                               const VaeTiling& tiling = {});

// Start offsets of the tiles along one axis of `size` latent pixels: {0} when size <= tile,
// else ceil((size − tile) / (tile − overlap)) + 1 tiles spread evenly from 0 to size − tile.
std::vector<std::int64_t> tile_positions(std::int64_t size, std::int64_t tile, std::int64_t overlap);

// Estimated peak bytes of an untiled decode of `batch` images of height × width pixels:
//   batch × C × height × width × dtype size × 4,
// where C × height × width is the decoder's largest activation: the widest channel count
// that runs at full resolution (the last upsample convolution's and the first full-size
// resnet block's input: block_channels[1] for SD, 256) — and 4 live tensors of that
// size (a resnet block's input, its GroupNorm+SiLU output, the convolution output and the
// residual sum) bound what is alive at once. The middle block's self-attention is not in
// the estimate: ATen's SDPA kernels (flash / memory-efficient, and the CPU flash kernel)
// need memory linear in the tokens.
std::int64_t estimate_decode_bytes(const models::Vae& vae, std::int64_t height, std::int64_t width,
                                   std::int64_t batch, at::ScalarType dtype);

// Estimated peak bytes of the exact tiled decode (Vae::decode_tiled_bytes).
std::int64_t estimate_exact_tiled_bytes(const models::Vae& vae, std::int64_t height, std::int64_t width,
                                        std::int64_t batch, at::ScalarType dtype, const VaeTiling& tiling = {});

// Bytes a decode may use on `device`: on CUDA the free device memory (cudaMemGetInfo plus what
// PyTorch's caching allocator holds but does not use; -1 when it cannot be asked, as in builds
// without the CUDA kernels), on the CPU half the physical RAM (sysconf; -1 if unknown).
std::int64_t decode_budget(c10::Device device);

// Auto resolved: Exact when estimate_exact_tiled_bytes fits decode_budget (or the budget is
// unknown), Blended otherwise. Exact and Blended are returned as they are.
VaeTiling::Method resolve_method(const models::Vae& vae, std::int64_t height, std::int64_t width, std::int64_t batch,
                                 c10::Device device, at::ScalarType dtype, const VaeTiling& tiling);

// Whether an untiled decode of that size should be tiled: on CUDA when the estimate exceeds
// the free device memory (cudaMemGetInfo plus what PyTorch's caching allocator holds but
// does not use; builds without the CUDA kernels cannot ask and say false), on the CPU when
// it exceeds half the physical RAM (sysconf).
bool should_tile(const models::Vae& vae, std::int64_t height, std::int64_t width, std::int64_t batch,
                 c10::Device device, at::ScalarType dtype);

}  // namespace gen::pipeline
