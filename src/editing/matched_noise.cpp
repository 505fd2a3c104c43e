#include "editing/matched_noise.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "core/fail.hpp"
#include "core/numpy_random.hpp"

namespace gen::editing {
namespace {

// get_matched_noise's _fft2 / _ifft2 on [H, W, C]: per channel over the first two dimensions,
// fftshift before the orthonormal transform and ifftshift after (both directions shift first
// with fftshift, as A1111 does: it matters for odd sizes).
at::Tensor fft2_centred(const at::Tensor& x) {
  const std::vector<int64_t> dims{0, 1};
  return at::fft_ifftshift(at::fft_fft2(at::fft_fftshift(x, dims), c10::nullopt, dims, "ortho"), dims);
}
at::Tensor ifft2_centred(const at::Tensor& x) {
  const std::vector<int64_t> dims{0, 1};
  return at::fft_ifftshift(at::fft_ifft2(at::fft_fftshift(x, dims), c10::nullopt, dims, "ortho"), dims);
}

// _get_gaussian_window(rows, cols, mode=1): (1 / ((x² + 1)(y² + 1)))^(3.14 / 3.14), x over the
// rows and y over the columns, each from −1 to 1 (excluded) scaled by side / shorter side.
at::Tensor window(int64_t rows, int64_t cols) {
  auto w = at::empty({rows, cols}, at::kDouble);
  auto* p = w.data_ptr<double>();
  const double shorter = static_cast<double>(std::min(rows, cols));
  const double sx = static_cast<double>(rows) / shorter, sy = static_cast<double>(cols) / shorter;
  for (int64_t i = 0; i < rows; ++i) {
    const double x = (static_cast<double>(i) / static_cast<double>(rows) * 2. - 1.) * sx;
    for (int64_t j = 0; j < cols; ++j) {
      const double y = (static_cast<double>(j) / static_cast<double>(cols) * 2. - 1.) * sy;
      p[i * cols + j] = std::pow(1 / ((x * x + 1.) * (y * y + 1.)), 3.14 / 3.14);
    }
  }
  return w;
}

// numpy.interp(x, xp, fp) for increasing xp, as numpy computes each value.
double interp(double x, const std::vector<double>& xp, const std::vector<double>& fp) {
  const std::size_t n = xp.size();
  if (x > xp[n - 1]) return fp[n - 1];
  if (x < xp[0]) return fp[0];
  const std::size_t j = static_cast<std::size_t>(std::upper_bound(xp.begin(), xp.end(), x) - xp.begin()) - 1;
  if (j == n - 1 || xp[j] == x) return fp[j];
  const double slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
  double v = slope * (x - xp[j]) + fp[j];
  if (std::isnan(v)) {
    v = slope * (x - xp[j + 1]) + fp[j + 1];
    if (std::isnan(v) && fp[j] == fp[j + 1]) v = fp[j];
  }
  return v;
}

// scikit-image's _match_cumulative_cdf for float values: each distinct source value goes to
// the template value at the same cumulative quantile.
std::vector<double> match_cdf(const std::vector<double>& source, std::vector<double> templ) {
  std::vector<std::size_t> order(source.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return source[a] < source[b]; });
  std::vector<double> src_quantiles;  // per distinct source value
  std::vector<std::size_t> lookup(source.size());
  for (std::size_t k = 0; k < order.size(); ++k) {
    if (k == 0 || source[order[k]] != source[order[k - 1]]) src_quantiles.push_back(0);
    src_quantiles.back() = static_cast<double>(k + 1);
    lookup[order[k]] = src_quantiles.size() - 1;
  }
  for (auto& q : src_quantiles) q /= static_cast<double>(source.size());
  std::sort(templ.begin(), templ.end());
  std::vector<double> tmpl_values, tmpl_quantiles;
  for (std::size_t k = 0; k < templ.size(); ++k) {
    if (k == 0 || templ[k] != templ[k - 1]) {
      tmpl_values.push_back(templ[k]);
      tmpl_quantiles.push_back(0);
    }
    tmpl_quantiles.back() = static_cast<double>(k + 1);
  }
  for (auto& q : tmpl_quantiles) q /= static_cast<double>(templ.size());
  std::vector<double> mapped(src_quantiles.size());
  for (std::size_t k = 0; k < mapped.size(); ++k) mapped[k] = interp(src_quantiles[k], tmpl_quantiles, tmpl_values);
  std::vector<double> out(source.size());
  for (std::size_t k = 0; k < out.size(); ++k) out[k] = mapped[lookup[k]];
  return out;
}

}  // namespace

