// Tiled VAE decode / encode (src/pipeline/tiled_vae.cpp) against the untiled VAE, fp32 CPU.
//
// The VAE: a real architecture (3 levels, factor 4, GroupNorm, mid-block attention) with
// random weights of unit-gain scale (conv weights N(0, 1/fan_in)), so activations stay
// O(1) through the network as in a trained model. Latents are smooth random fields (low
// frequencies plus a little noise), so the decoded images are smooth enough for a seam to
// show up in their gradients.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "gen/error.hpp"
#include "models/vae.hpp"
#include "pipeline/generate.hpp"
#include "pipeline/tiled_vae.hpp"
#include "small_vae.hpp"

using namespace gen;
using gen::pipeline::VaeTiling;
using gen::test::small_vae;
using gen::test::smooth_field;
using gen::test::randomise;
using gen::test::small_config;

namespace {

double psnr(const at::Tensor& got, const at::Tensor& want) {  // peak: the reference's range
  const double range = (want.max() - want.min()).item<double>();
  const double mse = (got - want).pow(2).mean().item<double>();
  return 10.0 * std::log10(range * range / mse);
}

// Mean |horizontal + vertical gradient| of `img` across the given boundary columns/rows
// (between pixel p−1 and p) divided by the mean over all pixel pairs.
double seam_ratio(const at::Tensor& img, const std::vector<std::int64_t>& cols, const std::vector<std::int64_t>& rows) {
  auto gx = (img.slice(3, 1) - img.slice(3, 0, -1)).abs();  // [.., W-1]: pair (p-1, p) at p-1
  auto gy = (img.slice(2, 1) - img.slice(2, 0, -1)).abs();
  double at_seams = 0;
  int n = 0;
  for (auto c : cols) at_seams += gx.select(3, c - 1).mean().item<double>(), ++n;
  for (auto r : rows) at_seams += gy.select(2, r - 1).mean().item<double>(), ++n;
  const double inside = 0.5 * (gx.mean().item<double>() + gy.mean().item<double>());
  return n ? (at_seams / n) / inside : 0.0;
}

// Every tile start and end (in output pixels) strictly inside the image: where a tile's
// contribution begins or ends, i.e. where a seam would be.
std::vector<std::int64_t> boundaries(std::int64_t size, const VaeTiling& t, std::int64_t scale) {
  std::vector<std::int64_t> b;
  const auto tile = std::min<std::int64_t>(t.tile_latent, size);
  for (auto p : pipeline::tile_positions(size, t.tile_latent, t.overlap_latent)) {
    if (p > 0) b.push_back(p * scale);
    if (p + tile < size) b.push_back((p + tile) * scale);
  }
  return b;
}

// Small blended tiles so a 40×52 latent has 3×4 of them.
constexpr VaeTiling kTiles{16, 4, VaeTiling::Method::Blended};

double max_diff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

}  // namespace

TEST(TiledVae, TilePositionsCoverEvenlyWithTheOverlap) {
  EXPECT_EQ(pipeline::tile_positions(10, 16, 4), (std::vector<std::int64_t>{0}));
  EXPECT_EQ(pipeline::tile_positions(16, 16, 4), (std::vector<std::int64_t>{0}));
  EXPECT_EQ(pipeline::tile_positions(40, 16, 4), (std::vector<std::int64_t>{0, 12, 24}));
  const auto p = pipeline::tile_positions(53, 16, 4);
  ASSERT_EQ(p.size(), 5u);
  EXPECT_EQ(p.front(), 0);
  EXPECT_EQ(p.back(), 53 - 16);
  for (std::size_t i = 1; i < p.size(); ++i) EXPECT_GE(p[i - 1] + 16 - p[i], 4) << i;
}

