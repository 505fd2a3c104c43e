// The editing stage's own arithmetic, on hand-checkable cases: the step conventions of a
// strength (diffusers' get_timesteps, A1111's setup_img2img_steps), the outpainting sides and
// fill, and the canvas rounding. (The images and latents are checked against diffusers through
// the CLI: tests/cli/test_edit_parity.sh.)
#include <gtest/gtest.h>

#include "editing/outpaint.hpp"
#include "gen/error.hpp"
#include "pipeline/edit.hpp"
#include "pipeline/hires.hpp"
#include "editing/mask_ops.hpp"
#include "gen/image.hpp"
#include "pipeline/generate.hpp"
#include "small_vae.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <cstring>

#include "schedulers/scheduler.hpp"

namespace {

using gen::StrengthSteps;
using gen::pipeline::strength_schedule;

TEST(EditSteps, DiffusersRunsTheLastIntNTimesSOfNSteps) {
  auto s = strength_schedule(10, 0.5, StrengthSteps::Diffusers);  // init_timestep 5, t_start 5
  EXPECT_EQ(s.schedule_steps, 10);
  EXPECT_EQ(s.begin_step, 5);
  s = strength_schedule(10, 0.15, StrengthSteps::Diffusers);  // int(1.5) = 1 step
  EXPECT_EQ(s.begin_step, 9);
  s = strength_schedule(7, 1.0, StrengthSteps::Diffusers);
  EXPECT_EQ(s.begin_step, 0);
  s = strength_schedule(10, 0.3, StrengthSteps::Diffusers);  // 10 × 0.3 = 3.0000000000000004 → 3
  EXPECT_EQ(s.begin_step, 7);
  EXPECT_THROW(strength_schedule(5, 0.1, StrengthSteps::Diffusers), gen::Error);  // int(0.5) = 0
}

TEST(EditSteps, A1111RunsTEncPlusOneOfNSteps) {
  // t_enc = int(min(S, 0.999) × N); sigmas[N − t_enc − 1:] → t_enc + 1 steps.
  auto s = strength_schedule(20, 0.5, StrengthSteps::A1111);
  EXPECT_EQ(s.schedule_steps, 20);
  EXPECT_EQ(s.begin_step, 9);   // 11 steps
  s = strength_schedule(20, 1.0, StrengthSteps::A1111);  // 0.999 × 20 = 19.98 → t_enc 19: all 20
  EXPECT_EQ(s.begin_step, 0);
  s = strength_schedule(5, 0.1, StrengthSteps::A1111);  // t_enc 0: one step, where diffusers has none
  EXPECT_EQ(s.begin_step, 4);
}

TEST(EditSteps, A1111FixedStretchesTheScheduleToRunExactlyNSteps) {
  auto s = strength_schedule(20, 0.5, StrengthSteps::A1111Fixed);  // int(20 / 0.5) = 40, t_enc 19
  EXPECT_EQ(s.schedule_steps, 40);
  EXPECT_EQ(s.begin_step, 20);
  s = strength_schedule(10, 0.3, StrengthSteps::A1111Fixed);  // int(33.33) = 33
  EXPECT_EQ(s.schedule_steps, 33);
  EXPECT_EQ(s.begin_step, 23);
  s = strength_schedule(10, 1.0, StrengthSteps::A1111Fixed);  // int(10 / 0.999) = 10
  EXPECT_EQ(s.schedule_steps, 10);
  EXPECT_EQ(s.begin_step, 0);
}

TEST(Outpaint, SidesParseInAnyOrderAndBadOnesAreNamed) {
  const auto s = gen::editing::parse_outpaint("top:8,left:16");
  EXPECT_EQ(s.left, 16);
  EXPECT_EQ(s.top, 8);
  EXPECT_EQ(s.right, 0);
  EXPECT_EQ(s.bottom, 0);
  for (const char* bad : {"", "left", "left:x", "left:-1", "middle:8", "left:0", "left:5000"}) {
    try {
      gen::editing::parse_outpaint(bad);
      ADD_FAILURE() << bad;
    } catch (const gen::Error& e) {
      EXPECT_EQ(e.code(), gen::ErrorCode::InvalidArgument) << bad;
      EXPECT_NE(std::string(e.what()).find("outpaint"), std::string::npos) << e.what();
    }
  }
}

TEST(Outpaint, TheCanvasIsRoundedUpToMultiplesOfEightOnTheAskedSides) {
  // 64 + 10 + 20 = 94 → 96: the 2 extra go right; 64 + 5 = 69 → 72: the 3 extra go to the top
  // (no bottom was asked for).
  auto s = gen::editing::round_sides(gen::editing::parse_outpaint("left:10,right:20,top:5"), 64, 64, 8, 16384);
  EXPECT_EQ(s.left, 10);
  EXPECT_EQ(s.right, 22);
  EXPECT_EQ(s.top, 8);
  EXPECT_EQ(s.bottom, 0);
  // An odd-sized image, only the left side asked for: the left side takes the extra (75 + 5 = 80).
  s = gen::editing::round_sides(gen::editing::parse_outpaint("left:1"), 75, 64, 8, 16384);
  EXPECT_EQ(s.left + 75, 80);
  EXPECT_EQ(s.right, 0);
  EXPECT_THROW(gen::editing::round_sides(gen::editing::parse_outpaint("right:4096"), 16000, 64, 8, 16384),
               gen::Error);
}

TEST(Outpaint, FillModesAndColours) {
  EXPECT_EQ(gen::editing::parse_outpaint_fill("edge").fill, gen::editing::Fill::Edge);
  EXPECT_EQ(gen::editing::parse_outpaint_fill("mirror").fill, gen::editing::Fill::Mirror);
  const auto c = gen::editing::parse_outpaint_fill("#10a0ff");
  EXPECT_EQ(c.fill, gen::editing::Fill::Colour);
  EXPECT_EQ(c.colour.r, 0x10);
  EXPECT_EQ(c.colour.g, 0xa0);
  EXPECT_EQ(c.colour.b, 0xff);
  for (const char* bad : {"", "red", "#12345", "#12345g", "noise"}) EXPECT_THROW(gen::editing::parse_outpaint_fill(bad), gen::Error);
}

TEST(Outpaint, MatchedNoiseFillTakesMk2sTwoSliders) {
  const auto d = gen::editing::parse_outpaint_fill("matched");
  EXPECT_TRUE(d.matched);
  EXPECT_EQ(d.fill, gen::editing::Fill::Colour);  // over a black canvas, as mk2
  EXPECT_EQ(d.colour.r + d.colour.g + d.colour.b, 0);
  EXPECT_EQ(d.matched_options.noise_q, 1.0);
  EXPECT_EQ(d.matched_options.color_variation, 0.05);
  const auto q = gen::editing::parse_outpaint_fill("matched:0.5");
  EXPECT_EQ(q.matched_options.noise_q, 0.5);
  EXPECT_EQ(q.matched_options.color_variation, 0.05);
  const auto qc = gen::editing::parse_outpaint_fill("matched:4:1");
  EXPECT_EQ(qc.matched_options.noise_q, 4.0);
  EXPECT_EQ(qc.matched_options.color_variation, 1.0);
  for (const char* bad : {"matched:", "matched:5", "matched:1:2", "matched:-1", "matched:1:0.5:3", "matched:x", "matchedx"})
    EXPECT_THROW(gen::editing::parse_outpaint_fill(bad), gen::Error) << bad;
}

// A1111's latent mask is the mask shrunk with Pillow's bicubic filter and rounded, where
// diffusers takes every 8th pixel (nearest). Hand-checkable: a latent pixel whose 8x8 block is
// 7/8 white (only its first column black) is repainted by A1111 (bicubic 208 → 1) and kept by
// nearest (the first column's black); one whose block is 3/8 white (its first rows) is kept by
// A1111 (98 → 0) and repainted by nearest.
TEST(InpaintBlend, A1111LatentMaskIsTheBicubicShrinkRounded) {
  gen::Image a = gen::Image::make(16, 8, 1);
  for (int y = 0; y < 8; ++y)
    for (int x = 1; x < 8; ++x) a.data8[y * 16 + x] = 255;
  const auto la = gen::pipeline::a1111_latent_mask(a, 8);
  ASSERT_EQ(la.sizes(), (std::vector<int64_t>{1, 1, 1, 2}));
  EXPECT_EQ(la[0][0][0][0].item<float>(), 1.0f);
  EXPECT_EQ(la[0][0][0][1].item<float>(), 0.0f);

  gen::Image b = gen::Image::make(16, 16, 1);
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 16; ++x) b.data8[y * 16 + x] = (x < 8 || y < 3) ? 255 : 0;
  const auto lb = gen::pipeline::a1111_latent_mask(b, 8);
  EXPECT_TRUE(at::equal(lb.flatten(), at::tensor({1.0f, 0.0f, 1.0f, 0.0f})));
  const auto nearest = at::upsample_nearest2d(
      at::from_blob(b.data8.data(), {1, 1, 16, 16}, at::kByte).to(at::kFloat) / 255.0, {2, 2});
  EXPECT_TRUE(at::equal(nearest.flatten(), at::tensor({1.0f, 1.0f, 1.0f, 0.0f})));
}

}  // namespace