at::Tensor matched_noise(const at::Tensor& image_in, const at::Tensor& mask_in, const MatchedNoiseOptions& o) {
  const auto image = image_in.to(at::kDouble).contiguous(), mask_rgb = mask_in.to(at::kDouble).contiguous();
  const int64_t rows = image.size(0), cols = image.size(1), channels = image.size(2);
  const auto mask_grey = mask_rgb.sum(2) / 3.;
  const auto img_mask = mask_grey > 1e-6, ref_mask = mask_grey < 1e-3;

  // 1. the image's spectrum, the masked area filled with the canvas' mean
  auto windowed = image * (1. - mask_grey.unsqueeze(2));
  const double peak = windowed.max().item<double>();
  if (peak > 0) windowed = windowed / peak;
  windowed = windowed + image.mean() * mask_rgb;
  const auto src_fft = fft2_centred(windowed);
  const auto src_dist = src_fft.abs();
  const auto src_phase = at::where(src_dist > 0, src_fft / src_dist, at::zeros_like(src_fft));

  // 2. numpy.random.default_rng(0).random((rows, cols, channels)), greyed, low-passed
  auto noise = at::empty({rows, cols, channels}, at::kDouble);
  NumpyPcg64 rng(0);
  auto* n = noise.data_ptr<double>();
  for (int64_t k = 0; k < noise.numel(); ++k) n[k] = rng.random();
  const auto noise_grey = noise.sum(2, true) / 3.;
  noise = noise * o.color_variation + (1. - o.color_variation) * noise_grey;
  auto noise_fft = fft2_centred(noise) * window(rows, cols).unsqueeze(2);
  noise = at::real(ifft2_centred(noise_fft));

  // 3. the noise's spectrum shaped by the image's
  const auto shaped_fft = fft2_centred(noise).abs().pow(2) * src_dist.pow(o.noise_q) * src_phase;
  auto shaped = at::real(ifft2_centred(shaped_fft)).contiguous();
  shaped = shaped - shaped.min();
  const double top = shaped.max().item<double>();
  if (top > 0) shaped = shaped / top;

  // 4. per channel, the masked pixels' histogram matched to the unmasked pixels'
  const auto sel = img_mask.reshape({-1}), ref = ref_mask.reshape({-1});
  const auto source = shaped.reshape({-1, channels}).index({sel}).contiguous();
  const auto templ = image.reshape({-1, channels}).index({ref}).contiguous();
  if (source.size(0) > 0 && templ.size(0) > 0) {
    auto matched = at::empty_like(source);
    for (int64_t c = 0; c < channels; ++c) {
      const auto s = source.select(1, c).contiguous(), t = templ.select(1, c).contiguous();
      const std::vector<double> sv(s.data_ptr<double>(), s.data_ptr<double>() + s.numel());
      const std::vector<double> tv(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
      const auto m = match_cdf(sv, tv);
      matched.select(1, c).copy_(at::tensor(m, at::kDouble));
    }
    auto flat = shaped.reshape({-1, channels});
    flat.index_put_({sel}, matched);
  }

  // 5. composite
  return (image * (1. - mask_rgb) + shaped * mask_rgb).clamp(0., 1.);
}

Image matched_noise_fill(const Image& canvas, const Image& mask, const MatchedNoiseOptions& options) {
  if (canvas.channels != 3 || canvas.bit_depth != 8 || mask.channels != 1 || mask.bit_depth != 8 ||
      mask.width != canvas.width || mask.height != canvas.height)
    fail(ErrorCode::InvalidArgument, "outpaint", "the matched-noise fill needs an 8-bit RGB canvas and its mask");
  const auto h = canvas.height, w = canvas.width;
  auto image = at::from_blob(const_cast<std::uint8_t*>(canvas.data8.data()), {h, w, 3}, at::kByte).to(at::kDouble) / 255.0;
  auto m = at::from_blob(const_cast<std::uint8_t*>(mask.data8.data()), {h, w, 1}, at::kByte).to(at::kDouble) / 255.0;
  const auto result = matched_noise(image, m.expand({h, w, 3}), options);
  const auto bytes = (result * 255.).clamp(0., 255.).to(at::kByte).contiguous();  // truncation, as astype(uint8)
  Image out = Image::make(w, h, 3);
  std::copy(bytes.data_ptr<std::uint8_t>(), bytes.data_ptr<std::uint8_t>() + bytes.numel(), out.data8.begin());
  return out;
}

}  // namespace gen::editing
