// gen — the Pillow operations that diffusers' and A1111's inpainting code is made of,
// reproduced on 8-bit gen::Image pixels with Pillow's own integer arithmetic, so that a mask,
// crop or overlay made by gen equals the reference's pixel for pixel. Each function names the
// Pillow C function it follows (Pillow 13, src/libImaging/). Resampling itself is
// image/resample.hpp (Pillow's Lanczos and bicubic); nothing here uses libtorch.
//
// Layouts: gen keeps an image's channels (1 L, 2 LA, 3 RGB, 4 RGBA, all 8-bit here); where Pillow
// changes mode (convert, paste into another mode) the function says what it returns.
// Errors: InvalidArgument naming the input (`subject`) for a 16-bit image, a wrong channel count
// or mismatched sizes.
#pragma once

#include <cstdint>
#include <string>

#include "gen/image.hpp"
#include "image/resample.hpp"

namespace gen::editing {

// Convert.c L24: the luminance Pillow's convert("L") gives an RGB pixel,
// (R*19595 + G*38470 + B*7471 + 0x8000) >> 16 — the ITU-R 601-2 weights 299/587/114 per mille
// in 16-bit fixed point, rounded. (Not the same as R*299/1000 + G*587/1000 + B*114/1000 done in
// integers: tools/make_mask_fixtures.py checks all 2^24 colours against Pillow.)
inline std::uint8_t pil_luminance(unsigned r, unsigned g, unsigned b) {
  return static_cast<std::uint8_t>((r * 19595u + g * 38470u + b * 7471u + 0x8000u) >> 16);
}

// ImagingUtils.h: MULDIV255(a, b) and DIV255(a), Pillow's rounded a*b/255 and a/255.
inline unsigned pil_div255(unsigned a) {
  const unsigned t = a + 128;
  return ((t >> 8) + t) >> 8;
}
inline unsigned pil_muldiv255(unsigned a, unsigned b) { return pil_div255(a * b); }

// Image.convert("L") of an 8-bit image: L as is, LA its L (la2l), RGB/RGBA pil_luminance of the
// colour, alpha ignored (rgb2l, rgba2l). Returns 1 channel.
Image pil_to_l(const Image& image, const std::string& subject);

// Image.convert("RGBA"): L → (L, L, L, 255), LA → (L, L, L, A), RGB → (R, G, B, 255), RGBA as is.
Image pil_to_rgba(const Image& image, const std::string& subject);

// Image.convert("RGB"): RGBA → its R, G, B with alpha dropped, not composited (Convert.c
// rgba2rgb); L → (L, L, L); LA → (L, L, L); RGB as is.
Image pil_to_rgb(const Image& image, const std::string& subject);

// RGBA → RGBa (Convert.c rgbA2rgba): colour = MULDIV255(colour, alpha). LA → La alike.
Image pil_premultiply(const Image& image, const std::string& subject);
// RGBa → RGBA (Convert.c rgba2rgbA): colour = min(255, 255*colour / alpha) in integers, colour
// kept as is where alpha is 0 or 255. La → LA alike.
Image pil_unpremultiply(const Image& image, const std::string& subject);

// Image.resize's `box`: the source rectangle in float pixel coordinates (x0 <= x1, y0 <= y1,
// inside the image; an empty side is allowed).
struct PilBox {
  float x0 = 0, y0 = 0, x1 = 0, y1 = 0;
};

// Image.resize((width, height), filter, box) as Pillow does it for every mode gen has: the whole
// image at its own size (box absent or the whole image) is returned as is; otherwise an image
// with alpha (LA, RGBA) is premultiplied, resampled and unpremultiplied (Image.resize converts to
// La/RGBa and back), others are resampled as stored (image/resample.hpp resize_pillow_box, which
// also crops for an integer box of the output size, as Pillow's _resize does). `box` nullptr:
// the whole image. (Image.resize with no resample argument is filter BICUBIC.)
Image pil_resize(const Image& image, int width, int height, const std::string& subject,
                 PillowFilter filter = PillowFilter::Lanczos, const PilBox* box = nullptr);

// Image.crop((x1, y1, x2, y2)) for a box inside the image (InvalidArgument otherwise).
Image pil_crop(const Image& image, int x1, int y1, int x2, int y2, const std::string& subject);

// im.paste(src, (x, y)) with no mask, src and im of the same channel count: src's pixels copied,
// clipped to im (Paste.c paste). Callers convert the mode first as Image.paste does.
void pil_paste(Image& im, const Image& src, int x, int y);

// im.paste(src, (0, 0), mask) with an "L" mask, all three the same size, im and src the same
// channel count: every sample im = DIV255(im * (255 - m) + src * m) (Paste.c paste_mask_L,
// BLEND), alpha included.
void pil_paste_masked(Image& im, const Image& src, const Image& mask, const std::string& subject);

// Image.alpha_composite(dst, src) of two RGBA images of one size (AlphaComposite.c): src over
// dst with Pillow's 7-bit-precision integer formula; dst where src's alpha is 0.
Image pil_alpha_composite(const Image& dst, const Image& src, const std::string& subject);

// image.filter(ImageFilter.GaussianBlur(radius)) on an 8-bit image of any channels (Pillow blurs
// every band, alpha too; the caller premultiplies as the reference does): three box blurs per
// axis, horizontal first, of the fractional box radius Pillow derives from `radius`
// (BoxBlur.c ImagingGaussianBlur, _gaussian_blur_radius, ImagingHorizontalBoxBlur).
// radius 0 returns a copy, as ImageFilter.GaussianBlur does.
Image pil_gaussian_blur(const Image& image, float radius, const std::string& subject);

}  // namespace gen::editing
