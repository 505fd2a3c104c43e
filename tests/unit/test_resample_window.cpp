// resize_pillow_window: a window of a Lanczos or bicubic resize, computed alone, equals the same
// window cut from the whole resize, pixel for pixel; crop-resizing a long thin control image no
// longer builds the whole (over the caps) scaled image. (Against Pillow itself: the control
// fixtures, and test_mask_ops.cpp MaskPil.ResizeMatchesPillow for both filters and boxes.)
#include <gtest/gtest.h>

#include <random>

#include "control/control_image.hpp"
#include "gen/error.hpp"
#include "image/resample.hpp"

using namespace gen;

namespace {

Image random_image(int w, int h, int channels, unsigned seed) {
  Image im = Image::make(w, h, channels);
  std::mt19937 rng(seed);
  for (auto& v : im.data8) v = static_cast<std::uint8_t>(rng() & 0xFF);
  return im;
}

Image window_of(const Image& im, int x0, int y0, int w, int h) {
  Image out = Image::make(w, h, im.channels);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < im.channels; ++c)
        out.data8[(static_cast<std::size_t>(y) * w + x) * im.channels + c] =
            static_cast<std::uint8_t>(im.at(x0 + x, y0 + y, c));
  return out;
}

}  // namespace

TEST(ResampleWindow, EqualsTheWindowOfTheWholeResize) {
  const Image src = random_image(37, 23, 3, 1);
  struct Case {
    int full_w, full_h, x0, y0, w, h;
  };
  for (const Case& c : {Case{90, 50, 13, 7, 40, 30}, Case{90, 23, 0, 0, 90, 23}, Case{37, 80, 5, 11, 20, 64},
                        Case{20, 11, 3, 2, 16, 8}, Case{37, 23, 4, 6, 10, 10}, Case{300, 301, 299, 300, 1, 1},
                        // Pillow 13 resamples these vertically first (23 - 8 > 2 * (37 - W))
                        Case{40, 8, 0, 0, 40, 8}, Case{34, 8, 0, 0, 34, 8}, Case{40, 8, 5, 2, 20, 4}}) {
    for (PillowFilter f : {PillowFilter::Lanczos, PillowFilter::Bicubic}) {
      const Image whole = resize_pillow(src, c.full_w, c.full_h, f);
      const Image want = window_of(whole, c.x0, c.y0, c.w, c.h);
      const Image got = resize_pillow_window(src, c.full_w, c.full_h, c.x0, c.y0, c.w, c.h, f);
      ASSERT_EQ(got.width, c.w);
      ASSERT_EQ(got.height, c.h);
      EXPECT_EQ(got.data8, want.data8) << c.full_w << "x" << c.full_h << "+" << c.x0 << "+" << c.y0
                                       << (f == PillowFilter::Bicubic ? " bicubic" : " lanczos");
      // The box variant (checked against Pillow in MaskPil.ResizeMatchesPillow) with the whole
      // image as its box is the same resize, in either pass order.
      if (c.x0 == 0 && c.y0 == 0 && c.w == c.full_w && c.h == c.full_h)
        EXPECT_EQ(resize_pillow_box(src, c.w, c.h, 0.0f, 0.0f, 37.0f, 23.0f, f).data8, whole.data8);
    }
  }
  // The Lanczos names are the Lanczos filter.
  EXPECT_EQ(resize_lanczos(src, 20, 11).data8, resize_pillow(src, 20, 11, PillowFilter::Lanczos).data8);
  EXPECT_NE(resize_bicubic(src, 20, 11).data8, resize_lanczos(src, 20, 11).data8);
}

TEST(ResampleWindow, RefusesAWindowOutsideTheImage) {
  const Image src = random_image(8, 8, 1, 2);
  for (auto f : {+[](const Image& s) { resize_lanczos_window(s, 16, 16, 10, 0, 8, 8); },
                 +[](const Image& s) { resize_lanczos_window(s, 16, 16, -1, 0, 8, 8); },
                 +[](const Image& s) { resize_lanczos_window(s, 16, 16, 0, 0, 0, 8); }}) {
    try {
      f(src);
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::InvalidArgument) << e.what();
    }
  }
}

TEST(ResampleWindow, CropOfALongThinImage) {
  // Covering 64x64 scales a 2000x1 strip to 128000x64, over the 65535-pixel side cap.
  const Image strip = random_image(2000, 1, 3, 3);
  for (const char* mode : {"crop", "fill", "just"}) {
    const Image out = control::resize_control(strip, mode, 64, 64);
    EXPECT_EQ(out.width, 64) << mode;
    EXPECT_EQ(out.height, 64) << mode;
  }
}
