// Hires fix with a pixel upscaler (Lanczos, or an ESRGAN net then Lanczos), A1111's
// sample_hr_pass: the first pass decoded to 8 bits, resized with Lanczos to hr_upscale_to_x ×
// hr_upscale_to_y (images.resize_image(0, …): "just resize", not a multiple of 8 in general),
// VAE-encoded whole, and only then cut to the target (truncate_x/y on the latents). The
// expected values are built here from the public pieces (decode, Pillow Lanczos, encode, the
// slice written out with A1111's indices), so the test fails if the order changes (a pixel crop
// before the encode, a resize straight to the final size).
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cstring>
#include <vector>

#include "editing/mask_ops.hpp"
#include "gen/image.hpp"
#include "gen/request.hpp"
#include "pipeline/generate.hpp"
#include "pipeline/hires.hpp"
#include "small_vae.hpp"

namespace {

using namespace gen;

// What A1111 encodes: 255·x truncated to 8 bits, Lanczos to w × h, back to [-1, 1], encoded.
std::pair<at::Tensor, at::Tensor> encode_resized(const pipeline::Models& m, const at::Tensor& lat, int w, int h) {
  auto img8 = pipeline::decode(m, lat).mul(255.0).to(at::kByte).permute({0, 2, 3, 1}).contiguous();
  Image img = Image::make(static_cast<int>(img8.size(2)), static_cast<int>(img8.size(1)), 3);
  std::memcpy(img.data8.data(), img8.data_ptr<std::uint8_t>(), img.data8.size());
  const Image big = editing::resize_mode(img, w, h, editing::ResizeMode::Default, "test");
  auto x = at::from_blob(const_cast<std::uint8_t*>(big.data8.data()), {1, big.height, big.width, 3}, at::kByte)
               .permute({0, 3, 1, 2})
               .to(at::kFloat)
               .div(255.0)
               .mul(2.0)
               .sub(1.0)
               .contiguous();
  auto [mean, logvar] = m.vae->encode(x);
  return {mean, at::exp(0.5 * logvar)};
}

Request sized(int w, int h, double scale, int tw, int th) {
  Request r;
  r.width = w;
  r.height = h;
  r.hires_scale = scale;
  r.hires_width = tw;
  r.hires_height = th;
  return r;
}

}  // namespace

TEST(HiresPixels, BothSidesEncodeTheCoveringImageThenCutTheLatents) {
  const auto& vae = test::small_vae();  // factor 4
  pipeline::Models m{nullptr, &vae};
  // 32x24 → 64x32: covered at 64 × (64 · 24 // 32) = 64x48, latents 16x12, 4 rows cut (2 + 2).
  const auto plan = pipeline::hires_plan(sized(32, 24, 0, 64, 32), 4);
  ASSERT_EQ(plan.to_width, 64);
  ASSERT_EQ(plan.to_height, 48);
  ASSERT_EQ(plan.trunc_y, 4);
  const auto lat = test::smooth_field(1, 4, 6, 8, 21) * vae.config().scaling_factor;
  const auto [mean, std] = pipeline::hires_pixel_posterior(m, lat, plan, nullptr);
  ASSERT_EQ(mean.sizes(), (std::vector<std::int64_t>{1, 4, 8, 16}));
  ASSERT_EQ(std.sizes(), mean.sizes());
  const auto [full_mean, full_std] = encode_resized(m, lat, 64, 48);
  ASSERT_EQ(full_mean.size(2), 12);
  EXPECT_TRUE(at::equal(mean, full_mean.slice(2, 2, 10)));  // rows [4 // 2, 12 − (4 + 1) // 2)
  EXPECT_TRUE(at::equal(std, full_std.slice(2, 2, 10)));
  // Cropping the pixels to 64x32 first (what gen did before) encodes other latents.
  const auto [cropped, unused] = encode_resized(m, lat, 64, 32);
  (void)unused;
  EXPECT_GT((cropped - mean).abs().max().item<double>(), 1e-3);
}

TEST(HiresPixels, AScaleThatIsNotAMultipleOfTheFactorResizesToIntWidthTimesScale) {
  const auto& vae = test::small_vae();
  pipeline::Models m{nullptr, &vae};
  // 32x24 × 1.3: int(41.6) = 41, int(31.2) = 31 → latents 10x7 (the encoder's floor), image 40x28.
  const auto plan = pipeline::hires_plan(sized(32, 24, 1.3, 0, 0), 4);
  ASSERT_EQ(plan.to_width, 41);
  ASSERT_EQ(plan.to_height, 31);
  ASSERT_EQ(plan.width, 40);
  const auto lat = test::smooth_field(1, 4, 6, 8, 22) * vae.config().scaling_factor;
  const auto [mean, std] = pipeline::hires_pixel_posterior(m, lat, plan, nullptr);
  const auto [want_mean, want_std] = encode_resized(m, lat, 41, 31);
  ASSERT_EQ(mean.sizes(), (std::vector<std::int64_t>{1, 4, 7, 10}));
  EXPECT_TRUE(at::equal(mean, want_mean));
  EXPECT_TRUE(at::equal(std, want_std));
}
