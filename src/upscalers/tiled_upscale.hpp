// gen — running an upscaler net on an 8-bit image as AUTOMATIC1111's webui does
// (modules/upscaler_utils.py upscale_with_model, modules/images.py split_grid / combine_grid,
// modules/upscaler.py Upscaler.upscale; docs/upscalers.md#tiling):
//
//   * the image is cut into tile × tile squares (default 192, overlap 8): cols =
//     ceil((W − overlap) / (tile − overlap)) (at least 1), x_c = int(c · (W − tile) / (cols − 1)),
//     and a tile reaching the right edge is moved to W − tile (negative for an image narrower
//     than the tile: Pillow's crop fills the outside with black); rows likewise;
//   * each tile goes through the net as A1111's upscale_without_tiling does: channels reversed
//     (BGR), / 255, the net, clamped to 0..1, 255 · x truncated to 8 bits, reversed back;
//   * the upscaled tiles are put together row by row: a tile's first overlap·s columns are
//     blended over what is there with Pillow's masked paste (mask i·255/(overlap·s) truncated),
//     the rest pasted; then the rows likewise over overlap·s lines.
// tile 0 runs the whole image at once.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <functional>
#include <vector>

#include "gen/image.hpp"

namespace gen::upscalers {

class EsrganNet;

inline constexpr int kDefaultTile = 192;    // A1111's ESRGAN_tile
inline constexpr int kDefaultOverlap = 8;   // A1111's ESRGAN_tile_overlap

// Where the tiles start (split_grid): the same columns in every row.
struct TileGrid {
  int width = 0, height = 0, tile = 0, overlap = 0;
  std::vector<int> xs, ys;
};
TileGrid split_grid(int width, int height, int tile, int overlap);

// Pillow's Image.crop: the window (x, y, w, h) of `image`, black where it lies outside.
Image crop_black(const Image& image, int x, int y, int w, int h);

// combine_grid on tiles[row][col] (each tile·s square, s the upscale factor) for the grid scaled
// by s (positions, tile, overlap and size multiplied by s).
Image combine_grid(const TileGrid& scaled, const std::vector<std::vector<Image>>& tiles);

// One tile (8-bit RGB) through a net, as upscale_without_tiling: an 8-bit RGB image.
using TileNet = std::function<Image(const Image&)>;
TileNet esrgan_tile_net(const EsrganNet& net, at::ScalarType dtype, c10::Device device);

// upscale_with_model: `image` (8-bit RGB) upscaled by the net in tiles. InvalidArgument for a
// tile not above the overlap (or negative values).
Image upscale_tiled(const Image& image, const TileNet& net, int tile = kDefaultTile, int overlap = kDefaultOverlap);

// Upscaler.upscale(img, scale): the net applied up to 3 times, until the image covers
// (int(W·scale) // 8 · 8) × (int(H·scale) // 8 · 8) or stops growing, then resized to exactly
// that with Pillow's Lanczos.
Image upscale_to_scale(const Image& image, double scale, const TileNet& net, int tile = kDefaultTile,
                       int overlap = kDefaultOverlap);

}  // namespace gen::upscalers
