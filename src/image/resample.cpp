#include "image/resample.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "gen/error.hpp"

namespace gen {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // Pillow's fixed point for 8-bit samples
constexpr double kPi = 3.14159265358979323846;

double sinc(double x) {
  if (x == 0.0) return 1.0;
  x *= kPi;
  return std::sin(x) / x;
}

double lanczos(double x) { return (-3.0 <= x && x < 3.0) ? sinc(x) * sinc(x / 3.0) : 0.0; }

// Per output sample: the first input sample, how many, and their fixed-point weights.
struct Coefficients {
  int ksize = 0;
  std::vector<int> first, count;
  std::vector<std::int32_t> weights;  // out × ksize
};

Coefficients coefficients(int in_size, int out_size) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double filterscale = std::max(scale, 1.0);
  const double support = 3.0 * filterscale;
  Coefficients c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.first.resize(out_size);
  c.count.resize(out_size);
  c.weights.assign(static_cast<std::size_t>(out_size) * c.ksize, 0);
  std::vector<double> k(c.ksize);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      k[x] = lanczos((x + xmin - center + 0.5) * ss);
      ww += k[x];
    }
    for (int x = 0; x < xmax; ++x) {
      const double w = ww != 0.0 ? k[x] / ww : k[x];
      c.weights[static_cast<std::size_t>(xx) * c.ksize + x] =
          static_cast<std::int32_t>(w < 0 ? -0.5 + w * (1 << kPrecisionBits) : 0.5 + w * (1 << kPrecisionBits));
    }
    c.first[xx] = xmin;
    c.count[xx] = xmax;
  }
  return c;
}

std::uint8_t clip8(std::int64_t v) {
  v >>= kPrecisionBits;
  return static_cast<std::uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

// One pass along x (rows) or y (columns).
Image pass(const Image& in, int width, int height, bool horizontal) {
  const int ch = in.channels;
  Image out = Image::make(width, height, ch);
  const auto c = coefficients(horizontal ? in.width : in.height, horizontal ? width : height);
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

}  // namespace

Image resize_lanczos(const Image& image, int width, int height) {
  if (image.bit_depth != 8) fail(ErrorCode::InvalidArgument, "resize", "needs an 8-bit image");
  check_image(image, "resize");
  if (width == image.width && height == image.height) return image;
  // Pillow: the horizontal pass first (when the width changes), then the vertical one.
  Image tmp = width != image.width ? pass(image, width, image.height, true) : image;
  return height != image.height ? pass(tmp, width, height, false) : tmp;
}

}  // namespace gen
