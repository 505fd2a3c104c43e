#include "image/resample.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/fail.hpp"

namespace gen {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // Pillow's fixed point for 8-bit samples
constexpr double kPi = 3.14159265358979323846;

double sinc(double x) {
  if (x == 0.0) return 1.0;
  x *= kPi;
  return std::sin(x) / x;
}

// Resample.c bilinear_filter, lanczos_filter and bicubic_filter (with its `#define a -0.5`), and their supports.
double bilinear(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

double lanczos(double x) { return (-3.0 <= x && x < 3.0) ? sinc(x) * sinc(x / 3.0) : 0.0; }

double bicubic(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

struct Kernel {
  double (*fn)(double);
  double support;
};

Kernel kernel_of(PillowFilter filter) {
  if (filter == PillowFilter::Bilinear) return Kernel{bilinear, 1.0};
  return filter == PillowFilter::Bicubic ? Kernel{bicubic, 2.0} : Kernel{lanczos, 3.0};
}

// Per output sample: the first input sample, how many, and their fixed-point weights.
struct Coefficients {
  int ksize = 0;
  std::vector<int> first, count;
  std::vector<std::int32_t> weights;  // out × ksize
};

// The coefficients of output samples out_first .. out_first + out_count - 1 of a resize
// of the input span in0 .. in1 (of in_size samples) to out_size samples (stored from index 0):
// the numbers Pillow computes for those samples, whether or not the others are computed.
// in0 and in1 are floats as in Pillow's C code (its `box`); the whole input is 0 .. in_size.
// Resample.c precompute_coeffs and normalize_coeffs_8bpc.
Coefficients coefficients(const Kernel& kernel, int in_size, float in0, float in1, int out_size, int out_first,
                          int out_count) {
  const double scale = static_cast<double>(in1 - in0) / out_size;
  const double filterscale = std::max(scale, 1.0);
  const double support = kernel.support * filterscale;
  Coefficients c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.first.resize(out_count);
  c.count.resize(out_count);
  c.weights.assign(static_cast<std::size_t>(out_count) * c.ksize, 0);
  std::vector<double> k(c.ksize);
  for (int o = 0; o < out_count; ++o) {
    const int xx = out_first + o;
    const double center = in0 + (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      k[x] = kernel.fn((x + xmin - center + 0.5) * ss);
      ww += k[x];
    }
    for (int x = 0; x < xmax; ++x) {
      const double w = ww != 0.0 ? k[x] / ww : k[x];
      c.weights[static_cast<std::size_t>(o) * c.ksize + x] =
          static_cast<std::int32_t>(w < 0 ? -0.5 + w * (1 << kPrecisionBits) : 0.5 + w * (1 << kPrecisionBits));
    }
    c.first[o] = xmin;
    c.count[o] = xmax;
  }
  return c;
}

std::uint8_t clip8(std::int64_t v) {
  v >>= kPrecisionBits;
  return static_cast<std::uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

// One pass along x (rows) or y (columns), resizing the span in0 .. in1 of that axis to `full`
// samples of which samples first .. first + count - 1 are computed (the other axis is kept).
Image pass(const Kernel& kernel, const Image& in, float in0, float in1, int full, int first, int count,
           bool horizontal) {
  const int ch = in.channels;
  const int width = horizontal ? count : in.width, height = horizontal ? in.height : count;
  Image out = Image::make(width, height, ch);
  const auto c = coefficients(kernel, horizontal ? in.width : in.height, in0, in1, full, first, count);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const int o = horizontal ? x : y;
      const std::int32_t* k = &c.weights[static_cast<std::size_t>(o) * c.ksize];
      for (int z = 0; z < ch; ++z) {
        std::int64_t ss = std::int64_t{1} << (kPrecisionBits - 1);
        for (int i = 0; i < c.count[o]; ++i) {
          const int sx = horizontal ? c.first[o] + i : x, sy = horizontal ? y : c.first[o] + i;
          ss += static_cast<std::int64_t>(in.data8[(static_cast<std::size_t>(sy) * in.width + sx) * ch + z]) * k[i];
        }
        out.data8[(static_cast<std::size_t>(y) * width + x) * ch + z] = clip8(ss);
      }
    }
  }
  return out;
}

// Columns first .. first + count - 1 (horizontal) or those rows (vertical) of `in`, copied.
Image cut(const Image& in, int first, int count, bool horizontal) {
  const int ch = in.channels;
  Image out = Image::make(horizontal ? count : in.width, horizontal ? in.height : count, ch);
  for (int y = 0; y < out.height; ++y) {
    const std::size_t src = ((static_cast<std::size_t>(y) + (horizontal ? 0 : first)) * in.width +
                             (horizontal ? first : 0)) * ch;
    std::copy_n(in.data8.begin() + static_cast<std::ptrdiff_t>(src), static_cast<std::size_t>(out.width) * ch,
                out.data8.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(y) * out.width * ch));
  }
  return out;
}

// ImagingResampleInner's pass order in Pillow 13 (python-pillow/Pillow#9549, "if height is
// scaled down significantly more than width, resize vertically first"): the vertical pass first
// when the height shrinks by more than twice as many pixels as the width does, the horizontal
// pass first otherwise. The order changes the result (the first pass is rounded to 8 bits), and
// the rule is decided on the image's size, not the box's. (Pillow 13.0.0's merged C source was
// not available; tools/make_mask_fixtures.py check_pass_order confirms this rule against it on a
// grid of sizes, and the fixtures resize both ways.)
bool vertical_first(const Image& in, int out_w, int out_h) {
  return out_h < in.height && in.height - out_h > 2 * (in.width - out_w);
}

}  // namespace

