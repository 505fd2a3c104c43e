// Depth Anything V2's preprocessing (infer_image / image2tensor of the original repo) and the 8-bit
// ControlNet map (its run.py; the A1111 ControlNet extension does the same).
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <cmath>
#include <string>

#include "annotators/depth_anything.hpp"
#include "core/fail.hpp"

namespace gen::annotators {
namespace {

constexpr int kMaxInputSide = 4096;
constexpr std::int64_t kMaxInputPixels = 4096LL * 4096LL;

// util/transform.py Resize.constrain_to_multiple_of (multiple 14, min_val = the input size):
// numpy's round (half to even), then up when under the input size.
int multiple_of_14(double v, int input_size) {
  auto y = static_cast<long long>(std::nearbyint(v / 14.0)) * 14;
  if (y < input_size) y = static_cast<long long>(std::ceil(v / 14.0)) * 14;
  return static_cast<int>(y);
}

cv::Mat rgb_float(const Image& img) {
  if (img.bit_depth != 8 || img.channels < 1 || img.channels > 4 || img.data8.size() != img.sample_count())
    fail(ErrorCode::InvalidArgument, "depth_anything", "the image must be 8-bit grey, RGB or RGBA");
  cv::Mat src(img.height, img.width, CV_8UC(img.channels), const_cast<std::uint8_t*>(img.data8.data()));
  cv::Mat rgb;
  if (img.channels == 1) cv::cvtColor(src, rgb, cv::COLOR_GRAY2RGB);
  else if (img.channels == 2) {
    cv::Mat grey;
    cv::extractChannel(src, grey, 0);
    cv::cvtColor(grey, rgb, cv::COLOR_GRAY2RGB);
  } else if (img.channels == 4) cv::cvtColor(src, rgb, cv::COLOR_RGBA2RGB);
  else rgb = src;
  cv::Mat f;
  rgb.convertTo(f, CV_32FC3, 1.0 / 255.0);  // image2tensor: cvtColor(BGR2RGB) / 255.0
  return f;
}

}  // namespace

std::pair<int, int> depth_anything_input_size(int width, int height, int input_size) {
  // Resize(keep_aspect_ratio, resize_method="lower_bound"): the larger of the two scales, so
  // that both sides reach the input size.
  const double sh = static_cast<double>(input_size) / height, sw = static_cast<double>(input_size) / width;
  const double s = sw > sh ? sw : sh;
  return {multiple_of_14(s * width, input_size), multiple_of_14(s * height, input_size)};
}

at::Tensor depth_anything_input(const Image& rgb, int input_size, c10::Device device) {
  const std::string subject = "depth_anything";
  if (rgb.width < 2 || rgb.height < 2)
    fail(ErrorCode::InvalidArgument, subject,
         "the image is " + std::to_string(rgb.width) + "×" + std::to_string(rgb.height) +
             ": a depth map needs at least 2 pixels on each side");
  if (input_size < 14 || input_size > kMaxInputSide)
    fail(ErrorCode::InvalidArgument, subject,
         "input size " + std::to_string(input_size) + " is outside 14-" + std::to_string(kMaxInputSide));
  const auto [w, h] = depth_anything_input_size(rgb.width, rgb.height, input_size);
  if (static_cast<std::int64_t>(w) * h > kMaxInputPixels)
    fail(ErrorCode::InvalidArgument, subject,
         "the image's aspect (" + std::to_string(rgb.width) + "×" + std::to_string(rgb.height) +
             ") makes a network input of " + std::to_string(w) + "×" + std::to_string(h) +
             " at input size " + std::to_string(input_size) + ", over 4096×4096 pixels");
  cv::Mat resized;
  cv::resize(rgb_float(rgb), resized, cv::Size(w, h), 0, 0, cv::INTER_CUBIC);
  auto t = at::from_blob(resized.data, {h, w, 3}, at::kFloat).clone();
  // NormalizeImage (ImageNet), PrepareForNet (HWC → CHW).
  const auto mean = at::tensor({0.485f, 0.456f, 0.406f}), std = at::tensor({0.229f, 0.224f, 0.225f});
  t = ((t - mean) / std).permute({2, 0, 1}).unsqueeze(0).contiguous();
  return t.to(device);
}

at::Tensor depth_anything_depth(const DepthAnything& model, const Image& rgb, int input_size) {
  const auto x = depth_anything_input(rgb, input_size, model.device);
  c10::InferenceMode inference;
  auto d = depth_anything_forward(model, x);  // [1, h, w]
  d = at::upsample_bilinear2d(d.unsqueeze(1), {rgb.height, rgb.width}, true);
  return d[0][0].to(at::kCPU, at::kFloat).contiguous();
}

Image depth_anything_map(const DepthAnything& model, const Image& rgb, int input_size) {
  const auto d = depth_anything_depth(model, rgb, input_size);
  const auto lo = d.min(), hi = d.max();
  at::Tensor v;
  if (!(hi.item<float>() > lo.item<float>())) v = at::zeros_like(d, at::kByte);  // a flat map
  else v = ((d - lo) / (hi - lo) * 255.0f).to(at::kByte);  // numpy astype(uint8): truncation
  auto out = Image::make(rgb.width, rgb.height, 3);
  const auto* p = v.data_ptr<std::uint8_t>();
  for (std::size_t i = 0, n = static_cast<std::size_t>(rgb.width) * rgb.height; i < n; ++i)
    out.data8[3 * i] = out.data8[3 * i + 1] = out.data8[3 * i + 2] = p[i];
  return out;
}

}  // namespace gen::annotators
