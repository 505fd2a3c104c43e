// gen — image resampling that reproduces Pillow's Image.resize with the LANCZOS filter on
// 8-bit images exactly (the same coefficients and fixed-point arithmetic), so that a
// control image resized by gen equals the one diffusers feeds a ControlNet.
#pragma once

#include "gen/image.hpp"

namespace gen {

// `image`: 8-bit, any channel count. Returns an 8-bit image of the same channels.
// InvalidArgument for a 16-bit image or a size outside the caps.
Image resize_lanczos(const Image& image, int width, int height);

}  // namespace gen
