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

// Pillow's Image.resize((width, height), LANCZOS, box=(x0, y0, x1, y1)) on an 8-bit image of
// any channel count (channels as stored: Pillow's own premultiplication of RGBA/LA is the
// caller's): the source rectangle `box`, in float pixel coordinates as Pillow's C code takes
// them, resampled to width x height. A box may be empty along an axis (x1 == x0): every output
// sample along it is then the same Lanczos mix of the input samples nearest x0, which is how
// diffusers' and A1111's resize-and-fill stretch an image's edge rows into the margins.
// InvalidArgument, with Pillow's wording, for a box outside the image or reversed.
Image resize_lanczos_box(const Image& image, int width, int height, float x0, float y0, float x1, float y1);

}  // namespace gen
