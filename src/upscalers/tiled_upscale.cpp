#include "upscalers/tiled_upscale.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "core/fail.hpp"
#include "image/resample.hpp"
#include "upscalers/esrgan_net.hpp"

namespace gen::upscalers {
namespace {

std::vector<int> starts(int size, int tile, int overlap) {
  // ceil((size − overlap) / (tile − overlap)), at least one tile (A1111 makes none for an image
  // no larger than the overlap; gen runs one).
  const int step = tile - overlap;
  const int n = std::max(1, (size - overlap + step - 1) / step);
  const double d = n > 1 ? static_cast<double>(size - tile) / (n - 1) : 0.0;
  std::vector<int> v;
  for (int i = 0; i < n; ++i) {
    int p = static_cast<int>(i * d);  // int() truncates towards zero
    if (p + tile >= size) p = size - tile;
    v.push_back(p);
  }
  return v;
}

// Pillow's paste of `src` at (x, y) onto `dst` (both RGB), clipped to dst; with a mask (the
// mask value of column mx or row my inside src), ImagingPaste's BLEND: (dst·(255 − m) + src·m)
// / 255 rounded as DIV255.
enum class MaskAxis { None, Columns, Rows };
void paste(Image& dst, const Image& src, int sx0, int sy0, int sw, int sh, int x, int y, MaskAxis axis,
           const std::vector<int>& mask) {
  for (int j = 0; j < sh; ++j) {
    const int ty = y + j;
    if (ty < 0 || ty >= dst.height) continue;
    for (int i = 0; i < sw; ++i) {
      const int tx = x + i;
      if (tx < 0 || tx >= dst.width) continue;
      const int sx = sx0 + i, sy = sy0 + j;
      std::uint8_t* d = &dst.data8[(static_cast<std::size_t>(ty) * dst.width + tx) * 3];
      const std::uint8_t* s =
          sx >= 0 && sy >= 0 && sx < src.width && sy < src.height ? &src.data8[(static_cast<std::size_t>(sy) * src.width + sx) * 3] : nullptr;
      for (int c = 0; c < 3; ++c) {
        const int v = s ? s[c] : 0;
        if (axis == MaskAxis::None) {
          d[c] = static_cast<std::uint8_t>(v);
        } else {
          const int m = mask[axis == MaskAxis::Columns ? i : j];
          const int t = d[c] * (255 - m) + v * m + 128;
          d[c] = static_cast<std::uint8_t>(((t >> 8) + t) >> 8);
        }
      }
    }
  }
}

}  // namespace

TileGrid split_grid(int width, int height, int tile, int overlap) {
  TileGrid g;
  g.width = width;
  g.height = height;
  g.tile = tile;
  g.overlap = overlap;
  g.xs = starts(width, tile, overlap);
  g.ys = starts(height, tile, overlap);
  return g;
}

Image crop_black(const Image& image, int x, int y, int w, int h) {
  Image out = Image::make(w, h, 3);
  paste(out, image, x, y, w, h, 0, 0, MaskAxis::None, {});
  return out;
}

Image combine_grid(const TileGrid& g, const std::vector<std::vector<Image>>& tiles) {
  const int ov = g.overlap, t = g.tile;
  std::vector<int> mask(static_cast<std::size_t>(std::max(ov, 0)));
  for (int i = 0; i < ov; ++i) mask[i] = i * 255 / ov;  // np.uint8(float32(i) * 255 / overlap)
  Image out = Image::make(g.width, g.height, 3);
  for (std::size_t r = 0; r < g.ys.size(); ++r) {
    Image line = Image::make(g.width, t, 3);
    for (std::size_t c = 0; c < g.xs.size(); ++c) {
      const Image& tile = tiles[r][c];
      const int x = g.xs[c];
      if (x == 0) {
        paste(line, tile, 0, 0, tile.width, tile.height, 0, 0, MaskAxis::None, {});
        continue;
      }
      paste(line, tile, 0, 0, ov, t, x, 0, MaskAxis::Columns, mask);
      paste(line, tile, ov, 0, t - ov, t, x + ov, 0, MaskAxis::None, {});
    }
    const int y = g.ys[r];
    if (y == 0) {
      paste(out, line, 0, 0, line.width, line.height, 0, 0, MaskAxis::None, {});
      continue;
    }
    paste(out, line, 0, 0, g.width, ov, 0, y, MaskAxis::Rows, mask);
    paste(out, line, 0, ov, g.width, t - ov, 0, y + ov, MaskAxis::None, {});
  }
  return out;
}

TileNet esrgan_tile_net(const EsrganNet& net, at::ScalarType dtype, c10::Device device) {
  return [&net, dtype, device](const Image& rgb) {
    auto x = at::from_blob(const_cast<std::uint8_t*>(rgb.data8.data()), {rgb.height, rgb.width, 3}, at::kByte)
                 .flip({2})                       // BGR
                 .permute({2, 0, 1})
                 .to(at::kDouble)
                 .div(255.0)                      // numpy: uint8 / 255 in float64, then .float()
                 .to(at::kFloat)
                 .unsqueeze(0)
                 .to(device, dtype);
    c10::InferenceMode inference;
    const at::Tensor y = net.forward(x);
    // squeeze().float().cpu().clamp_(0, 1); 255. * x (float32 · python float → float32); astype(uint8)
    auto o = y.squeeze(0).to(at::kFloat).to(at::kCPU).clamp(0, 1).mul(255.0).to(at::kByte).flip({0})
                 .permute({1, 2, 0}).contiguous();
    Image out = Image::make(static_cast<int>(o.size(1)), static_cast<int>(o.size(0)), 3);
    std::memcpy(out.data8.data(), o.data_ptr<std::uint8_t>(), out.data8.size());
    return out;
  };
}

Image upscale_tiled(const Image& image, const TileNet& net, int tile, int overlap) {
  if (tile < 0 || overlap < 0 || (tile > 0 && overlap >= tile))
    fail(ErrorCode::InvalidArgument, "tile",
         "the tile (" + std::to_string(tile) + ") must be 0 (no tiling) or larger than the overlap (" +
             std::to_string(overlap) + ")");
  if (tile == 0) return net(image);
  const TileGrid g = split_grid(image.width, image.height, tile, overlap);
  std::vector<std::vector<Image>> out;
  int s = 1;
  for (int y : g.ys) {
    out.emplace_back();
    for (int x : g.xs) {
      out.back().push_back(net(crop_black(image, x, y, tile, tile)));
      s = out.back().back().width / tile;
    }
  }
  TileGrid scaled = g;
  scaled.width *= s;
  scaled.height *= s;
  scaled.tile *= s;
  scaled.overlap *= s;
  for (auto& x : scaled.xs) x *= s;
  for (auto& y : scaled.ys) y *= s;
  return combine_grid(scaled, out);
}

Image upscale_to_scale(const Image& image, double scale, const TileNet& net, int tile, int overlap) {
  // dest = int((W · scale) // 8 · 8)
  const int dest_w = static_cast<int>(std::floor(image.width * scale / 8) * 8);
  const int dest_h = static_cast<int>(std::floor(image.height * scale / 8) * 8);
  if (dest_w < 8 || dest_h < 8 || dest_w > 16384 || dest_h > 16384)
    fail(ErrorCode::InvalidArgument, "scale",
         std::to_string(image.width) + "x" + std::to_string(image.height) + " scaled by " + std::to_string(scale) +
             " is " + std::to_string(dest_w) + "x" + std::to_string(dest_h) + ", outside 8..16384 pixels a side");
  Image img = image;
  for (int pass = 0; pass < 3; ++pass) {
    const int w = img.width, h = img.height;
    img = upscale_tiled(img, net, tile, overlap);
    if (img.width == w && img.height == h) break;
    if (img.width >= dest_w && img.height >= dest_h) break;
  }
  if (img.width != dest_w || img.height != dest_h) img = resize_lanczos(img, dest_w, dest_h);
  return img;
}

}  // namespace gen::upscalers
