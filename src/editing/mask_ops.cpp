#include "editing/mask_ops.hpp"

#include <opencv2/core.hpp>

#include <algorithm>
#include <cstdint>

#include "core/fail.hpp"
#include "editing/a1111_mask.hpp"
#include "editing/pil_ops.hpp"

namespace gen::editing {
namespace {

std::string size_text(int w, int h) { return std::to_string(w) + "x" + std::to_string(h); }

std::size_t pixels(const Image& im) { return static_cast<std::size_t>(im.width) * static_cast<std::size_t>(im.height); }

void need_size(int width, int height, const std::string& subject) {
  if (width < 1 || height < 1 || width > kMaxImageSide || height > kMaxImageSide)
    fail(ErrorCode::InvalidArgument, subject, "size " + size_text(width, height) + " is outside 1 .. " +
                                                  std::to_string(kMaxImageSide) + " per side");
}

// Pillow's paste of `src` into an RGB canvas: L is converted to RGB, LA/RGBA/RGBa are copied
// byte for byte (Image.paste does not convert those into RGB), which keeps their colour bands.
void paste_into_rgb(Image& canvas, const Image& src, int x, int y, const std::string& subject) {
  pil_paste(canvas, pil_to_rgb(src, subject), x, y);
}

Image apply_crop(const Image& image, const CropBox* crop, const std::string& subject) {
  return crop ? pil_crop(image, crop->x1, crop->y1, crop->x2, crop->y2, subject) : image;
}

}  // namespace

Image mask_from_image(const Image& image, bool from_alpha, bool invert, const std::string& subject) {
  check_image(image, subject);
  const Image im = to_8bit(image);
  Image out = Image::make(im.width, im.height, 1);
  if (from_alpha) {
    if (!im.has_alpha())
      fail(ErrorCode::InvalidArgument, subject,
           "has no alpha channel (" + std::to_string(im.channels) +
               " channels), so a mask cannot come from its transparency; use its grey levels instead");
    const int ch = im.channels;
    for (std::size_t i = 0; i < pixels(im); ++i) out.data8[i] = static_cast<std::uint8_t>(255 - im.data8[i * ch + ch - 1]);
  } else {
    out = pil_to_l(im, subject);
  }
  if (invert)
    for (auto& v : out.data8) v = static_cast<std::uint8_t>(255 - v);
  return out;
}

Image binarize_mask(const Image& mask, const std::string& subject) {
  check_image(mask, subject);
  if (mask.channels != 1 || mask.bit_depth != 8)
    fail(ErrorCode::InvalidArgument, subject, "binarising needs a 1-channel 8-bit mask (see mask_from_image)");
  Image out = mask;
  // pil_to_numpy: float32(v) / 255.0 (a float32 array divided by a Python float stays float32),
  // then binarize: < 0.5 → 0, else 1.
  for (auto& v : out.data8) v = static_cast<float>(v) / 255.0f < 0.5f ? 0 : 255;
  return out;
}

CropBox crop_region(const Image& mask, int width, int height, int pad, const std::string& subject) {
  if (width < 1 || height < 1)
    fail(ErrorCode::InvalidArgument, subject, "processing size " + size_text(width, height) + " must be at least 1x1");
  const Image l = pil_to_l(mask, subject);
  const CropBox box = a1111_get_crop_region(l, pad, subject);
  return a1111_expand_crop_region(box, width, height, l.width, l.height);
}

Image resize_mode(const Image& image, int width, int height, ResizeMode mode, const std::string& subject) {
  check_image(image, subject);
  if (image.bit_depth != 8) fail(ErrorCode::InvalidArgument, subject, "needs an 8-bit image (use gen::to_8bit first)");
  need_size(width, height, subject);
  if (mode == ResizeMode::Default) return pil_resize(image, width, height, subject);
  // Both modes compare the aspect ratios as Python floats and size the fitted image with
  // integer floor division.
  const double ratio = static_cast<double>(width) / height;
  const double src_ratio = static_cast<double>(image.width) / image.height;
  const std::int64_t iw = image.width, ih = image.height;
  const bool fill = mode == ResizeMode::Fill;
  const bool full_width = fill ? ratio < src_ratio : ratio > src_ratio;
  const int src_w = full_width ? width : static_cast<int>(iw * height / ih);
  const int src_h = full_width ? static_cast<int>(ih * width / iw) : height;
  if (src_w < 1 || src_h < 1)  // Pillow refuses a zero size ("height and width must be > 0")
    fail(ErrorCode::InvalidArgument, subject,
         "fitting " + size_text(image.width, image.height) + " to " + size_text(width, height) + " leaves no pixels");
  const Image resized = pil_resize(image, src_w, src_h, subject);
  Image res = Image::make(width, height, 3);  // Image.new("RGB"): black
  paste_into_rgb(res, resized, width / 2 - src_w / 2, height / 2 - src_h / 2, subject);
  if (!fill) return res;
  // Fill's margins: the fitted image's edge row (column) pair stretched over each margin by
  // resized.resize((width, margin), box=<an empty box on that edge>) with no resample argument,
  // so Pillow's BICUBIC; both strips are `margin` wide, the far one pasted at margin + src_h
  // (src_w), clipped by the canvas or leaving its last row (column) black as in diffusers.
  const float fw = static_cast<float>(width), fh = static_cast<float>(height);
  const float rw = static_cast<float>(resized.width), rh = static_cast<float>(resized.height);
  auto strip = [&](int w, int h, PilBox box) {
    return pil_resize(resized, w, h, subject, PillowFilter::Bicubic, &box);
  };
  if (ratio < src_ratio) {
    const int fill_height = height / 2 - src_h / 2;
    if (fill_height > 0) {
      paste_into_rgb(res, strip(width, fill_height, {0.0f, 0.0f, fw, 0.0f}), 0, 0, subject);
      paste_into_rgb(res, strip(width, fill_height, {0.0f, rh, fw, rh}), 0, fill_height + src_h, subject);
    }
  } else if (ratio > src_ratio) {
    const int fill_width = width / 2 - src_w / 2;
    if (fill_width > 0) {
      paste_into_rgb(res, strip(fill_width, height, {0.0f, 0.0f, 0.0f, fh}), 0, 0, subject);
      paste_into_rgb(res, strip(fill_width, height, {rw, 0.0f, rw, fh}), fill_width + src_w, 0, subject);
    }
  }
  return res;
}

Image preprocess_image(const Image& image, int width, int height, ResizeMode mode, const CropBox* crop,
                       int vae_scale_factor, const std::string& subject) {
  check_image(image, subject);
  if (image.channels != 3 || image.bit_depth != 8)
    fail(ErrorCode::InvalidArgument, subject, "diffusers' image preprocessing is given 8-bit RGB here (use gen::to_rgb8)");
  if (vae_scale_factor < 1) fail(ErrorCode::InvalidArgument, subject, "vae_scale_factor must be at least 1");
  const Image cropped = apply_crop(image, crop, subject);
  // get_default_height_width: round the size down to a multiple of the VAE's scale factor.
  return resize_mode(cropped, width - width % vae_scale_factor, height - height % vae_scale_factor, mode, subject);
}

Image preprocess_mask(const Image& mask, int width, int height, ResizeMode mode, const CropBox* crop,
                      int vae_scale_factor, const std::string& subject) {
  check_image(mask, subject);
  if (mask.bit_depth != 8) fail(ErrorCode::InvalidArgument, subject, "needs an 8-bit mask (use gen::to_8bit first)");
  if (vae_scale_factor < 1) fail(ErrorCode::InvalidArgument, subject, "vae_scale_factor must be at least 1");
  const Image cropped = apply_crop(mask, crop, subject);
  const Image resized =
      resize_mode(cropped, width - width % vae_scale_factor, height - height % vae_scale_factor, mode, subject);
  return binarize_mask(pil_to_l(resized, subject), subject);
}

Image masked_original(const Image& mask, const Image& init_image, const std::string& subject) {
  check_image(init_image, "init image");
  if (init_image.bit_depth != 8) fail(ErrorCode::InvalidArgument, "init image", "needs 8 bits (use gen::to_8bit first)");
  Image keep = pil_to_l(mask, subject);  // ImageOps.invert(mask.convert("L"))
  for (auto& v : keep.data8) v = static_cast<std::uint8_t>(255 - v);
  Image canvas = Image::make(init_image.width, init_image.height, 4);  // Image.new("RGBa"): transparent black
  pil_paste_masked(canvas, pil_premultiply(pil_to_rgba(init_image, "init image"), "init image"), keep, subject);
  return pil_unpremultiply(canvas, subject);  // .convert("RGBA")
}

Image apply_overlay(const Image& mask, const Image& init_image, const Image& image, const CropBox* crop) {
  const Image masked = masked_original(mask, init_image, "mask");
  check_image(image, "generated image");
  if (image.channels != 3 || image.bit_depth != 8)
    fail(ErrorCode::InvalidArgument, "generated image", "must be 8-bit RGB");
  Image base;
  if (crop) {
    // resize(image, h, w, "crop") into the box, pasted into Image.new("RGBA") (transparent)
    // and converted to RGB: black outside the box.
    const Image fitted = resize_mode(image, crop->width(), crop->height(), ResizeMode::Crop, "generated image");
    Image canvas = Image::make(init_image.width, init_image.height, 3);
    pil_paste(canvas, fitted, crop->x1, crop->y1);
    base = pil_to_rgba(canvas, "generated image");
  } else {
    if (image.width != init_image.width || image.height != init_image.height)
      fail(ErrorCode::InvalidArgument, "generated image",
           "is " + size_text(image.width, image.height) + " but the init image is " +
               size_text(init_image.width, init_image.height) + " (without a crop box they must match)");
    base = pil_to_rgba(image, "generated image");
  }
  return pil_to_rgb(pil_alpha_composite(base, masked, "overlay"), "overlay");
}

Image extend_canvas(const Image& image, int left, int right, int top, int bottom, Fill fill, Rgb8 colour) {
  check_image(image, "image");
  if (left < 0 || right < 0 || top < 0 || bottom < 0)
    fail(ErrorCode::InvalidArgument, "outpaint border", "left, right, top and bottom must be >= 0");
  const std::int64_t w = std::int64_t{image.width} + left + right, h = std::int64_t{image.height} + top + bottom;
  if (w > kMaxImageSide || h > kMaxImageSide || static_cast<std::uint64_t>(w * h) > kMaxImagePixels)
    fail(ErrorCode::InvalidArgument, "outpaint border",
         "the extended canvas " + std::to_string(w) + "x" + std::to_string(h) + " is over the image size caps");
  Image out = Image::make(static_cast<int>(w), static_cast<int>(h), image.channels, image.bit_depth);
  const bool deep = image.bit_depth == 16;
  const int type = CV_MAKETYPE(deep ? CV_16U : CV_8U, image.channels);
  cv::Mat src(image.height, image.width, type,
              deep ? static_cast<void*>(const_cast<std::uint16_t*>(image.data16.data()))
                   : static_cast<void*>(const_cast<std::uint8_t*>(image.data8.data())));
  cv::Mat dst(out.height, out.width, type,
              deep ? static_cast<void*>(out.data16.data()) : static_cast<void*>(out.data8.data()));
  // Colour: (r, g, b) as the channels need them, alpha opaque, scaled to the bit depth.
  const double unit = deep ? 257.0 : 1.0, opaque = deep ? 65535.0 : 255.0;
  const double grey = pil_luminance(colour.r, colour.g, colour.b) * unit;
  cv::Scalar value;
  switch (image.channels) {
    case 1: value = cv::Scalar(grey); break;
    case 2: value = cv::Scalar(grey, opaque); break;
    case 3: value = cv::Scalar(colour.r * unit, colour.g * unit, colour.b * unit); break;
    default: value = cv::Scalar(colour.r * unit, colour.g * unit, colour.b * unit, opaque); break;
  }
  const int border = fill == Fill::Edge     ? cv::BORDER_REPLICATE
                     : fill == Fill::Mirror ? cv::BORDER_REFLECT_101
                                            : cv::BORDER_CONSTANT;
  if (fill == Fill::Mirror && ((image.width == 1 && (left || right)) || (image.height == 1 && (top || bottom))))
    fail(ErrorCode::InvalidArgument, "image", "a 1-pixel-wide side cannot be mirrored; use the edge fill");
  cv::copyMakeBorder(src, dst, top, bottom, left, right, border, value);
  if (dst.data != (deep ? static_cast<void*>(out.data16.data()) : static_cast<void*>(out.data8.data())))
    fail(ErrorCode::Internal, "outpaint border", "OpenCV reallocated the canvas");
  return out;
}

Image extend_canvas_mask(int width, int height, int left, int right, int top, int bottom) {
  if (left < 0 || right < 0 || top < 0 || bottom < 0)
    fail(ErrorCode::InvalidArgument, "outpaint border", "left, right, top and bottom must be >= 0");
  need_size(width, height, "outpaint image");
  const std::int64_t w = std::int64_t{width} + left + right, h = std::int64_t{height} + top + bottom;
  if (w > kMaxImageSide || h > kMaxImageSide || static_cast<std::uint64_t>(w * h) > kMaxImagePixels)
    fail(ErrorCode::InvalidArgument, "outpaint border",
         "the extended canvas " + std::to_string(w) + "x" + std::to_string(h) + " is over the image size caps");
  Image out = Image::make(static_cast<int>(w), static_cast<int>(h), 1);
  std::fill(out.data8.begin(), out.data8.end(), std::uint8_t{255});
  for (int y = 0; y < height; ++y)
    std::fill_n(&out.data8[static_cast<std::size_t>(y + top) * out.width + left], width, std::uint8_t{0});
  return out;
}

}  // namespace gen::editing
