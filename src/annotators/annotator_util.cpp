#include "annotators/annotator_util.hpp"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "core/fail.hpp"

namespace gen::annotators {

cv::Size detect_size(int width, int height, int resolution) {
  const double k = static_cast<double>(resolution) / std::min(width, height);
  // np.round: half to even, as std::nearbyint in the default rounding mode.
  const auto side = [&](int v) { return static_cast<int>(std::nearbyint(v * k / 64.0)) * 64; };
  return {side(width), side(height)};
}

void check_detect_size(int width, int height, int resolution, const std::string& subject) {
  const std::string size = std::to_string(width) + "x" + std::to_string(height);
  if (std::min(width, height) < 8)
    fail(ErrorCode::InvalidArgument, subject,
         "is " + size + ": an annotator needs a picture at least 8 pixels on each side");
  if (std::min(width, height) * 8 < resolution)
    fail(ErrorCode::InvalidArgument, subject,
         "is " + size + ": too small for the preprocess resolution " + std::to_string(resolution) +
             " (an annotator enlarges at most 8x, so the short side must be at least " +
             std::to_string((resolution + 7) / 8) + " pixels; lower --preprocess-resolution)");
  const auto s = detect_size(width, height, resolution);
  if (s.width > 16384 || s.height > 16384)
    fail(ErrorCode::InvalidArgument, subject,
         "is " + size + ": at the preprocess resolution " + std::to_string(resolution) + " it would be " +
             std::to_string(s.width) + "x" + std::to_string(s.height) + ", over 16384 on a side");
}

cv::Mat resize_image(const cv::Mat& image, int resolution) {
  const double k = static_cast<double>(resolution) / std::min(image.cols, image.rows);
  cv::Mat out;
  cv::resize(image, out, detect_size(image.cols, image.rows, resolution), 0, 0,
             k > 1 ? cv::INTER_LANCZOS4 : cv::INTER_AREA);
  return out;
}

cv::Mat nms(const cv::Mat& x8, double t, double s) {
  cv::Mat x;
  x8.convertTo(x, CV_32F);
  cv::GaussianBlur(x, x, cv::Size(0, 0), s);
  const std::uint8_t f[4][9] = {{0, 0, 0, 1, 1, 1, 0, 0, 0},
                                {0, 1, 0, 0, 1, 0, 0, 1, 0},
                                {1, 0, 0, 0, 1, 0, 0, 0, 1},
                                {0, 0, 1, 0, 1, 0, 1, 0, 0}};
  cv::Mat y = cv::Mat::zeros(x.size(), CV_32F);
  for (const auto& k : f) {
    cv::Mat d;
    cv::dilate(x, d, cv::Mat(3, 3, CV_8U, const_cast<std::uint8_t*>(k)));
    x.copyTo(y, d == x);  // np.putmask(y, dilate(x) == x, x)
  }
  cv::Mat z = cv::Mat::zeros(x.size(), CV_8U);
  z.setTo(255, y > t);
  return z;
}

void safe_step(cv::Mat& x, int step) {
  CV_Assert(x.depth() == CV_32F || x.depth() == CV_64F);
  cv::Mat& m = x;
  const auto apply = [step](auto& v) {
    using T = std::decay_t<decltype(v)>;
    // astype(float32) * (step + 1), astype(int32) (truncation), astype(float32) / step
    const float y = static_cast<float>(v) * static_cast<float>(step + 1);
    v = static_cast<T>(static_cast<float>(static_cast<std::int32_t>(y)) / static_cast<float>(step));
  };
  if (m.depth() == CV_32F)
    m.forEach<float>([&](float& v, const int*) { apply(v); });
  else
    m.forEach<double>([&](double& v, const int*) { apply(v); });
}

cv::Mat scribble(const cv::Mat& map) {
  // nms(detected_map, 127, 3.0) on the 3-channel map: util.nms blurs and dilates the HxWx3
  // array per channel; the channels are equal (HWC3), so one channel gives each.
  cv::Mat grey;
  cv::extractChannel(map, grey, 0);
  cv::Mat z = nms(grey, 127, 3.0);
  cv::GaussianBlur(z, z, cv::Size(0, 0), 3.0);
  cv::Mat out = cv::Mat::zeros(z.size(), CV_8U);
  out.setTo(255, z > 4);
  return out;
}

cv::Mat to_mat(const Image& rgb) {
  cv::Mat view(rgb.height, rgb.width, CV_8UC3, const_cast<std::uint8_t*>(rgb.data8.data()));
  return view.clone();
}

Image to_image(const cv::Mat& m) {
  cv::Mat rgb;
  if (m.channels() == 1) cv::cvtColor(m, rgb, cv::COLOR_GRAY2RGB);
  else rgb = m;
  if (!rgb.isContinuous()) rgb = rgb.clone();
  Image out = Image::make(rgb.cols, rgb.rows, 3);
  std::copy_n(rgb.ptr<std::uint8_t>(0), out.data8.size(), out.data8.data());
  return out;
}

}  // namespace gen::annotators
