// Vae::decode_tiled: the decoder's up path over tiles, exact up to rounding.
//
// Geometry, per axis and at the current resolution: a tile owns the pixels [core_lo, core_hi)
// (the cores partition the image) and its tensor holds [lo, hi) ⊇ the core, every one of
// them exact. A 3×3 convolution (padding 1) run on the tile tensor is exact everywhere except
// next to a side that is not the image border (there it saw zeros instead of the neighbour's
// pixels), so each such convolution costs one pixel on every inner side. The margin each tile
// needs at the start of a stage is what the convolutions still to come will eat; it is worked
// out backwards over the stages, and tiles are cropped to it, so no pixel is computed that
// no output needs. The ×2 upsampler doubles everything.
//
// GroupNorm: its statistics are the whole image's. Before a GroupNorm runs on any tile, every
// tile's core (each pixel counted once) gives per-channel means and squared deviations, merged
// in f64 (Chan et al.'s pairwise update), then pooled per group.
//
// Memory: between two GroupNorms all tiles wait, so what is held is one or two full-size
// activations (a resnet block's input, kept for its residual, and its first convolution's
// output) plus one tile's temporaries, instead of the untiled decoder's several full-size
// tensors and their convolution workspaces.
#include "models/vae.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <string>

#include "core/fail.hpp"
#include "models/vae_blocks.hpp"

