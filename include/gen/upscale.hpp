// gen — upscaling an image with an ESRGAN-family net (ESRGAN, Real-ESRGAN, BSRGAN, 4x-UltraSharp
// and other RRDBNet .pth / .safetensors files) the way AUTOMATIC1111's webui does: in 192-pixel
// tiles overlapping by 8, blended as its images.combine_grid blends them (docs/upscalers.md).
// `gen upscale` is this function; hires fix uses the same code (Request::hires_upscaler_model).
#pragma once

#include <string>

#include "gen/export.hpp"
#include "gen/image.hpp"
#include "gen/request.hpp"

namespace gen {

struct UpscaleOptions {
  std::string model;    // the net's file
  // 0: one pass of the net (its own factor). Otherwise A1111's Upscaler.upscale: the net up to
  // three times until the image covers int(W·scale)//8·8 × int(H·scale)//8·8, then Lanczos to that.
  double scale = 0;
  int tile = 192;       // 0: the whole image at once
  int overlap = 8;
  Device device = Device::Auto;
  Precision dtype = Precision::Auto;
};

// `image` (any channels and depth: flattened with gen::to_rgb8 first) upscaled; 8-bit RGB. Throws
// the net file's errors (NotFound, InvalidFormat, ModelMismatch, UnsafeContent, Unsupported,
// naming it), InvalidArgument for a tile not above the overlap or a result outside 8..16384
// pixels a side.
GEN_API Image upscale_image(const Image& image, const UpscaleOptions& options);

}  // namespace gen
