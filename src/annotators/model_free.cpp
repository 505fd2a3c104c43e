#include "annotators/model_free.hpp"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <random>
#include <vector>

namespace gen::annotators {

cv::Mat lineart_standard(const cv::Mat& rgb, double sigma, double threshold, cv::Size original) {
  cv::Mat x, g;
  rgb.convertTo(x, CV_32FC3);
  cv::GaussianBlur(x, g, cv::Size(0, 0), sigma);
  cv::Mat intensity(x.size(), CV_32F);
  std::vector<float> above;
  for (int r = 0; r < x.rows; ++r)
    for (int c = 0; c < x.cols; ++c) {
      const auto a = g.at<cv::Vec3f>(r, c), b = x.at<cv::Vec3f>(r, c);
      const float v = std::clamp(std::min({a[0] - b[0], a[1] - b[1], a[2] - b[2]}), 0.0f, 255.0f);
      intensity.at<float>(r, c) = v;
      if (v > threshold) above.push_back(v);
    }
  // max(16, np.median(...)): the median of an even count is the float32 mean of the middle two;
  // of none, NaN, and max(16, NaN) is 16.
  float divisor = 16.0f;
  if (!above.empty()) {
    const std::size_t n = above.size(), mid = n / 2;
    std::nth_element(above.begin(), above.begin() + mid, above.end());
    float median = above[mid];
    if (n % 2 == 0) {
      const float lower = *std::max_element(above.begin(), above.begin() + mid);
      median = (lower + median) / 2.0f;
    }
    divisor = std::max(16.0f, median);
  }
  cv::Mat map(x.size(), CV_8U);
  for (int r = 0; r < x.rows; ++r)
    for (int c = 0; c < x.cols; ++c) {
      float v = intensity.at<float>(r, c) / divisor;
      v *= 127.0f;
      map.at<std::uint8_t>(r, c) = static_cast<std::uint8_t>(std::clamp(v, 0.0f, 255.0f));
    }
  cv::Mat out;
  cv::resize(map, out, original, 0, 0, cv::INTER_CUBIC);
  return out;
}

namespace {

// make_noise_disk(H, W, 1, F) drawing from `rng` as np.random.uniform does.
cv::Mat noise_disk(int H, int W, int F, std::mt19937& rng) {
  const int h = H / F + 2, w = W / F + 2;
  cv::Mat noise(h, w, CV_64F);
  for (int r = 0; r < h; ++r)
    for (int c = 0; c < w; ++c) {
      const std::uint32_t a = rng() >> 5, b = rng() >> 6;
      noise.at<double>(r, c) = (a * 67108864.0 + b) / 9007199254740992.0;
    }
  cv::Mat big;
  cv::resize(noise, big, cv::Size(W + 2 * F, H + 2 * F), 0, 0, cv::INTER_CUBIC);
  cv::Mat out = big(cv::Rect(F, F, W, H)).clone();
  double lo = 0, hi = 0;
  cv::minMaxLoc(out, &lo);
  out -= lo;
  cv::minMaxLoc(out, nullptr, &hi);
  out /= hi;
  return out;
}

}  // namespace

cv::Mat shuffle(const cv::Mat& rgb, std::uint32_t seed) {
  const int H = rgb.rows, W = rgb.cols, F = 256;
  std::mt19937 rng(seed);  // np.random.seed(seed): init_genrand(seed)
  const cv::Mat x = noise_disk(H, W, F, rng) * static_cast<double>(W - 1);
  const cv::Mat y = noise_disk(H, W, F, rng) * static_cast<double>(H - 1);
  // flow = concatenate([x, y], axis=2).astype(float32): one two-channel map, as cv2.remap gets it
  cv::Mat flow, out;
  cv::merge(std::vector<cv::Mat>{x, y}, flow);
  flow.convertTo(flow, CV_32FC2);
  cv::remap(rgb, out, flow, cv::Mat(), cv::INTER_LINEAR);
  return out;
}

cv::Mat color(const cv::Mat& rgb) {
  cv::Mat small, out;
  cv::resize(rgb, small, cv::Size(rgb.cols / 64, rgb.rows / 64), 0, 0, cv::INTER_CUBIC);
  cv::resize(small, out, rgb.size(), 0, 0, cv::INTER_NEAREST);
  return out;
}

}  // namespace gen::annotators