// Measured (this VAE, 40×52 latent, 16-pixel tiles with a 4-pixel overlap): PSNR 25.4 dB,
// max |diff| 2.25 of a 5.7 range, seam ratio 1.01 (image) / 1.09 (difference image). The
// differences are GroupNorm statistics and attention taken over a tile instead of the whole
// image (random weights and small tiles make them large; real SD tiles are 64 latent
// pixels); they vary smoothly, so no seam. Bounds: PSNR >= 22 dB, seam ratio <= 1.15 and
// difference seam ratio <= 1.3. Checked by breaking the code: without the ramps (tiles
// averaged with flat weights) the seam ratios are 1.64 / 2.10 and the test fails; a tile
// placed 2 pixels off still gives PSNR 23.7 dB here, so placement is tested exactly by
// TilesArePlacedExactly instead.
TEST(TiledVae, DecodeMatchesUntiledWithoutSeams) {
  const auto& vae = small_vae();
  auto z = smooth_field(1, 4, 40, 52, 7);
  auto want = vae.decode(z);
  auto got = pipeline::tiled_decode(vae, z, kTiles);
  ASSERT_EQ(got.sizes(), want.sizes());
  const double p = psnr(got, want), max_abs = (got - want).abs().max().item<double>();
  const double range = (want.max() - want.min()).item<double>();
  const auto cols = boundaries(52, kTiles, 4), rows = boundaries(40, kTiles, 4);
  const double seams = seam_ratio(got, cols, rows), diff_seams = seam_ratio(got - want, cols, rows);
  std::printf("decode: PSNR %.2f dB, max |diff| %.4f (range %.3f), seam ratio %.3f, diff seam ratio %.3f\n", p,
              max_abs, range, seams, diff_seams);
  EXPECT_GE(p, 22.0);
  EXPECT_LE(seams, 1.15);
  EXPECT_LE(diff_seams, 1.3);
}

// Measured: mean PSNR 33.5 dB (max |diff| 0.73 of a 5.2 range), log-variance PSNR 35.5 dB,
// seam ratio 1.02, difference seam ratio 1.06; bounds as for decode. Without the ramps the
// difference seam ratio is 1.59 (fails); a tile 2 latent pixels off gives PSNR 17.8 (fails).
TEST(TiledVae, EncodeMatchesUntiledWithoutSeams) {
  const auto& vae = small_vae();
  auto x = smooth_field(1, 3, 160, 208, 8).clamp(-1, 1);
  auto [want_mean, want_logvar] = vae.encode(x);
  auto [mean, logvar] = pipeline::tiled_encode(vae, x, kTiles);
  ASSERT_EQ(mean.sizes(), want_mean.sizes());
  ASSERT_EQ(logvar.sizes(), want_logvar.sizes());
  const auto cols = boundaries(52, kTiles, 1), rows = boundaries(40, kTiles, 1);
  const double p = psnr(mean, want_mean), pl = psnr(logvar, want_logvar);
  const double seams = seam_ratio(mean, cols, rows), diff_seams = seam_ratio(mean - want_mean, cols, rows);
  std::printf("encode: mean PSNR %.2f dB, max |diff| %.4f (range %.3f), logvar PSNR %.2f dB, seam ratio %.3f, "
              "diff seam ratio %.3f\n",
              p, (mean - want_mean).abs().max().item<double>(), (want_mean.max() - want_mean.min()).item<double>(),
              pl, seams, diff_seams);
  EXPECT_GE(p, 22.0);
  EXPECT_GE(pl, 22.0);
  EXPECT_LE(seams, 1.15);
  EXPECT_LE(diff_seams, 1.3);
}

