#include "control/control_image.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "gen/error.hpp"
#include "image/image.hpp"

namespace gen::control {
namespace {

at::Tensor resample(const at::Tensor& x, std::int64_t h, std::int64_t w) {
  if (x.size(2) == h && x.size(3) == w) return x;
  return at::upsample_bilinear2d(x, {h, w}, false, std::nullopt, std::nullopt).clamp(0, 1);
}

}  // namespace

at::Tensor resize_control(const at::Tensor& image, const std::string& mode, int width, int height) {
  const double sh = static_cast<double>(height) / image.size(2), sw = static_cast<double>(width) / image.size(3);
  if (mode == "just") return resample(image, height, width);
  if (mode == "crop") {  // scale to cover, centre crop
    const double k = std::max(sh, sw);
    const auto h = std::max<std::int64_t>(height, std::llround(image.size(2) * k));
    const auto w = std::max<std::int64_t>(width, std::llround(image.size(3) * k));
    auto big = resample(image, h, w);
    return big.slice(2, (h - height) / 2, (h - height) / 2 + height).slice(3, (w - width) / 2, (w - width) / 2 + width);
  }
  if (mode == "fill") {  // scale to fit, pad the rest with black
    const double k = std::min(sh, sw);
    const auto h = std::min<std::int64_t>(height, std::max<std::int64_t>(1, std::llround(image.size(2) * k)));
    const auto w = std::min<std::int64_t>(width, std::max<std::int64_t>(1, std::llround(image.size(3) * k)));
    auto small = resample(image, h, w);
    const auto top = (height - h) / 2, left = (width - w) / 2;
    return at::constant_pad_nd(small, {left, width - w - left, top, height - h - top}, 0.0);
  }
  fail(ErrorCode::InvalidArgument, "control resize", "must be just, crop or fill, got '" + mode + "'");
}

at::Tensor prepare_control_image(const std::string& path, const std::string& preprocess, const std::string& resize,
                                 int width, int height) {
  auto img = read_image(path);
  auto rgb = to_float_rgb(img);  // HWC in [0, 1], alpha over white
  auto t = at::from_blob(rgb.data(), {img.height, img.width, 3}, at::kFloat).permute({2, 0, 1}).unsqueeze(0).clone();
  t = resize_control(t, resize, width, height);
  if (preprocess == "none" || preprocess.empty()) return t;
  if (preprocess == "invert") return 1.0 - t;
  if (preprocess.rfind("threshold", 0) == 0) {
    double level = 0.5;
    if (preprocess.size() > 10 && preprocess[9] == ':') {
      try {
        level = std::stod(preprocess.substr(10)) / 255.0;
      } catch (...) {
        fail(ErrorCode::InvalidArgument, "preprocess", "threshold:T needs a number 0-255, got '" + preprocess + "'");
      }
    }
    auto grey = t.mean(1, true);
    return (grey > level).to(at::kFloat).expand({1, 3, -1, -1}).contiguous();
  }
  fail(ErrorCode::Unsupported, "preprocess", "'" + preprocess + "' (available: none, invert, threshold:T)");
}

}  // namespace gen::control