Image resize_pillow(const Image& image, int width, int height, PillowFilter filter) {
  return resize_pillow_window(image, width, height, 0, 0, width, height, filter);
}

Image resize_pillow_window(const Image& image, int full_width, int full_height, int x0, int y0, int width,
                           int height, PillowFilter filter) {
  if (image.bit_depth != 8) fail(ErrorCode::InvalidArgument, "resize", "needs an 8-bit image");
  check_image(image, "resize");
  if (full_width < 1 || full_height < 1 || width < 1 || height < 1 || x0 < 0 || y0 < 0 ||
      x0 > full_width - width || y0 > full_height - height)
    fail(ErrorCode::InvalidArgument, "resize",
         "window " + std::to_string(width) + "x" + std::to_string(height) + "+" + std::to_string(x0) + "+" +
             std::to_string(y0) + " is not inside " + std::to_string(full_width) + "x" + std::to_string(full_height));
  // A pass along each axis whose size changes, in Pillow's order (vertical_first). Each output
  // column (row) depends only on its own coefficients, so computing only the window gives
  // exactly the pixels of the whole resize, cropped.
  const Kernel kernel = kernel_of(filter);
  const bool whole_x = x0 == 0 && width == full_width, whole_y = y0 == 0 && height == full_height;
  const float in_w = static_cast<float>(image.width), in_h = static_cast<float>(image.height);
  auto horizontal = [&](const Image& in) {
    return full_width != image.width ? pass(kernel, in, 0.0f, in_w, full_width, x0, width, true)
           : whole_x                 ? in
                                     : cut(in, x0, width, true);
  };
  auto vertical = [&](const Image& in) {
    return full_height != image.height ? pass(kernel, in, 0.0f, in_h, full_height, y0, height, false)
           : whole_y                   ? in
                                       : cut(in, y0, height, false);
  };
  return vertical_first(image, full_width, full_height) ? horizontal(vertical(image)) : vertical(horizontal(image));
}

Image resize_pillow_box(const Image& image, int width, int height, float x0, float y0, float x1, float y1,
                        PillowFilter filter) {
  if (image.bit_depth != 8) fail(ErrorCode::InvalidArgument, "resize", "needs an 8-bit image");
  check_image(image, "resize");
  if (width < 1 || height < 1 || static_cast<std::uint64_t>(width) * static_cast<std::uint64_t>(height) > kMaxImagePixels)
    fail(ErrorCode::InvalidArgument, "resize", "size " + std::to_string(width) + "x" + std::to_string(height) +
                                                   " is outside 1 .. the image size caps");
  // Pillow's checks on `box` (_imaging.c _resize), in its words.
  if (!(x0 >= 0 && y0 >= 0)) fail(ErrorCode::InvalidArgument, "resize", "box offset can't be negative");
  if (!(x1 <= image.width && y1 <= image.height))
    fail(ErrorCode::InvalidArgument, "resize", "box can't exceed original image size");
  if (!(x1 - x0 >= 0 && y1 - y0 >= 0)) fail(ErrorCode::InvalidArgument, "resize", "box can't be empty");
  // Image.resize returns a copy for the whole image at its own size; _resize crops for an
  // integer box of the output size.
  if (x0 == static_cast<float>(static_cast<int>(x0)) && y0 == static_cast<float>(static_cast<int>(y0)) &&
      x1 - x0 == static_cast<float>(width) && y1 - y0 == static_cast<float>(height)) {
    Image out = cut(image, static_cast<int>(x0), width, true);
    return cut(out, static_cast<int>(y0), height, false);
  }
  // ImagingResampleInner: a pass along an axis when its size or box differs from the output's,
  // in Pillow's order (vertical_first).
  const Kernel kernel = kernel_of(filter);
  const bool need_x = width != image.width || x0 != 0.0f || x1 != static_cast<float>(width);
  const bool need_y = height != image.height || y0 != 0.0f || y1 != static_cast<float>(height);
  auto horizontal = [&](const Image& in) { return need_x ? pass(kernel, in, x0, x1, width, 0, width, true) : in; };
  auto vertical = [&](const Image& in) { return need_y ? pass(kernel, in, y0, y1, height, 0, height, false) : in; };
  return vertical_first(image, width, height) ? horizontal(vertical(image)) : vertical(horizontal(image));
}

}  // namespace gen
