// gen — image resampling that reproduces Pillow's Image.resize with the LANCZOS filter on
// 8-bit images exactly (the same coefficients and fixed-point arithmetic), so that a
// control image resized by gen equals the one diffusers feeds a ControlNet.
#pragma once

#include "gen/image.hpp"

namespace gen {

// `image`: 8-bit, any channel count. Returns an 8-bit image of the same channels.
// InvalidArgument for a 16-bit image or a size outside the caps.
Image resize_lanczos(const Image& image, int width, int height);

// The window x0, y0, width x height of resize_lanczos(image, full_width, full_height),
// pixel for pixel, computed without the whole resized image (which may be far over the
// image size caps: a 2000x1 strip cropped to cover 64x64 is 128000x64 before the crop).
// InvalidArgument for a 16-bit image, a window outside the full size or over the caps.
Image resize_lanczos_window(const Image& image, int full_width, int full_height, int x0, int y0, int width,
                            int height);

}  // namespace gen