// Where only one tile covers the output (weights exactly 1), the tiled result is that tile
// decoded / encoded alone, bit for bit: tests tile placement and weight normalisation.
TEST(TiledVae, TilesArePlacedExactly) {
  const auto& vae = small_vae();
  auto z = smooth_field(1, 4, 40, 52, 7);
  auto got = pipeline::tiled_decode(vae, z, kTiles);
  auto x = smooth_field(1, 3, 160, 208, 8).clamp(-1, 1);
  auto enc = pipeline::tiled_encode(vae, x, kTiles).first;
  const auto ys = pipeline::tile_positions(40, 16, 4), xs = pipeline::tile_positions(52, 16, 4);
  auto own = [](const std::vector<std::int64_t>& p, std::size_t i) {  // latent range only tile i covers
    const std::int64_t a = i > 0 ? p[i - 1] + 16 : 0, b = i + 1 < p.size() ? p[i + 1] : p[i] + 16;
    return std::make_pair(a, b);
  };
  for (std::size_t i = 0; i < ys.size(); ++i) {
    for (std::size_t j = 0; j < xs.size(); ++j) {
      const auto [y0, y1] = own(ys, i);
      const auto [x0, x1] = own(xs, j);
      ASSERT_LT(y0, y1);
      ASSERT_LT(x0, x1);
      auto tz = z.slice(2, ys[i], ys[i] + 16).slice(3, xs[j], xs[j] + 16).contiguous();
      auto alone = vae.decode(tz).slice(2, (y0 - ys[i]) * 4, (y1 - ys[i]) * 4).slice(3, (x0 - xs[j]) * 4, (x1 - xs[j]) * 4);
      EXPECT_TRUE(at::allclose(got.slice(2, y0 * 4, y1 * 4).slice(3, x0 * 4, x1 * 4), alone, 0, 1e-6)) << i << "," << j;
      auto tx = x.slice(2, ys[i] * 4, (ys[i] + 16) * 4).slice(3, xs[j] * 4, (xs[j] + 16) * 4).contiguous();
      auto ealone = vae.encode(tx).first.slice(2, y0 - ys[i], y1 - ys[i]).slice(3, x0 - xs[j], x1 - xs[j]);
      EXPECT_TRUE(at::allclose(enc.slice(2, y0, y1).slice(3, x0, x1), ealone, 0, 1e-6)) << i << "," << j;
    }
  }
}

TEST(TiledVae, OneTileIsExactlyUntiled) {
  const auto& vae = small_vae();
  auto z = smooth_field(2, 4, 16, 12, 9);
  EXPECT_TRUE(at::equal(pipeline::tiled_decode(vae, z, kTiles), vae.decode(z)));
  auto x = smooth_field(1, 3, 64, 48, 10);
  auto [m, l] = pipeline::tiled_encode(vae, x, kTiles);
  auto [wm, wl] = vae.encode(x);
  EXPECT_TRUE(at::equal(m, wm));
  EXPECT_TRUE(at::equal(l, wl));
}

TEST(TiledVae, OddSizesAndBatches) {
  const auto& vae = small_vae();
  // 37×23 latents: neither a multiple of the tile nor of the stride; one axis has one tile.
  auto z = smooth_field(2, 4, 37, 15, 11);
  auto both = pipeline::tiled_decode(vae, z, kTiles);
  ASSERT_EQ(both.sizes(), (std::vector<std::int64_t>{2, 3, 148, 60}));
  EXPECT_GE(psnr(both, vae.decode(z)), 22.0);
  // Image i of a batch equals that image tiled alone (to rounding).
  for (int i = 0; i < 2; ++i) {
    auto alone = pipeline::tiled_decode(vae, z.slice(0, i, i + 1), kTiles);
    EXPECT_LE((both.slice(0, i, i + 1) - alone).abs().max().item<double>(), 1e-4) << i;
  }
  auto x = smooth_field(2, 3, 4 * 37, 4 * 23, 12);
  auto [m, l] = pipeline::tiled_encode(vae, x, kTiles);
  ASSERT_EQ(m.sizes(), (std::vector<std::int64_t>{2, 4, 37, 23}));
  EXPECT_GE(psnr(m, vae.encode(x).first), 22.0);
  EXPECT_THROW(pipeline::tiled_encode(vae, x.slice(2, 0, 147), kTiles), gen::Error);
}

