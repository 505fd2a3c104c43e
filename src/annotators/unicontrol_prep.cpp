#include "annotators/unicontrol_prep.hpp"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <random>

namespace gen::annotators {
namespace {

// Python's int(float(n) / 100.0 * float(pct)).
int percent_of(int n, int pct) { return static_cast<int>(static_cast<double>(n) / 100.0 * static_cast<double>(pct)); }

// numpy slice [a:b] of a length-n axis (a, b >= 0 here): clamped, empty when b <= a.
cv::Range slice(int a, int b, int n) {
  a = std::min(a, n);
  b = std::min(b, n);
  return b > a ? cv::Range(a, b) : cv::Range(a, a);
}

}  // namespace

cv::Mat unicontrol_grayscale(const cv::Mat& rgb) {
  const double inv = 1.0 / 255.0;  // img_as_float: np.multiply(image, 1.0 / 255)
  cv::Mat out(rgb.size(), CV_8UC3);
  for (int r = 0; r < rgb.rows; ++r)
    for (int c = 0; c < rgb.cols; ++c) {
      const auto p = rgb.at<cv::Vec3b>(r, c);
      // rgb @ coeffs: numpy's matmul (BLAS) sums in its own order; this one agrees with it on all
      // but about 1 in 10^5 random pixels (there a value ends 1 lower or higher).
      const double y = (p[0] * inv) * 0.2125 + ((p[1] * inv) * 0.7154 + (p[2] * inv) * 0.0721);
      const auto v = static_cast<std::uint8_t>(static_cast<int>(y * 255.0));  // astype('ubyte'): truncation
      out.at<cv::Vec3b>(r, c) = cv::Vec3b(v, v, v);
    }
  return out;
}

cv::Mat unicontrol_blur(const cv::Mat& rgb, int ksize) {
  cv::Mat out;
  cv::GaussianBlur(rgb, out, cv::Size(ksize, ksize), static_cast<double>(cv::BORDER_DEFAULT));
  return out;
}

cv::Mat unicontrol_outpainting(const cv::Mat& rgb, int height, int width) {
  const int h = rgb.rows, w = rgb.cols, hn = percent_of(h, height), wn = percent_of(w, width);
  cv::Mat out = cv::Mat::zeros(rgb.size(), CV_8UC3);
  const cv::Range rows = slice((h - hn) / 2, (h + hn) / 2, h), cols = slice((w - wn) / 2, (w + wn) / 2, w);
  if (!rows.empty() && !cols.empty()) rgb(rows, cols).copyTo(out(rows, cols));
  return out;
}

cv::Mat unicontrol_inpainting(const cv::Mat& rgb, int top, int bottom, int left, int right) {
  const int h = rgb.rows, w = rgb.cols;
  cv::Mat out = rgb.clone();
  const cv::Range rows = slice((h - percent_of(h, top)) / 2, (h + percent_of(h, bottom)) / 2, h);
  const cv::Range cols = slice((w - percent_of(w, left)) / 2, (w + percent_of(w, right)) / 2, w);
  if (!rows.empty() && !cols.empty()) out(rows, cols).setTo(cv::Scalar::all(0));
  return out;
}

cv::Mat unicontrol_sketch(const cv::Mat& hed_rgb, int threshold, std::uint32_t seed, std::vector<int>* thresholds) {
  std::mt19937 rng(seed);  // np.random.seed(seed): init_genrand(seed)
  // np.random.randint(110, 160) on the legacy generator: 32-bit draws masked to 63 until <= 49.
  const auto draw = [&] {
    std::uint32_t v = 0;
    while ((v = rng() & 63u) > 49u) {
    }
    return 110 + static_cast<int>(v);
  };
  cv::Mat map = hed_rgb.clone();
  for (int tries = 0;; ++tries) {
    const int t = threshold >= 0 ? threshold : draw();
    if (thresholds) thresholds->push_back(t);
    cv::Mat binary, inverted;
    cv::threshold(map, binary, t, 255, cv::THRESH_BINARY);
    cv::bitwise_not(binary, inverted);
    cv::GaussianBlur(inverted, map, cv::Size(3, 3), 0);
    const cv::Mat below = map < 5;  // per channel; np.sum counts every channel's value
    const auto dark = static_cast<double>(cv::countNonZero(below.reshape(1)));
    if (dark > 0.005 * map.rows * map.cols || tries == 5) break;
  }
  return map;
}

}  // namespace gen::annotators
