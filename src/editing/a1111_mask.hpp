// gen — AUTOMATIC1111 stable-diffusion-webui's inpainting image steps, written from its
// algorithms (modules/processing.py: create_binary_mask, StableDiffusionProcessingImg2Img.init,
// apply_overlay; modules/masking.py: get_crop_region, expand_crop_region, fill; modules/images.py:
// resize_image), read at commits 0027ce1f (processing.py) and 0cb7262c (masking.py). A1111 cannot
// be installed as a reference, so the tests check these against the Pillow / OpenCV calls A1111
// makes (tools/make_mask_fixtures.py) and against small hand-checked cases. docs/masks.md says
// what each step does.
#pragma once

#include <string>

#include "editing/mask_ops.hpp"
#include "gen/image.hpp"

namespace gen::editing {

// processing.py create_binary_mask: an RGBA image whose alpha is not everywhere 255 gives
// alpha > 128 → 255 else 0 (Gradio's sketch layer: painted = opaque = repaint, the opposite of
// mask_from_image's from_alpha); any other image its Image.convert("L") (pil_to_l). 8-bit.
Image a1111_binary_mask(const Image& image, const std::string& subject = "mask");

// The mask blur of StableDiffusionProcessingImg2Img.init ("Mask blur", mask_blur_x/_y, default
// 4): when blur_x > 0, cv2.GaussianBlur(mask, (k, 1), blur_x) with k = 2 * int(2.5 * blur_x + 0.5) + 1,
// then the same vertically with (1, k) and blur_y; OpenCV's default border (BORDER_REFLECT_101).
// 1-channel 8-bit mask; blur_x, blur_y >= 0 (0 skips that axis).
Image a1111_mask_blur(const Image& mask, int blur_x, int blur_y, const std::string& subject = "mask");

// masking.py get_crop_region(mask, pad): the box around every non-zero pixel of a 1-channel
// 8-bit mask, grown by `pad` on each side and clamped to the image. InvalidArgument for a mask
// with no non-zero pixel (A1111 returns a reversed box there) or pad < 0.
CropBox a1111_get_crop_region(const Image& mask, int pad, const std::string& subject = "mask");

// masking.py expand_crop_region(crop_region, processing_width, processing_height, image_width,
// image_height): the box widened (or heightened) about its centre to the processing aspect
// ratio, by int(desired - current) pixels split floor-half before / rest after, then moved back
// inside the image and clamped — the ratio compared and the desired size computed in doubles as
// Python does. ("Inpaint area: Only masked" crops this box, with "Only masked padding" as pad.)
CropBox a1111_expand_crop_region(const CropBox& box, int processing_width, int processing_height, int image_width,
                                 int image_height);

// The mask_for_overlay of "Inpaint area: Whole picture": the (blurred, resized) mask doubled,
// min(255, 2 v), so that the overlay keeps the original only where the blurred mask is below
// half. ("Only masked" overlays through the blurred mask as it is.)
Image a1111_whole_picture_overlay_mask(const Image& mask, const std::string& subject = "mask");

// masking.py fill(image, mask) ("Masked content: fill"): the image with its masked part
// replaced by colours smeared in from around it: the image premultiplied and pasted through the
// inverted mask into a transparent canvas, then blurred with Pillow's GaussianBlur of radius 256,
// 64, 16, 16, 4, 4, 4, 4, 2, 2 and 0, each unpremultiplied and alpha-composited in that order
// over an accumulating transparent RGBA canvas, returned as RGB (alpha dropped). image 8-bit
// RGB (A1111 flattens init images first), mask 1-channel 8-bit of the same size.
Image a1111_fill(const Image& image, const Image& mask);

// processing.py apply_overlay(image, paste_loc, index, overlays): the generated 8-bit RGB
// `image` put back under the overlay (masked_original of the init image through
// mask_for_overlay). With `paste_to` (x1, y1, x2, y2: "Only masked"'s crop box; A1111 stores
// it as x, y, w, h) `image` is first fitted to the box by images.resize_image mode 1 ("crop and
// resize": ResizeMode::Crop, Lanczos — A1111 would use its img2img upscaler instead when one is
// set and the box is larger) and pasted at the box into a transparent canvas of the overlay's
// size. Then overlay composited over it (pil_alpha_composite) and alpha dropped: RGB.
Image a1111_apply_overlay(const Image& image, const Image& overlay, const CropBox* paste_to = nullptr);

}  // namespace gen::editing