TEST(TiledVae, DecodeModesOfThePipeline) {
  const auto& vae = small_vae();
  pipeline::Models m{nullptr, &vae};
  auto lat = smooth_field(1, 4, 24, 20, 13) * vae.config().scaling_factor;
  auto plain = pipeline::decode(m, lat, pipeline::Tiling::Off);
  // Auto does not tile a small image on the CPU: the result is exactly the untiled one.
  EXPECT_TRUE(at::equal(pipeline::decode(m, lat), plain));
  EXPECT_FALSE(pipeline::should_tile(vae, 96, 80, 1, c10::Device(c10::kCPU), at::kFloat));
  auto tiled = pipeline::decode(m, lat, pipeline::Tiling::On, kTiles);
  EXPECT_FALSE(at::equal(tiled, plain));
  EXPECT_GE(psnr(tiled, plain), 22.0);
  // A decode estimated above half the RAM is tiled (far more than any machine has).
  EXPECT_TRUE(pipeline::should_tile(vae, 1 << 20, 1 << 20, 1, c10::Device(c10::kCPU), at::kFloat));
}

// The exact method: equal to the untiled decode up to f32 rounding, whatever the tile size
// (1 latent pixel, sizes that do not divide the latent, one tile on an axis), for batches.
// Measured max |diff| 3.2e-6 to 4.8e-6 of a 7.3 range (see the printout); bound 1e-4, 20×
// the rounding seen, and far below the blended method's 2.25. Checked by breaking the code:
// with a resnet block's margin set to 1 instead of 2, both exact tests fail (crop_axis
// refuses to widen a tile: an internal error).
TEST(TiledVae, ExactDecodeEqualsUntiledToRounding) {
  const auto& vae = small_vae();
  EXPECT_EQ(vae.decode_tile_margin(), 8);  // 1 + 2·2 → ⌈6/2⌉ = 3 (+ 2·2) → ⌈8/2⌉ = 4 (+ 2·2)
  auto z = smooth_field(2, 4, 40, 52, 7);
  auto want = vae.decode(z);
  auto tiny = smooth_field(1, 4, 7, 6, 3);  // 1-pixel tiles: 42 of them
  EXPECT_LE(max_diff(pipeline::tiled_decode(vae, tiny, VaeTiling{1, 0, VaeTiling::Method::Exact}), vae.decode(tiny)),
            1e-4);
  for (int tile : {5, 16, 39, 45}) {
    auto got = pipeline::tiled_decode(vae, z, VaeTiling{tile, 0, VaeTiling::Method::Exact});
    ASSERT_EQ(got.sizes(), want.sizes());
    const double d = max_diff(got, want);
    std::printf("exact tiles of %d: max |diff| %.3g (range %.3f)\n", tile, d, (want.max() - want.min()).item<double>());
    EXPECT_LE(d, 1e-4) << tile;
  }
  // Odd latent sizes; the direct call (no one-tile shortcut) with one tile covering all.
  auto odd = smooth_field(1, 4, 37, 15, 11);
  EXPECT_LE(max_diff(vae.decode_tiled(odd, 16), vae.decode(odd)), 1e-4);
  EXPECT_LE(max_diff(vae.decode_tiled(odd, 64), vae.decode(odd)), 1e-4);
  EXPECT_THROW(vae.decode_tiled(odd, 0), gen::Error);
}

// The SD decoder's architecture (4 levels, 3 resnets per level, 512 channels), random
// weights: margin 13 latent pixels, and exact tiling of a 16×24 latent in 8-pixel tiles
// (2×3 tiles, every margin clipped somewhere) equals the untiled decode to rounding.
TEST(TiledVae, ExactDecodeOfTheSdArchitecture) {
  models::Vae vae(models::VaeConfig::sd());
  randomise(vae, 3);
  EXPECT_EQ(vae.decode_tile_margin(), 13);
  auto z = smooth_field(1, 4, 16, 24, 5);
  auto want = vae.decode(z);
  auto got = pipeline::tiled_decode(vae, z, VaeTiling{8, 0, VaeTiling::Method::Exact});
  const double d = max_diff(got, want);
  std::printf("SD exact tiles of 8: max |diff| %.3g (range %.3f)\n", d, (want.max() - want.min()).item<double>());
  EXPECT_LE(d, 1e-4);
}