namespace gen::models {

// One stage of the up path: a resnet block, an upsampler (×2 then its 3×3 convolution), or
// the output (norm_out, SiLU, conv_out).
struct Vae::Stage {
  enum Kind { Resnet, Upsample, Output } kind;
  const ResnetBlock* block = nullptr;
  const Conv2d* conv = nullptr;
};

namespace {

struct Span {
  std::int64_t lo, hi, core_lo, core_hi;
};

struct Tile {
  at::Tensor t;  // [B, C, y.hi − y.lo, x.hi − x.lo]
  Span y, x;
};

// The tiles and the image size at the current resolution.
struct Grid {
  std::vector<Tile> tiles;
  std::int64_t h, w;
};

// Even split of `size` into pieces of at most `tile`: boundaries 0 = b0 < … < bn = size.
std::vector<std::int64_t> cuts(std::int64_t size, std::int64_t tile) {
  const auto n = (size + tile - 1) / tile;
  std::vector<std::int64_t> b;
  for (std::int64_t i = 0; i <= n; ++i) b.push_back(i * size / n);
  return b;
}

// Crop `s` (in a tensor dimension `dim`) to its core ± margin, clipped to [0, size).
void crop_axis(Tile& tile, Span& s, int dim, std::int64_t margin, std::int64_t size) {
  const auto lo = std::max<std::int64_t>(0, s.core_lo - margin);
  const auto hi = std::min(size, s.core_hi + margin);
  if (lo < s.lo || hi > s.hi)
    fail(ErrorCode::Internal, "tiled VAE decode",
         "a tile lost pixels it still needs (" + std::to_string(s.lo) + ".." + std::to_string(s.hi) + " for " +
             std::to_string(lo) + ".." + std::to_string(hi) + ")");
  if (lo == s.lo && hi == s.hi) return;
  tile.t = tile.t.slice(dim, lo - s.lo, hi - s.lo);
  s.lo = lo, s.hi = hi;
}

void crop(Grid& g, std::int64_t margin) {
  for (auto& t : g.tiles) {
    crop_axis(t, t.y, 2, margin, g.h);
    crop_axis(t, t.x, 3, margin, g.w);
  }
}

// After a 3×3 convolution with padding 1: the pixels beside an inner side are no longer exact.
void lose_edge(Tile& tile, const Grid& g) {
  auto shrink = [&](Span& s, int dim, std::int64_t size) {
    const std::int64_t a = s.lo > 0 ? 1 : 0, b = s.hi < size ? 1 : 0;
    if (a || b) tile.t = tile.t.slice(dim, a, tile.t.size(dim) - b);
    s.lo += a, s.hi -= b;
  };
  shrink(tile.y, 2, g.h);
  shrink(tile.x, 3, g.w);
}

// A tile's core, [B, C, core_h, core_w].
at::Tensor core_of(const Tile& tile) {
  return tile.t.slice(2, tile.y.core_lo - tile.y.lo, tile.y.core_hi - tile.y.lo)
      .slice(3, tile.x.core_lo - tile.x.lo, tile.x.core_hi - tile.x.lo);
}

// `norm` with whole-image statistics of the tiles' cores, folded into the scale and shift
// GroupNorm::silu_with applies (each [B, C, 1, 1], f32). Per channel, each core's mean and
// squared deviations are merged over the tiles in f64 (Chan et al.'s pairwise update); the
// group mean is then the mean of its channels' means (equal counts), and its squared
// deviations are the channels' plus each channel mean's offset from it.
std::pair<at::Tensor, at::Tensor> whole_image_norm(const std::vector<Tile>& tiles, const GroupNorm& norm) {
  double n = 0;  // pixels per channel so far (the same for every channel)
  at::Tensor mean, m2;  // per (sample, channel)
  for (const auto& tile : tiles) {
    auto core = core_of(tile).to(at::kFloat);
    auto [var_t, mean_t] = at::var_mean(core, at::IntArrayRef{2, 3}, /*unbiased=*/false, /*keepdim=*/false);
    const double n_t = static_cast<double>(core.size(2) * core.size(3));
    mean_t = mean_t.to(at::kDouble);
    auto m2_t = var_t.to(at::kDouble) * n_t;
    if (!mean.defined()) {
      n = n_t, mean = mean_t, m2 = m2_t;
      continue;
    }
    const double total = n + n_t;
    auto delta = mean_t - mean;
    mean = mean + delta * (n_t / total);
    m2 = m2 + m2_t + delta * delta * (n * n_t / total);
    n = total;
  }
  const auto b = mean.size(0), groups = norm.groups(), per = mean.size(1) / groups;
  auto cm = mean.view({b, groups, per});
  auto gm = cm.mean(2);
  auto gm2 = m2.view({b, groups, per}).sum(2) + (cm - gm.unsqueeze(2)).pow(2).sum(2) * n;
  auto var = gm2 / (n * static_cast<double>(per));
  return norm.fold(gm, (var + norm.eps()).rsqrt(), tiles.front().t);
}

}  // namespace

std::vector<Vae::Stage> Vae::up_stages() const {
  std::vector<Stage> s;
  for (auto l = static_cast<std::int64_t>(up_.size()) - 1; l >= 0; --l) {
    for (auto* b : up_[l].blocks) s.push_back({Stage::Resnet, b, nullptr});
    if (up_[l].resample) s.push_back({Stage::Upsample, nullptr, up_[l].resample});
  }
  s.push_back({Stage::Output, nullptr, dec_out_});
  return s;
}

// Margins needed at the start of every stage (and after the last: 0), in that stage's pixels.
std::vector<std::int64_t> Vae::margins_of(const std::vector<Stage>& stages) {
  std::vector<std::int64_t> m(stages.size() + 1, 0);
  for (auto i = static_cast<std::int64_t>(stages.size()) - 1; i >= 0; --i) {
    const auto after = m[i + 1];
    switch (stages[i].kind) {
      case Vae::Stage::Resnet: m[i] = after + 2; break;
      case Vae::Stage::Output: m[i] = after + 1; break;
      case Vae::Stage::Upsample: m[i] = (after + 1 + 1) / 2; break;  // conv at 2×, then halve
    }
  }
  return m;
}

std::int64_t Vae::decode_tile_margin() const { return margins_of(up_stages()).front(); }

std::int64_t Vae::decode_tiled_bytes(std::int64_t h, std::int64_t w, std::int64_t batch, std::int64_t tile_latent,
                                    std::int64_t element_size) const {
  const auto stages = up_stages();
  const auto margins = margins_of(stages);
  // The largest core decode_tiled cuts (an even split into pieces of at most the tile).
  auto core = [&](std::int64_t size) {
    const auto n = (size + tile_latent - 1) / tile_latent;
    return static_cast<double>((size + n - 1) / n);
  };
  const double th = core(h), tw = core(w);
  const double e = static_cast<double>(element_size), f32 = 4, image = static_cast<double>(h * w);
  const double to_f32 = element_size == 4 ? 0 : f32;  // the f32 copy GroupNorm makes of a half tile
  double peak = 0, scale = 1;  // resolution relative to the latent
  for (std::size_t i = 0; i < stages.size(); ++i) {
    const auto& st = stages[i];
    if (st.kind == Stage::Upsample) scale *= 2;
    // The margin at the widest point of the stage; edge tiles have margins on fewer sides, so
    // this bounds the area from above.
    const double m = static_cast<double>(st.kind == Stage::Upsample ? margins[i + 1] + 1 : margins[i]);
    const double area = (th * scale + 2 * m) * (tw * scale + 2 * m);  // one tile, per image
    const double pad = area / (th * tw * scale * scale);
    double held = 0, temps = 0;  // bytes per image: all tiles' state, one tile's temporaries
    if (st.kind == Stage::Resnet) {
      const auto ci = static_cast<double>(st.block->conv1.in_channels), co = static_cast<double>(st.block->conv1.out_channels);
      held = (ci + co) * e * scale * scale * pad * image;  // the block's input and conv1's output, all tiles
      temps = area * std::max(ci * (to_f32 + f32) + co * e, co * (to_f32 + f32) + 3 * co * e);
    } else if (st.kind == Stage::Upsample) {
      const auto c = static_cast<double>(st.conv->out_channels);
      held = c * e * scale * scale * pad * image;  // inputs (¼ the size) give way to outputs
      temps = area * c * (2 * e + 2 * to_f32);
    } else {
      const auto c = static_cast<double>(st.conv->in_channels);
      held = c * e * scale * scale * pad * image;
      temps = area * c * (to_f32 + f32);
    }
    peak = std::max(peak, held + temps);
  }
  return static_cast<std::int64_t>(peak * static_cast<double>(batch));
}

at::Tensor Vae::decode_tiled(const at::Tensor& z, std::int64_t tile_latent) const {
  if (tile_latent < 1) fail(ErrorCode::InvalidArgument, "VAE tiling", "the tile must be at least 1 latent pixel");
  const auto stages = up_stages();
  const auto margins = margins_of(stages);

  auto h = (*dec_in_)((*post_quant_)(z));
  h = (*dec_mid2_)((*dec_attn_)((*dec_mid1_)(h)));

  Grid g{{}, h.size(2), h.size(3)};
  const auto ys = cuts(g.h, tile_latent), xs = cuts(g.w, tile_latent);
  for (std::size_t i = 0; i + 1 < ys.size(); ++i)
    for (std::size_t j = 0; j + 1 < xs.size(); ++j)
      g.tiles.push_back({h, {0, g.h, ys[i], ys[i + 1]}, {0, g.w, xs[j], xs[j + 1]}});
  h.reset();

  for (std::size_t s = 0; s < stages.size(); ++s) {
    crop(g, margins[s]);
    const auto& st = stages[s];
    if (st.kind == Stage::Resnet) {
      const auto& b = *st.block;
      const auto [scale1, shift1] = whole_image_norm(g.tiles, b.norm1);
      std::vector<Tile> mid;
      for (const auto& t : g.tiles) {
        mid.push_back({b.conv1(GroupNorm::silu_with(t.t, scale1, shift1)), t.y, t.x});
        lose_edge(mid.back(), g);
      }
      const auto [scale2, shift2] = whole_image_norm(mid, b.norm2);
      for (std::size_t i = 0; i < g.tiles.size(); ++i) {
        Tile out{b.conv2(GroupNorm::silu_with(mid[i].t, scale2, shift2)), mid[i].y, mid[i].x};
        mid[i].t.reset();
        lose_edge(out, g);
        auto& in = g.tiles[i];
        auto skip = in.t.slice(2, out.y.lo - in.y.lo, out.y.hi - in.y.lo).slice(3, out.x.lo - in.x.lo, out.x.hi - in.x.lo);
        in.t = (b.shortcut ? (*b.shortcut)(skip) : skip) + out.t;
        in.y = out.y, in.x = out.x;
      }
    } else if (st.kind == Stage::Upsample) {
      g.h *= 2, g.w *= 2;
      for (auto& t : g.tiles) {
        for (auto* s2 : {&t.y, &t.x}) s2->lo *= 2, s2->hi *= 2, s2->core_lo *= 2, s2->core_hi *= 2;
        t.t = (*st.conv)(upsample2(t.t));
        lose_edge(t, g);
      }
    } else {
      const auto [scale, shift] = whole_image_norm(g.tiles, *dec_norm_);
      for (auto& t : g.tiles) {
        t.t = (*dec_out_)(GroupNorm::silu_with(t.t, scale, shift));
        lose_edge(t, g);
      }
    }
  }
  crop(g, 0);
  auto out = at::empty({z.size(0), cfg_.out_channels, g.h, g.w}, g.tiles.front().t.options());
  for (auto& t : g.tiles) {
    out.slice(2, t.y.lo, t.y.hi).slice(3, t.x.lo, t.x.hi).copy_(t.t);
    t.t.reset();
  }
  return out;
}

}  // namespace gen::models
