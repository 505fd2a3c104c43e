// gen::upscale_image (gen/upscale.hpp): the net loaded for the call, run in A1111's tiles.
#include "gen/upscale.hpp"

#include <ATen/ATen.h>

#include <limits>

#include "core/fail.hpp"
#include "pipeline/engine.hpp"
#include "upscalers/esrgan_net.hpp"
#include "upscalers/tiled_upscale.hpp"

namespace gen {

Image upscale_image(const Image& image, const UpscaleOptions& o) {
  if (!(o.scale >= 0) || o.scale > 64)
    fail(ErrorCode::InvalidArgument, "scale", std::to_string(o.scale) + ": must be 0 (the net's own) or up to 64");
  if (o.tile < 0 || o.overlap < 0 || (o.tile > 0 && o.overlap >= o.tile))
    fail(ErrorCode::InvalidArgument, "tile",
         "tile " + std::to_string(o.tile) + ", overlap " + std::to_string(o.overlap) +
             ": the tile must be 0 (no tiling) or larger than the overlap");
  const Image rgb = image.channels == 3 && image.bit_depth == 8 ? image : to_rgb8(image);
  const auto device = pipeline::pick_device(o.device);
  const auto dtype = pipeline::pick_dtype(o.dtype, device);
  const auto m = upscalers::load_upscaler(o.model, dtype, device);
  const auto net = upscalers::esrgan_tile_net(*m.net, dtype, device);
  if (o.scale > 0) return upscalers::upscale_to_scale(rgb, o.scale, net, o.tile, o.overlap);
  const auto s = static_cast<long>(m.net->config().scale());
  if (rgb.width * s > 16384 || rgb.height * s > 16384)
    fail(ErrorCode::InvalidArgument, "scale",
         std::to_string(rgb.width) + "x" + std::to_string(rgb.height) + " upscaled " + std::to_string(s) +
             "x is over 16384 pixels a side");
  return upscalers::upscale_tiled(rgb, net, o.tile, o.overlap);
}

}  // namespace gen
