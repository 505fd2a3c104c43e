// gen — inpainting and outpainting on the image side: masks made from images, diffusers'
// mask and image preprocessing for its inpaint pipelines (binarisation, padding_mask_crop's crop
// region, resize "fill"/"crop"), diffusers' final overlay, and the outpainting canvas. A1111's
// variants are in editing/a1111_mask.hpp. docs/masks.md describes each algorithm and its source.
//
// Every function takes and returns 8-bit gen::Image pixels (mask_from_image also 16-bit) and
// reproduces the reference exactly (tests/unit/test_mask_ops.cpp against fixtures made by
// tools/make_mask_fixtures.py from diffusers 0.42 / Pillow 13). The diffusers functions follow
// diffusers/image_processor.py, class VaeImageProcessor, whose Pillow calls are editing/pil_ops.hpp.
//
// Mask convention: 1 channel, 255 (white) = repaint, 0 (black) = keep, as in diffusers and A1111.
// Errors: gen::Error InvalidArgument naming the input (`subject`) and the problem.
#pragma once

#include <string>

#include "gen/image.hpp"

namespace gen::editing {

// A pixel rectangle x1 <= x < x2, y1 <= y < y2 (diffusers' and Pillow's (x1, y1, x2, y2) box).
struct CropBox {
  int x1 = 0, y1 = 0, x2 = 0, y2 = 0;
  int width() const { return x2 - x1; }
  int height() const { return y2 - y1; }
  bool operator==(const CropBox& o) const { return x1 == o.x1 && y1 == o.y1 && x2 == o.x2 && y2 == o.y2; }
};

// ---------------------------------------------------------------- masks from images

// A 1-channel 8-bit mask from a grey, grey+alpha, RGB or RGBA image of 8 or 16 bits. 16-bit
// samples are first rounded to 8 bits as gen::to_8bit does (v * 255 / 65535, rounded; Pillow
// would clip a 16-bit grey image at 255 and keep the high byte of 16-bit RGB).
//   from_alpha = false: Pillow's Image.convert("L") (Convert.c): grey as is, grey+alpha its grey,
//     RGB/RGBA the luminance (R*19595 + G*38470 + B*7471 + 0x8000) >> 16 (pil_luminance: the
//     299/587/114 per-mille weights in Pillow's fixed point), alpha ignored.
//   from_alpha = true: 255 - alpha, so transparent pixels (alpha 0) are repainted and opaque ones
//     kept: the convention of editors that erase the area to repaint. (A1111's Gradio sketch
//     masks use the opposite one: see a1111_binary_mask.) InvalidArgument for an image without
//     alpha, naming `subject`.
//   invert: 255 - v of the result.
Image mask_from_image(const Image& image, bool from_alpha, bool invert, const std::string& subject = "mask");

// diffusers' VaeImageProcessor.binarize on pil_to_numpy's values (do_binarize): v/255 (float32)
// < 0.5 → 0, else 1 — here 0 or 255, i.e. 0 for v <= 127 and 255 for v >= 128. 1-channel input.
Image binarize_mask(const Image& mask, const std::string& subject = "mask");

// ---------------------------------------------------------------- diffusers preprocessing

// How VaeImageProcessor.resize fits an image to width x height (diffusers' resize_mode).
enum class ResizeMode {
  Default,  // "default": Image.resize((width, height), LANCZOS), aspect not kept
  Fill,     // "fill": _resize_and_fill: fit inside, centre, edges stretched into the margins
  Crop,     // "crop": _resize_and_crop: cover, centre, cut the overflow
};

// VaeImageProcessor.get_crop_region(mask, width, height, pad): the box around every non-zero
// pixel of mask.convert("L"), grown by `pad` (clamped to the image), then widened or heightened
// about its centre to the aspect ratio width / height and shifted back inside the image (the
// same two steps as A1111's masking.get_crop_region + expand_crop_region, which it copies).
// InvalidArgument for a mask with no non-zero pixel (diffusers returns a reversed box there,
// which Pillow's crop then refuses) or width/height < 1.
CropBox crop_region(const Image& mask, int width, int height, int pad, const std::string& subject = "mask");

// VaeImageProcessor._resize_and_fill / _resize_and_crop / Image.resize as resize(image, height,
// width, resize_mode) does them, on an 8-bit L, LA, RGB or RGBA image. Fill and Crop return RGB
// (they paste into Image.new("RGB"): grey becomes (L, L, L), alpha is dropped); Default keeps the
// channels. The fitted image is Pillow's Lanczos resize. Fill: when the fitted image leaves
// margins (the aspect ratios differ), diffusers stretches its two edge rows/columns into them
// with Image.resize, an empty box on that edge and no resample argument, i.e. Pillow's BICUBIC;
// gen does the same (pil_resize with PillowFilter::Bicubic and the box), so fill is exact
// with and without margins. InvalidArgument when the fitted image would have no pixels.
Image resize_mode(const Image& image, int width, int height, ResizeMode mode, const std::string& subject = "image");

// The 8-bit pixels diffusers' inpaint pipelines make from the init image before normalising
// (image_processor.preprocess(image, height, width, crops_coords, resize_mode)): cropped to
// `crop` when given, fitted to the size by resize_mode; width and height are first rounded down
// to a multiple of vae_scale_factor (get_default_height_width). `image` must be 8-bit RGB (diffusers
// keeps other modes as they are, which its VAE then refuses; gen::to_rgb8 flattens alpha first).
Image preprocess_image(const Image& image, int width, int height, ResizeMode mode, const CropBox* crop = nullptr,
                       int vae_scale_factor = 8, const std::string& subject = "image");

// The binarised mask diffusers' inpaint pipelines use (mask_processor.preprocess with
// do_binarize and do_convert_grayscale): cropped, fitted to the size by resize_mode on the mask
// as given (an RGB mask is resized as RGB, an RGBA one premultiplied as Pillow does), converted
// to L, binarised: 0 or 255, 1 channel. 8-bit L, LA, RGB or RGBA (gen::to_8bit first for 16-bit).
Image preprocess_mask(const Image& mask, int width, int height, ResizeMode mode, const CropBox* crop = nullptr,
                      int vae_scale_factor = 8, const std::string& subject = "mask");

// VaeImageProcessor.apply_overlay(mask, init_image, image, crop_coords): the generated `image`
// (8-bit RGB) put back into `init_image` where the mask is white: init_image premultiplied, pasted
// into a transparent canvas through 255 - mask.convert("L") (Pillow's BLEND), unpremultiplied,
// and alpha-composited over the generated image. With `crop` (padding_mask_crop), `image` is
// first resized with ResizeMode::Crop to the crop box and pasted at its corner into a black
// canvas of init_image's size. `mask` is the user's mask at init_image's size (any 8-bit layout;
// converted to L), init_image L, LA, RGB or RGBA. Returns RGB of init_image's size.
Image apply_overlay(const Image& mask, const Image& init_image, const Image& image, const CropBox* crop = nullptr);

// The masked original both overlays start from (diffusers apply_overlay's init_image_masked and
// A1111's overlay_images): RGBA, init_image's colour where the mask is black, transparent where
// it is white, partly transparent in between (paste through 255 - mask, then RGBa → RGBA).
Image masked_original(const Image& mask, const Image& init_image, const std::string& subject = "mask");

// ---------------------------------------------------------------- outpainting

// How extend_canvas fills the new border.
enum class Fill {
  Edge,    // replicate the nearest edge pixel (numpy.pad mode "edge", cv::BORDER_REPLICATE)
  Mirror,  // reflect about the edge pixel, not repeating it (numpy.pad "reflect", cv::BORDER_REFLECT_101),
           // reflecting again when the border is wider than the image
  Colour,  // a flat colour (grey images: its pil_luminance); alpha, if any, opaque
};

// The image with `left`, `right`, `top`, `bottom` pixels added on each side (each >= 0; the
// result within the size caps), same channels and bit depth (16-bit colours are v * 257).
Image extend_canvas(const Image& image, int left, int right, int top, int bottom, Fill fill, Rgb8 colour = kBlack);

// The matching outpainting mask: width + left + right by height + top + bottom, 1 channel,
// 255 in the added border, 0 over the original image.
Image extend_canvas_mask(int width, int height, int left, int right, int top, int bottom);

}  // namespace gen::editing