// Auto picks the exact method when its estimate fits the budget, the blended one when not;
// Tiling::On through the pipeline therefore gives the untiled pixels to rounding.
TEST(TiledVae, AutoMethodPrefersExactWhenItFits) {
  const auto& vae = small_vae();
  const c10::Device cpu(c10::kCPU);
  using M = VaeTiling::Method;
  EXPECT_EQ(pipeline::resolve_method(vae, 160, 208, 1, cpu, at::kFloat, {}), M::Exact);
  EXPECT_EQ(pipeline::resolve_method(vae, 1 << 20, 1 << 20, 1, cpu, at::kFloat, {}), M::Blended);
  EXPECT_EQ(pipeline::resolve_method(vae, 1 << 20, 1 << 20, 1, cpu, at::kFloat, {16, 4, M::Exact}), M::Exact);
  EXPECT_EQ(pipeline::resolve_method(vae, 160, 208, 1, cpu, at::kFloat, kTiles), M::Blended);
  pipeline::Models m{nullptr, &vae};
  auto lat = smooth_field(1, 4, 40, 52, 13) * vae.config().scaling_factor;
  auto plain = pipeline::decode(m, lat, pipeline::Tiling::Off);
  auto exact = pipeline::decode(m, lat, pipeline::Tiling::On, VaeTiling{16, 4});
  EXPECT_LE(max_diff(exact, plain), 1e-5);  // pixels in [0, 1] (image / 2 + 0.5)
}

// Half precision: the exact method is as close to the f32 CPU decode as the untiled decode in
// the same dtype is (within 1.5× its error + 1e-3), and deterministic.
void expect_exact_in(at::Device device, at::ScalarType dtype) {
  models::Vae vae(small_config());
  randomise(vae, 1234);
  auto z = smooth_field(1, 4, 40, 52, 7);
  auto want = vae.decode(z);
  vae.visit([&](const std::string&, models::Module::Param& p) { p.value = p.value.to(device, dtype); });
  auto zh = z.to(device, dtype).contiguous(at::MemoryFormat::ChannelsLast);
  auto plain = vae.decode(zh).to(at::kCPU, at::kFloat);
  const VaeTiling exact_tiles{16, 0, VaeTiling::Method::Exact};
  auto exact = pipeline::tiled_decode(vae, zh, exact_tiles).to(at::kCPU, at::kFloat);
  const double e_plain = max_diff(plain, want), e_exact = max_diff(exact, want);
  std::printf("%s %s vs f32 CPU: untiled %.3g, exact tiles %.3g\n", device.str().c_str(), c10::toString(dtype),
              e_plain, e_exact);
  EXPECT_LE(e_exact, 1.5 * e_plain + 1e-3);
  EXPECT_TRUE(at::equal(pipeline::tiled_decode(vae, zh, exact_tiles).to(at::kCPU, at::kFloat), exact));
}

TEST(TiledVae, ExactDecodeInBf16OnTheCpu) { expect_exact_in(at::kCPU, at::kBFloat16); }

// GPU (skips without one; not yet run on a GPU): fp16 and bf16, channels-last.
TEST(TiledVae, ExactDecodeInHalfPrecisionOnTheGpu) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device";
  expect_exact_in(at::kCUDA, at::kHalf);
  expect_exact_in(at::kCUDA, at::kBFloat16);
}

