#include "editing/pil_ops.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/fail.hpp"
#include "image/resample.hpp"

namespace gen::editing {
namespace {

std::string size_text(const Image& im) { return std::to_string(im.width) + "x" + std::to_string(im.height); }

void need_8bit(const Image& image, const std::string& subject) {
  check_image(image, subject);
  if (image.bit_depth != 8) fail(ErrorCode::InvalidArgument, subject, "needs an 8-bit image (use gen::to_8bit first)");
}

void need_channels(const Image& image, const std::string& subject, bool ok, const char* what) {
  if (!ok)
    fail(ErrorCode::InvalidArgument, subject,
         "has " + std::to_string(image.channels) + " channels; this operation takes " + what);
}

std::size_t pixels(const Image& im) { return static_cast<std::size_t>(im.width) * static_cast<std::size_t>(im.height); }

// One line of Pillow's horizontal box blur (BoxBlur.c ImagingLineBoxBlur8/32, one band):
// `in` is `n` samples `stride` apart, `out` n contiguous samples. The running sum is kept in unsigned 32-bit
// arithmetic as Pillow keeps it; samples beyond the ends repeat the edge sample.
void box_blur_line(const std::uint8_t* in, std::uint8_t* out, int n, std::ptrdiff_t stride, int radius,
                   std::uint32_t ww, std::uint32_t fw) {
  const int last = n - 1;
  const int edge_a = std::min(radius + 1, n), edge_b = std::max(n - radius - 1, 0);
  auto at = [&](int i) -> std::uint32_t { return in[i * stride]; };
  // The window sum for the pixel before the first: radius + 1 copies of sample 0, samples
  // 0 .. edge_a - 2, and the last sample for the part of the window past the end.
  std::uint32_t acc = at(0) * static_cast<std::uint32_t>(radius + 1);
  for (int x = 0; x < edge_a - 1; ++x) acc += at(x);
  acc += at(last) * static_cast<std::uint32_t>(radius - edge_a + 1);
  auto step = [&](int x, int sub, int add, int far_left, int far_right) {
    acc += at(add) - at(sub);
    const std::uint32_t bulk = acc * ww + (at(far_left) + at(far_right)) * fw;
    out[x] = static_cast<std::uint8_t>((bulk + (1u << 23)) >> 24);
  };
  if (edge_a <= edge_b) {
    for (int x = 0; x < edge_a; ++x) step(x, 0, x + radius, 0, x + radius + 1);
    for (int x = edge_a; x < edge_b; ++x) step(x, x - radius - 1, x + radius, x - radius - 1, x + radius + 1);
    for (int x = edge_b; x <= last; ++x) step(x, x - radius - 1, last, x - radius - 1, last);
  } else {
    for (int x = 0; x < edge_b; ++x) step(x, 0, x + radius, 0, x + radius + 1);
    for (int x = edge_b; x < edge_a; ++x) step(x, 0, last, 0, last);
    for (int x = edge_a; x <= last; ++x) step(x, x - radius - 1, last, x - radius - 1, last);
  }
}

// BoxBlur.c _gaussian_blur_radius, in Pillow's float arithmetic: the fractional radius of the
// box whose `passes`-fold repetition has the variance of a Gaussian of sigma `radius`.
float box_radius(float radius, int passes) {
  const float sigma2 = radius * radius / static_cast<float>(passes);
  const float big_l = static_cast<float>(std::sqrt(12.0 * sigma2 + 1.0));
  const float l = static_cast<float>(std::floor((big_l - 1.0) / 2.0));
  float a = (2 * l + 1) * (l * (l + 1) - 3 * sigma2);
  a /= 6 * (sigma2 - (l + 1) * (l + 1));
  return l + a;
}

// `passes` box blurs of radius `r` along x (horizontal) or y of every band, in place.
void box_blur_axis(Image& im, float r, int passes, bool horizontal) {
  const int radius = static_cast<int>(r);
  const std::uint32_t ww = static_cast<std::uint32_t>(static_cast<float>(1 << 24) / (r * 2 + 1));
  const std::uint32_t fw = ((1u << 24) - static_cast<std::uint32_t>(radius * 2 + 1) * ww) / 2;
  const int ch = im.channels;
  const int n = horizontal ? im.width : im.height, lines = horizontal ? im.height : im.width;
  const std::ptrdiff_t stride = horizontal ? ch : static_cast<std::ptrdiff_t>(im.width) * ch;
  std::vector<std::uint8_t> line(static_cast<std::size_t>(n));
  for (int p = 0; p < passes; ++p)
    for (int l = 0; l < lines; ++l)
      for (int c = 0; c < ch; ++c) {
        std::uint8_t* base = im.data8.data() + (horizontal ? static_cast<std::size_t>(l) * im.width * ch
                                                           : static_cast<std::size_t>(l) * ch) + c;
        box_blur_line(base, line.data(), n, stride, radius, ww, fw);
        for (int i = 0; i < n; ++i) base[i * stride] = line[static_cast<std::size_t>(i)];
      }
}

}  // namespace

Image pil_to_l(const Image& image, const std::string& subject) {
  need_8bit(image, subject);
  if (image.channels == 1) return image;
  Image out = Image::make(image.width, image.height, 1);
  const int ch = image.channels;
  for (std::size_t i = 0; i < pixels(image); ++i) {
    const std::uint8_t* p = &image.data8[i * ch];
    out.data8[i] = ch == 2 ? p[0] : pil_luminance(p[0], p[1], p[2]);
  }
  return out;
}

Image pil_to_rgba(const Image& image, const std::string& subject) {
  need_8bit(image, subject);
  if (image.channels == 4) return image;
  Image out = Image::make(image.width, image.height, 4);
  const int ch = image.channels;
  for (std::size_t i = 0; i < pixels(image); ++i) {
    const std::uint8_t* p = &image.data8[i * ch];
    std::uint8_t* q = &out.data8[i * 4];
    q[0] = p[0];
    q[1] = ch >= 3 ? p[1] : p[0];
    q[2] = ch >= 3 ? p[2] : p[0];
    q[3] = ch == 2 ? p[1] : 255;
  }
  return out;
}

Image pil_to_rgb(const Image& image, const std::string& subject) {
  need_8bit(image, subject);
  if (image.channels == 3) return image;
  Image out = Image::make(image.width, image.height, 3);
  const int ch = image.channels;
  for (std::size_t i = 0; i < pixels(image); ++i) {
    const std::uint8_t* p = &image.data8[i * ch];
    for (int k = 0; k < 3; ++k) out.data8[i * 3 + k] = ch >= 3 ? p[k] : p[0];
  }
  return out;
}

Image pil_premultiply(const Image& image, const std::string& subject) {
  need_8bit(image, subject);
  need_channels(image, subject, image.has_alpha(), "an image with alpha (LA or RGBA)");
  Image out = image;
  const int ch = image.channels;
  for (std::size_t i = 0; i < pixels(image); ++i) {
    std::uint8_t* p = &out.data8[i * ch];
    for (int k = 0; k < ch - 1; ++k) p[k] = static_cast<std::uint8_t>(pil_muldiv255(p[k], p[ch - 1]));
  }
  return out;
}

Image pil_unpremultiply(const Image& image, const std::string& subject) {
  need_8bit(image, subject);
  need_channels(image, subject, image.has_alpha(), "an image with alpha (La or RGBa)");
  Image out = image;
  const int ch = image.channels;
  for (std::size_t i = 0; i < pixels(image); ++i) {
    std::uint8_t* p = &out.data8[i * ch];
    const unsigned a = p[ch - 1];
    if (a == 0 || a == 255) continue;
    for (int k = 0; k < ch - 1; ++k) p[k] = static_cast<std::uint8_t>(std::min(255u, 255u * p[k] / a));
  }
  return out;
}

Image pil_resize(const Image& image, int width, int height, const std::string& subject, PillowFilter filter,
                 const PilBox* box) {
  need_8bit(image, subject);
  const float w = static_cast<float>(image.width), h = static_cast<float>(image.height);
  const PilBox b = box ? *box : PilBox{0.0f, 0.0f, w, h};
  // Image.resize returns a copy, unconverted, for the whole image at its own size.
  if (width == image.width && height == image.height && b.x0 == 0.0f && b.y0 == 0.0f && b.x1 == w && b.y1 == h)
    return image;
  if (!image.has_alpha()) return resize_pillow_box(image, width, height, b.x0, b.y0, b.x1, b.y1, filter);
  return pil_unpremultiply(
      resize_pillow_box(pil_premultiply(image, subject), width, height, b.x0, b.y0, b.x1, b.y1, filter), subject);
}

Image pil_crop(const Image& image, int x1, int y1, int x2, int y2, const std::string& subject) {
  need_8bit(image, subject);
  if (x1 < 0 || y1 < 0 || x2 > image.width || y2 > image.height || x2 <= x1 || y2 <= y1)
    fail(ErrorCode::InvalidArgument, subject,
         "crop box (" + std::to_string(x1) + ", " + std::to_string(y1) + ", " + std::to_string(x2) + ", " +
             std::to_string(y2) + ") is not a non-empty box inside the " + size_text(image) + " image");
  Image out = Image::make(x2 - x1, y2 - y1, image.channels);
  const std::size_t row = static_cast<std::size_t>(out.width) * image.channels;
  for (int y = 0; y < out.height; ++y)
    std::copy_n(&image.data8[(static_cast<std::size_t>(y + y1) * image.width + x1) * image.channels], row,
                &out.data8[static_cast<std::size_t>(y) * row]);
  return out;
}

void pil_paste(Image& im, const Image& src, int x, int y) {
  if (im.channels != src.channels || im.bit_depth != 8 || src.bit_depth != 8)
    fail(ErrorCode::Internal, "paste", "needs two 8-bit images of one channel count");
  const int ch = im.channels;
  const int x0 = std::max(x, 0), y0 = std::max(y, 0);
  const int x1 = std::min(x + src.width, im.width), y1 = std::min(y + src.height, im.height);
  for (int yy = y0; yy < y1; ++yy)
    if (x1 > x0)
      std::copy_n(&src.data8[(static_cast<std::size_t>(yy - y) * src.width + (x0 - x)) * ch],
                  static_cast<std::size_t>(x1 - x0) * ch, &im.data8[(static_cast<std::size_t>(yy) * im.width + x0) * ch]);
}

void pil_paste_masked(Image& im, const Image& src, const Image& mask, const std::string& subject) {
  need_8bit(mask, subject);
  need_channels(mask, subject, mask.channels == 1, "a 1-channel (L) mask");
  if (im.channels != src.channels || im.width != src.width || im.height != src.height || mask.width != im.width ||
      mask.height != im.height)
    fail(ErrorCode::InvalidArgument, subject,
         "mask " + size_text(mask) + " and images " + size_text(im) + ", " + size_text(src) + " must be one size");
  const int ch = im.channels;
  for (std::size_t i = 0; i < pixels(im); ++i) {
    const unsigned m = mask.data8[i];
    for (int k = 0; k < ch; ++k) {
      std::uint8_t& o = im.data8[i * ch + k];
      o = static_cast<std::uint8_t>(pil_div255(o * (255 - m) + src.data8[i * ch + k] * m));
    }
  }
}

Image pil_alpha_composite(const Image& dst, const Image& src, const std::string& subject) {
  if (dst.channels != 4 || src.channels != 4 || dst.bit_depth != 8 || src.bit_depth != 8 || dst.width != src.width ||
      dst.height != src.height)
    fail(ErrorCode::InvalidArgument, subject,
         "alpha compositing needs two 8-bit RGBA images of one size, not " + size_text(dst) + " and " + size_text(src));
  constexpr unsigned kBits = 7;  // AlphaComposite.c PRECISION_BITS
  auto shift_div255 = [](std::uint32_t a) { return ((a >> 8) + a) >> 8; };
  Image out = dst;
  for (std::size_t i = 0; i < pixels(dst); ++i) {
    const std::uint8_t* s = &src.data8[i * 4];
    const std::uint8_t* d = &dst.data8[i * 4];
    std::uint8_t* o = &out.data8[i * 4];
    if (s[3] == 0) continue;  // dst as is
    const std::uint32_t blend = static_cast<std::uint32_t>(d[3]) * (255u - s[3]);
    const std::uint32_t outa255 = s[3] * 255u + blend;
    const std::uint32_t coef1 = s[3] * 255u * 255u * (1u << kBits) / outa255;
    const std::uint32_t coef2 = 255u * (1u << kBits) - coef1;
    for (int k = 0; k < 3; ++k)
      o[k] = static_cast<std::uint8_t>(shift_div255(s[k] * coef1 + d[k] * coef2 + (0x80u << kBits)) >> kBits);
    o[3] = static_cast<std::uint8_t>(shift_div255(outa255 + 0x80u));
  }
  return out;
}

Image pil_gaussian_blur(const Image& image, float radius, const std::string& subject) {
  need_8bit(image, subject);
  if (!(radius >= 0) || !std::isfinite(radius))
    fail(ErrorCode::InvalidArgument, subject, "blur radius must be a finite number >= 0");
  Image out = image;
  if (radius == 0) return out;
  constexpr int kPasses = 3;  // ImageFilter.GaussianBlur → _imaging gaussian_blur's default
  const float r = box_radius(radius, kPasses);
  if (r != 0) {
    box_blur_axis(out, r, kPasses, true);
    box_blur_axis(out, r, kPasses, false);
  }
  return out;
}

}  // namespace gen::editing
