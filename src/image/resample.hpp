// gen — image resampling that reproduces Pillow's Image.resize on 8-bit images exactly (the same
// filter coefficients and fixed-point arithmetic as Pillow's src/libImaging/Resample.c), for the
// filters diffusers uses: LANCZOS (control images, VaeImageProcessor.resize), BICUBIC
// (Image.resize's default, which _resize_and_fill's margin strips get) and BILINEAR (torchvision's
// transforms.Resize default, which diffusers' training scripts use).
#pragma once

#include "gen/image.hpp"

namespace gen {

// Pillow's resampling filters gen reproduces (PIL.Image.Resampling); one coefficient routine
// serves both, parameterised by the filter's kernel and support.
enum class PillowFilter {
  Bicubic,  // BICUBIC: cubic convolution with a = -0.5, support 2 (Image.resize's default)
  Lanczos,  // LANCZOS: sinc(x) * sinc(x / 3) on -3 <= x < 3, support 3
  Bilinear, // BILINEAR: the triangle 1 - |x| on |x| < 1, support 1
};

// `image`: 8-bit, any channel count, resampled as stored (Pillow's own premultiplication of
// RGBA/LA is the caller's: editing::pil_resize). Returns an 8-bit image of the same channels.
// InvalidArgument for a 16-bit image or a size outside the caps.
Image resize_pillow(const Image& image, int width, int height, PillowFilter filter);

// The window x0, y0, width x height of resize_pillow(image, full_width, full_height, filter),
// pixel for pixel, computed without the whole resized image (which may be far over the
// image size caps: a 2000x1 strip cropped to cover 64x64 is 128000x64 before the crop).
// InvalidArgument for a 16-bit image, a window outside the full size or over the caps.
Image resize_pillow_window(const Image& image, int full_width, int full_height, int x0, int y0, int width,
                           int height, PillowFilter filter);

// Pillow's Image.resize((width, height), filter, box=(x0, y0, x1, y1)) on an 8-bit image of any
// channel count (as stored, as above): the source rectangle `box`, in float pixel coordinates as
// Pillow's C code takes them, resampled to width x height. A box may be empty along an axis
// (x1 == x0): every output sample along it is then the same filter mix of the input samples
// nearest x0, which is how diffusers' and A1111's resize-and-fill stretch an image's edge rows
// into the margins (with BICUBIC). InvalidArgument, with Pillow's wording, for a box outside
// the image or reversed.
Image resize_pillow_box(const Image& image, int width, int height, float x0, float y0, float x1, float y1,
                        PillowFilter filter);

// The same, by filter name.
inline Image resize_lanczos(const Image& image, int width, int height) {
  return resize_pillow(image, width, height, PillowFilter::Lanczos);
}
inline Image resize_lanczos_window(const Image& image, int full_width, int full_height, int x0, int y0, int width,
                                   int height) {
  return resize_pillow_window(image, full_width, full_height, x0, y0, width, height, PillowFilter::Lanczos);
}
inline Image resize_lanczos_box(const Image& image, int width, int height, float x0, float y0, float x1, float y1) {
  return resize_pillow_box(image, width, height, x0, y0, x1, y1, PillowFilter::Lanczos);
}
inline Image resize_bicubic(const Image& image, int width, int height) {
  return resize_pillow(image, width, height, PillowFilter::Bicubic);
}
inline Image resize_bicubic_box(const Image& image, int width, int height, float x0, float y0, float x1, float y1) {
  return resize_pillow_box(image, width, height, x0, y0, x1, y1, PillowFilter::Bicubic);
}

}  // namespace gen