// The exact method's estimate: SD at 2048² in fp16 peaks in level 0's first resnet block,
// which holds its input and first convolution output (256 + 128 channels at full size)
// with their margins, plus one 512-pixel tile's temporaries.
TEST(TiledVae, ExactDecodeEstimate) {
  models::Vae vae(models::VaeConfig::sd());
  const auto total = pipeline::estimate_exact_tiled_bytes(vae, 2048, 2048, 1, at::kHalf);
  const double held = 384.0 * 2048 * 2048 * 2;
  std::printf("SD 2048² fp16: exact tiled estimate %.2f GiB (held %.2f GiB)\n", total / 1073741824.0,
              held / 1073741824.0);
  EXPECT_GE(total, held);
  EXPECT_LE(total, held * 1.5);
  EXPECT_LT(total, 6LL << 30);  // W3's 2048² decode target is 8 GB; untiled is estimated at 8 GiB
  EXPECT_EQ(pipeline::estimate_decode_bytes(vae, 2048, 2048, 1, at::kHalf), 8LL << 30);
  EXPECT_EQ(pipeline::estimate_exact_tiled_bytes(vae, 2048, 2048, 2, at::kHalf), 2 * total);
}

TEST(TiledVae, SdDecodeEstimate) {
  // SD: the widest full-resolution activation has 256 channels (the last upsample conv).
  models::Vae vae(models::VaeConfig::sd());
  EXPECT_EQ(pipeline::estimate_decode_bytes(vae, 512, 512, 1, at::kHalf), 256LL * 512 * 512 * 2 * 4);
  EXPECT_EQ(pipeline::estimate_decode_bytes(vae, 2048, 2048, 2, at::kFloat), 2 * 256LL * 2048 * 2048 * 4 * 4);
}

namespace {

// Resident-set high-water mark in MiB since the last reset (Linux: clear_refs 5 resets it).
double peak_rss_mib(bool reset) {
  if (reset) std::ofstream("/proc/self/clear_refs") << "5";
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return -1;
}

}  // namespace

// Not a timed test: prints peak memory of untiled vs tiled decode with the full-size SD VAE
// (random weights, fp32 CPU). GEN_TILE_BENCH_SIZE sets the image side (default 512).
TEST(TiledVae, DISABLED_PeakMemorySdVae) {
  models::Vae vae(models::VaeConfig::sd());
  randomise(vae, 1);
  const char* env = std::getenv("GEN_TILE_BENCH_SIZE");
  const std::int64_t side = env ? std::atoi(env) : 512, lat = side / 8;
  auto z = smooth_field(1, 4, lat, lat, 2);
  const VaeTiling tiles{32, 8, VaeTiling::Method::Blended};  // 256-pixel tiles
  const double base = peak_rss_mib(true);
  auto run = [&](const char* what, auto&& fn) {
    peak_rss_mib(true);
    const auto t0 = std::chrono::steady_clock::now();
    auto img = fn();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%s %lldx%lld: peak RSS %.0f MiB above the %.0f MiB before (weights, input), %.1f s\n", what,
                static_cast<long long>(side), static_cast<long long>(side), peak_rss_mib(false) - base, base, s);
    return img;
  };
  auto tiled = run("blended 32/8", [&] { return pipeline::tiled_decode(vae, z, tiles); });
  auto exact = run("exact 32", [&] { return pipeline::tiled_decode(vae, z, {32, 0, VaeTiling::Method::Exact}); });
  auto plain = run("untiled", [&] { return vae.decode(z); });
  std::printf("estimate untiled: %.0f MiB, exact: %.0f MiB; blended vs untiled PSNR %.2f dB, exact max |diff| %.3g\n",
              pipeline::estimate_decode_bytes(vae, side, side, 1, at::kFloat) / 1048576.0,
              pipeline::estimate_exact_tiled_bytes(vae, side, side, 1, at::kFloat, {32, 0}) / 1048576.0,
              psnr(tiled, plain), max_diff(exact, plain));
}
