#include "editing/a1111_mask.hpp"

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cstdint>
#include <utility>

#include "core/fail.hpp"
#include "editing/pil_ops.hpp"

namespace gen::editing {
namespace {

void need_l8(const Image& mask, const std::string& subject) {
  check_image(mask, subject);
  if (mask.channels != 1 || mask.bit_depth != 8)
    fail(ErrorCode::InvalidArgument, subject, "needs a 1-channel 8-bit mask (see mask_from_image)");
}

// Python's floor division for a possibly negative numerator and a positive divisor.
int floor_div(int a, int b) { return a / b - ((a % b != 0) && (a < 0)); }

// One axis of expand_crop_region: grow lo..hi by int(desired - (hi - lo)) about its centre
// (floor half before, the rest after), then shift it back inside 0..limit and clamp.
void expand_axis(int& lo, int& hi, double desired, int limit) {
  const int diff = static_cast<int>(desired - (hi - lo));  // int() truncates toward zero
  lo -= floor_div(diff, 2);
  hi += diff - floor_div(diff, 2);
  if (hi >= limit) {
    const int over = hi - limit;
    hi -= over;
    lo -= over;
  }
  if (lo < 0) {
    hi -= lo;
    lo = 0;
  }
  if (hi >= limit) hi = limit;
}

}  // namespace

Image a1111_binary_mask(const Image& image, const std::string& subject) {
  check_image(image, subject);
  if (image.bit_depth != 8) fail(ErrorCode::InvalidArgument, subject, "needs an 8-bit image (use gen::to_8bit first)");
  if (image.channels == 4) {
    const std::size_t n = static_cast<std::size_t>(image.width) * image.height;
    bool opaque = true;
    for (std::size_t i = 0; i < n && opaque; ++i) opaque = image.data8[i * 4 + 3] == 255;
    if (!opaque) {
      Image out = Image::make(image.width, image.height, 1);
      for (std::size_t i = 0; i < n; ++i) out.data8[i] = image.data8[i * 4 + 3] > 128 ? 255 : 0;
      return out;
    }
  }
  return pil_to_l(image, subject);
}

Image a1111_mask_blur(const Image& mask, int blur_x, int blur_y, const std::string& subject) {
  need_l8(mask, subject);
  if (blur_x < 0 || blur_y < 0) fail(ErrorCode::InvalidArgument, subject, "mask blur must be >= 0");
  if (blur_x > 10000 || blur_y > 10000) fail(ErrorCode::InvalidArgument, subject, "mask blur must be <= 10000");
  cv::Mat m(mask.height, mask.width, CV_8UC1, const_cast<std::uint8_t*>(mask.data8.data()));
  cv::Mat cur = m.clone();
  // kernel size 2 * int(2.5 * blur + 0.5) + 1, sigma = blur (sigmaY 0: derived from the kernel's
  // height of 1, a no-op along the other axis).
  if (blur_x > 0) {
    const int k = 2 * static_cast<int>(2.5 * blur_x + 0.5) + 1;
    cv::Mat next;
    cv::GaussianBlur(cur, next, cv::Size(k, 1), blur_x);
    cur = next;
  }
  if (blur_y > 0) {
    const int k = 2 * static_cast<int>(2.5 * blur_y + 0.5) + 1;
    cv::Mat next;
    cv::GaussianBlur(cur, next, cv::Size(1, k), blur_y);
    cur = next;
  }
  Image out = Image::make(mask.width, mask.height, 1);
  for (int y = 0; y < mask.height; ++y)
    std::copy_n(cur.ptr<std::uint8_t>(y), mask.width, &out.data8[static_cast<std::size_t>(y) * mask.width]);
  return out;
}

CropBox a1111_get_crop_region(const Image& mask, int pad, const std::string& subject) {
  need_l8(mask, subject);
  if (pad < 0) fail(ErrorCode::InvalidArgument, subject, "crop padding must be >= 0");
  const int w = mask.width, h = mask.height;
  // The first and last columns and rows holding a non-zero pixel.
  int left = w, right = -1, top = h, bottom = -1;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      if (mask.data8[static_cast<std::size_t>(y) * w + x] != 0) {
        left = std::min(left, x);
        right = std::max(right, x);
        top = std::min(top, y);
        bottom = std::max(bottom, y);
      }
  if (right < 0)
    fail(ErrorCode::InvalidArgument, subject, "has no painted (non-zero) pixel, so there is no region to inpaint");
  // crop_left/right/top/bottom count the empty columns and rows at each side.
  const long long p = pad;
  return CropBox{static_cast<int>(std::max<long long>(left - p, 0)), static_cast<int>(std::max<long long>(top - p, 0)),
                 static_cast<int>(std::min<long long>(right + 1 + p, w)),
                 static_cast<int>(std::min<long long>(bottom + 1 + p, h))};
}

CropBox a1111_expand_crop_region(const CropBox& box, int processing_width, int processing_height, int image_width,
                                 int image_height) {
  if (processing_width < 1 || processing_height < 1 || box.width() < 1 || box.height() < 1)
    fail(ErrorCode::InvalidArgument, "crop region", "the box and the processing size must not be empty");
  CropBox r = box;
  const double ratio_crop = static_cast<double>(r.width()) / r.height();
  const double ratio_processing = static_cast<double>(processing_width) / processing_height;
  if (ratio_crop > ratio_processing)
    expand_axis(r.y1, r.y2, r.width() / ratio_processing, image_height);
  else
    expand_axis(r.x1, r.x2, r.height() * ratio_processing, image_width);
  return r;
}

Image a1111_whole_picture_overlay_mask(const Image& mask, const std::string& subject) {
  need_l8(mask, subject);
  Image out = mask;
  // np.clip(mask.astype(float32) * 2, 0, 255).astype(uint8): exact in float32.
  for (auto& v : out.data8) v = static_cast<std::uint8_t>(std::min(255, 2 * v));
  return out;
}

Image a1111_fill(const Image& image, const Image& mask) {
  check_image(image, "image");
  if (image.channels != 3 || image.bit_depth != 8)
    fail(ErrorCode::InvalidArgument, "image", "masked-content fill takes an 8-bit RGB image (use gen::to_rgb8)");
  need_l8(mask, "mask");
  // image_masked: the image kept where the mask is black, premultiplied (RGBa).
  Image keep = mask;
  for (auto& v : keep.data8) v = static_cast<std::uint8_t>(255 - v);
  Image masked = Image::make(image.width, image.height, 4);
  pil_paste_masked(masked, pil_premultiply(pil_to_rgba(image, "image"), "image"), keep, "mask");
  Image acc = Image::make(image.width, image.height, 4);  // Image.new("RGBA"): transparent
  const std::pair<float, int> steps[] = {{256.0f, 1}, {64.0f, 1}, {16.0f, 2}, {4.0f, 4}, {2.0f, 2}, {0.0f, 1}};
  for (const auto& [radius, repeats] : steps) {
    const Image blurred = pil_unpremultiply(pil_gaussian_blur(masked, radius, "image"), "image");
    for (int i = 0; i < repeats; ++i) acc = pil_alpha_composite(acc, blurred, "fill");
  }
  return pil_to_rgb(acc, "fill");
}

Image a1111_apply_overlay(const Image& image, const Image& overlay, const CropBox* paste_to) {
  check_image(image, "generated image");
  check_image(overlay, "overlay");
  if (image.channels != 3 || image.bit_depth != 8)
    fail(ErrorCode::InvalidArgument, "generated image", "must be 8-bit RGB");
  if (overlay.channels != 4 || overlay.bit_depth != 8)
    fail(ErrorCode::InvalidArgument, "overlay", "must be 8-bit RGBA (see masked_original)");
  Image base;
  if (paste_to) {
    const Image fitted = resize_mode(image, paste_to->width(), paste_to->height(), ResizeMode::Crop, "generated image");
    base = Image::make(overlay.width, overlay.height, 4);  // Image.new("RGBA"): transparent
    pil_paste(base, pil_to_rgba(fitted, "generated image"), paste_to->x1, paste_to->y1);
  } else {
    if (image.width != overlay.width || image.height != overlay.height)
      fail(ErrorCode::InvalidArgument, "generated image",
           "is " + std::to_string(image.width) + "x" + std::to_string(image.height) + " but the overlay is " +
               std::to_string(overlay.width) + "x" + std::to_string(overlay.height));
    base = pil_to_rgba(image, "generated image");
  }
  return pil_to_rgb(pil_alpha_composite(base, overlay, "overlay"), "overlay");
}

}  // namespace gen::editing