namespace {

gen::Request hires_request(int w, int h, double scale, int tw, int th) {
  gen::Request r;
  r.width = w;
  r.height = h;
  r.hires_scale = scale;
  r.hires_width = tw;
  r.hires_height = th;
  return r;
}

TEST(HiresPlan, ScaleOrOneSideKeepsTheAspectAsA1111Does) {
  auto p = gen::pipeline::hires_plan(hires_request(64, 48, 1.5, 0, 0), 8);  // int(64 × 1.5) = 96, 72
  EXPECT_EQ(p.width, 96);
  EXPECT_EQ(p.height, 72);
  EXPECT_EQ(p.latent_width, 12);
  EXPECT_EQ(p.latent_height, 9);
  p = gen::pipeline::hires_plan(hires_request(64, 48, 1.3, 0, 0), 8);  // int(83.2) = 83 → 10 latents → 80
  EXPECT_EQ(p.to_width, 83);
  EXPECT_EQ(p.width, 80);
  EXPECT_EQ(p.to_height, 62);
  EXPECT_EQ(p.height, 56);
  p = gen::pipeline::hires_plan(hires_request(64, 48, 0, 100, 0), 8);  // height = 100 × 48 // 64 = 75
  EXPECT_EQ(p.to_height, 75);
  EXPECT_EQ(p.height, 72);
  p = gen::pipeline::hires_plan(hires_request(64, 48, 0, 0, 96), 8);  // width = 96 × 64 // 48 = 128
  EXPECT_EQ(p.width, 128);
  EXPECT_EQ(p.height, 96);
}

TEST(HiresPlan, BothSidesCoverTheTargetAndCutTheLatents) {
  // 64x48 → 128x64: the source is narrower (4:3 < 2:1), so width 128, height 128 × 48 // 64 = 96,
  // and (96 − 64) / 8 = 4 latent rows are cut, 2 at the top and 2 at the bottom.
  auto p = gen::pipeline::hires_plan(hires_request(64, 48, 0, 128, 64), 8);
  EXPECT_EQ(p.to_width, 128);
  EXPECT_EQ(p.to_height, 96);
  EXPECT_EQ(p.trunc_x, 0);
  EXPECT_EQ(p.trunc_y, 4);
  EXPECT_EQ(p.width, 128);
  EXPECT_EQ(p.height, 64);
  // Rows 0..11 of a 16x12 latent grid numbered by row: rows 2..9 stay.
  auto rows = at::arange(12, at::kFloat).view({1, 1, 12, 1}).expand({1, 1, 12, 16}).contiguous();
  // nearest at the same size is the identity, so only the cut acts
  auto cut = gen::pipeline::upscale_latents(rows, p, gen::HiresUpscaler::LatentNearest);
  ASSERT_EQ(cut.sizes(), (std::vector<std::int64_t>{1, 1, 8, 16}));
  EXPECT_EQ(cut[0][0][0][0].item<float>(), 2.0f);
  EXPECT_EQ(cut[0][0][7][0].item<float>(), 9.0f);
  // An odd cut: 3 rows → 1 at the top (3 // 2), 2 at the bottom ((3 + 1) // 2).
  gen::pipeline::HiresPlan q = p;
  q.trunc_y = 3;
  cut = gen::pipeline::upscale_latents(rows, q, gen::HiresUpscaler::LatentNearest);
  EXPECT_EQ(cut.size(2), 9);
  EXPECT_EQ(cut[0][0][0][0].item<float>(), 1.0f);
  EXPECT_EQ(cut[0][0][8][0].item<float>(), 9.0f);
}

TEST(HiresPlan, LatentUpscalersInterpolateAsTorchDoes) {
  // 2x2 → 4x4 bilinear (align_corners False): the corners stay, edges are 3:1 mixes.
  auto x = at::tensor({0.0f, 4.0f, 8.0f, 12.0f}).view({1, 1, 2, 2});
  gen::pipeline::HiresPlan p;
  p.latent_width = p.latent_height = 4;
  auto y = gen::pipeline::upscale_latents(x, p, gen::HiresUpscaler::Latent);
  EXPECT_FLOAT_EQ(y[0][0][0][0].item<float>(), 0.0f);
  EXPECT_FLOAT_EQ(y[0][0][0][1].item<float>(), 1.0f);  // 0.75 · 0 + 0.25 · 4
  EXPECT_FLOAT_EQ(y[0][0][3][3].item<float>(), 12.0f);
  y = gen::pipeline::upscale_latents(x, p, gen::HiresUpscaler::LatentNearest);
  EXPECT_FLOAT_EQ(y[0][0][1][1].item<float>(), 0.0f);
  EXPECT_FLOAT_EQ(y[0][0][2][2].item<float>(), 12.0f);
}

TEST(HiresPlan, ImpossibleTargetsAreRefused) {
  EXPECT_THROW(gen::pipeline::hires_plan(hires_request(64, 48, 0.05, 0, 0), 8), gen::Error);
  EXPECT_THROW(gen::pipeline::hires_plan(hires_request(8192, 8192, 4, 0, 0), 8), gen::Error);
}

// Hires fix with a pixel upscaler (Lanczos, or an ESRGAN net then Lanczos), A1111's
// sample_hr_pass: the first pass decoded to 8 bits, resized with Lanczos to hr_upscale_to_x ×
// hr_upscale_to_y (images.resize_image(0, …): "just resize", not a multiple of 8 in general),
// VAE-encoded whole, and only then cut to the target (truncate_x/y on the latents). The
// expected values are built from the public pieces (decode, Pillow Lanczos, encode, the slice
// written out with A1111's indices), so the tests fail if the order changes (a pixel crop
// before the encode, a resize straight to the final size).
namespace {

// What A1111 encodes: 255·x truncated to 8 bits, Lanczos to w × h, back to [-1, 1], encoded.
std::pair<at::Tensor, at::Tensor> encode_resized(const gen::pipeline::Models& m, const at::Tensor& lat, int w, int h) {
  auto img8 = gen::pipeline::decode(m, lat).mul(255.0).to(at::kByte).permute({0, 2, 3, 1}).contiguous();
  gen::Image img = gen::Image::make(static_cast<int>(img8.size(2)), static_cast<int>(img8.size(1)), 3);
  std::memcpy(img.data8.data(), img8.data_ptr<std::uint8_t>(), img.data8.size());
  const gen::Image big = gen::editing::resize_mode(img, w, h, gen::editing::ResizeMode::Default, "test");
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

}  // namespace

TEST(HiresPixels, BothSidesEncodeTheCoveringImageThenCutTheLatents) {
  const auto& vae = gen::test::small_vae();  // factor 4
  gen::pipeline::Models m{nullptr, &vae};
  // 32x24 → 64x32: covered at 64 × (64 · 24 // 32) = 64x48, latents 16x12, 4 rows cut (2 + 2).
  const auto plan = gen::pipeline::hires_plan(hires_request(32, 24, 0, 64, 32), 4);
  ASSERT_EQ(plan.to_width, 64);
  ASSERT_EQ(plan.to_height, 48);
  ASSERT_EQ(plan.trunc_y, 4);
  const auto lat = gen::test::smooth_field(1, 4, 6, 8, 21) * vae.config().scaling_factor;
  const auto [mean, std] = gen::pipeline::hires_pixel_posterior(m, lat, plan, nullptr);
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
  const auto& vae = gen::test::small_vae();
  gen::pipeline::Models m{nullptr, &vae};
  // 32x24 × 1.3: int(41.6) = 41, int(31.2) = 31 → latents 10x7 (the encoder's floor), image 40x28.
  const auto plan = gen::pipeline::hires_plan(hires_request(32, 24, 1.3, 0, 0), 4);
  ASSERT_EQ(plan.to_width, 41);
  ASSERT_EQ(plan.to_height, 31);
  ASSERT_EQ(plan.width, 40);
  const auto lat = gen::test::smooth_field(1, 4, 6, 8, 22) * vae.config().scaling_factor;
  const auto [mean, std] = gen::pipeline::hires_pixel_posterior(m, lat, plan, nullptr);
  const auto [want_mean, want_std] = encode_resized(m, lat, 41, 31);
  ASSERT_EQ(mean.sizes(), (std::vector<std::int64_t>{1, 4, 7, 10}));
  EXPECT_TRUE(at::equal(mean, want_mean));
  EXPECT_TRUE(at::equal(std, want_std));
}

}  // namespace

namespace {

TEST(InpaintBlend, DenoisedAndBackRoundTripForEveryScheduler) {
  at::manual_seed(3);
  const auto x = at::randn({1, 4, 3, 3}, at::kDouble), out = at::randn({1, 4, 3, 3}, at::kDouble);
  for (const auto& name : gen::scheduler_names()) {
    for (auto pred : {gen::Prediction::Epsilon, gen::Prediction::VPrediction}) {
      gen::SchedulerConfig c;
      c.prediction_type = pred;
      auto s = gen::make_scheduler(name, c, name == "lcm" ? 4 : 6);
      for (std::int64_t i = 0; i + 1 < s->size(); ++i) {
        const auto x0 = s->denoised(out, x, i);
        EXPECT_TRUE(at::allclose(s->output_for(x0, x, i), out, 1e-9, 1e-9)) << name << " call " << i;
      }
    }
  }
}

TEST(InpaintBlend, DenoisedIsTheSchedulersOwnX0) {
  // Euler (epsilon): x0 = x − σ·ε; DDIM: x0 = (x − sqrt(1 − ᾱ)·ε) / sqrt(ᾱ).
  const auto x = at::full({1, 1, 1, 1}, 2.0, at::kDouble), eps = at::full({1, 1, 1, 1}, 0.5, at::kDouble);
  gen::SchedulerConfig c;
  auto euler = gen::make_scheduler("euler", c, 5);
  const double s = euler->sigmas()[1];
  EXPECT_NEAR(euler->denoised(eps, x, 1).item<double>(), 2.0 - s * 0.5, 1e-6);
  auto ddim = gen::make_scheduler("ddim", c, 5);
  const auto ac = gen::sched::alphas_cumprod(c);
  const double a = ac[static_cast<std::size_t>(ddim->timesteps()[2])];
  EXPECT_NEAR(ddim->denoised(eps, x, 2).item<double>(), (2.0 - std::sqrt(1 - a) * 0.5) / std::sqrt(a), 1e-6);
}

TEST(InpaintBlend, A1111HoldsTheDenoisedPredictionToTheInitOutsideTheMask) {
  gen::SchedulerConfig c;
  auto euler = gen::make_scheduler("euler", c, 5);
  gen::pipeline::EditInputs e;
  e.mask = at::tensor({1.0, 1.0}, at::kDouble).view({1, 1, 1, 2});  // diffusers' mask: not this blend's
  e.latent_mask = at::tensor({0.0, 1.0}, at::kDouble).view({1, 1, 1, 2});  // left kept, right repainted
  gen::pipeline::EditLatents start;
  start.image_latents = at::tensor({7.0, 7.0}, at::kDouble).view({1, 1, 1, 2});
  const auto x = at::tensor({1.0, 1.0}, at::kDouble).view({1, 1, 1, 2});
  const auto eps = at::tensor({0.25, 0.25}, at::kDouble).view({1, 1, 1, 2});
  const auto held = gen::pipeline::blend_denoised(e, start, *euler, 0, eps, x);
  const auto x0 = euler->denoised(held, x, 0);
  EXPECT_NEAR(x0[0][0][0][0].item<double>(), 7.0, 1e-9);                                  // the init
  EXPECT_NEAR(x0[0][0][0][1].item<double>(), euler->denoised(eps, x, 0)[0][0][0][1].item<double>(), 1e-9);
  const auto fin = gen::pipeline::blend_final(e, start, x);
  EXPECT_EQ(fin[0][0][0][0].item<double>(), 7.0);
  EXPECT_EQ(fin[0][0][0][1].item<double>(), 1.0);
}

}  // namespace
