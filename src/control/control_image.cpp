#include "control/control_image.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>

#include "annotators/annotators.hpp"
#include "annotators/registry.hpp"
#include "gen/control.hpp"
#include "core/fail.hpp"
#include "image/resample.hpp"

namespace gen::control {
namespace {

struct Parsed {
  std::string name;
  std::vector<double> args;
};

Parsed parse(const std::string& spec) {
  Parsed p;
  std::size_t start = 0, colon = spec.find(':');
  p.name = spec.substr(0, colon);
  while (colon != std::string::npos) {
    start = colon + 1;
    colon = spec.find(':', start);
    const std::string arg = spec.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    std::size_t used = 0;
    double v = 0;
    try {
      v = std::stod(arg, &used);
    } catch (...) {
      used = 0;
    }
    if (arg.empty() || used != arg.size() || !std::isfinite(v))
      fail(ErrorCode::InvalidArgument, "preprocess", "'" + arg + "' in '" + spec + "' is not a number");
    p.args.push_back(v);
  }
  return p;
}

cv::Mat as_mat(const Image& img) {  // a view, no copy
  return cv::Mat(img.height, img.width, CV_8UC3, const_cast<std::uint8_t*>(img.data8.data()));
}

Image from_mat(const cv::Mat& m) {
  cv::Mat rgb;
  if (m.channels() == 1) cv::cvtColor(m, rgb, cv::COLOR_GRAY2RGB);
  else rgb = m;
  Image out = Image::make(rgb.cols, rgb.rows, 3);
  for (int y = 0; y < rgb.rows; ++y)
    std::copy_n(rgb.ptr<std::uint8_t>(y), static_cast<std::size_t>(rgb.cols) * 3,
                out.data8.data() + static_cast<std::size_t>(y) * rgb.cols * 3);
  return out;
}

// Resampling as diffusers does it for control images: Pillow's Lanczos (image/resample.hpp).
Image scaled(const Image& src, int w, int h) { return resize_lanczos(src, w, h); }

}  // namespace

void check_preprocess(const std::string& spec) {
  if (annotators::is_unicontrol_placeholder(spec))  // a request resolves it with its group's task first
    fail(ErrorCode::InvalidArgument, "preprocess",
         "'unicontrol' prepares the image for a UniControl group's task (--control-task); here name the preparation: "
         "unicontrol_grayscale, unicontrol_blur, unicontrol_outpainting, unicontrol_inpainting, unicontrol_hedsketch");
  if (annotators::is_annotator(spec)) {
    annotators::parse_annotator(spec);
    return;
  }
  const auto p = parse(spec);
  if (p.name == "none" || p.name == "invert" || p.name == "inpaint_only") {
    if (!p.args.empty()) fail(ErrorCode::InvalidArgument, "preprocess", "'" + p.name + "' takes no arguments");
  } else if (p.name == "canny") {
    if (p.args.size() != 2 || p.args[0] < 0 || p.args[1] < 0 || p.args[0] > p.args[1])
      fail(ErrorCode::InvalidArgument, "preprocess", "canny needs canny:LOW:HIGH with 0 <= LOW <= HIGH, got '" + spec + "'");
  } else if (p.name == "tile_resample") {
    if (p.args.size() > 1 || (!p.args.empty() && (p.args[0] < 1 || p.args[0] > 8)))
      fail(ErrorCode::InvalidArgument, "preprocess", "tile_resample takes one down-sampling rate 1-8, got '" + spec + "'");
  } else if (p.name == "threshold") {
    if (p.args.size() > 1 || (!p.args.empty() && (p.args[0] < 0 || p.args[0] > 255)))
      fail(ErrorCode::InvalidArgument, "preprocess", "threshold takes one value 0-255, got '" + spec + "'");
  } else {
    fail(ErrorCode::InvalidArgument, "preprocess",
         "unknown preprocessor '" + p.name +
             "' (known: none, canny:LOW:HIGH, invert, threshold:T, tile_resample:R, inpaint_only; annotators: " +
             annotators::annotator_names_text() + ")");
  }
}

Image resize_control(const Image& rgb, const std::string& mode, int width, int height) {
  if (mode == "just") return scaled(rgb, width, height);
  const double sw = static_cast<double>(width) / rgb.width, sh = static_cast<double>(height) / rgb.height;
  if (mode == "crop") {  // scale to cover, keep the centre
    // Only the kept window is computed: the whole scaled image of a long thin one can be
    // far over the image caps (a 2000x1 strip covering 64x64 is 128000x64).
    const double k = std::max(sw, sh);
    const int w = std::max(width, static_cast<int>(std::lround(rgb.width * k)));
    const int h = std::max(height, static_cast<int>(std::lround(rgb.height * k)));
    return resize_lanczos_window(rgb, w, h, (w - width) / 2, (h - height) / 2, width, height);
  }
  if (mode == "fill") {  // scale to fit, pad with black
    const double k = std::min(sw, sh);
    const int w = std::clamp(static_cast<int>(std::lround(rgb.width * k)), 1, width);
    const int h = std::clamp(static_cast<int>(std::lround(rgb.height * k)), 1, height);
    cv::Mat out(height, width, CV_8UC3, cv::Scalar(0, 0, 0));
    const Image small = scaled(rgb, w, h);
    as_mat(small).copyTo(out(cv::Rect((width - w) / 2, (height - h) / 2, w, h)));
    return from_mat(out);
  }
  fail(ErrorCode::InvalidArgument, "control resize", "must be just, crop or fill, got '" + mode + "'");
}

Image preprocess_control(const Image& rgb, const std::string& spec) {
  check_preprocess(spec);
  if (annotators::is_annotator(spec))
    fail(ErrorCode::Internal, "preprocess", spec + " is an annotator: it runs on the photo (control_map)");
  const auto p = parse(spec);
  const cv::Mat src = as_mat(rgb);
  // inpaint_only's masking needs the request's mask: pipeline/engine.cpp applies it.
  if (p.name == "none" || p.name == "inpaint_only") return rgb;
  cv::Mat out;
  if (p.name == "invert") {
    cv::bitwise_not(src, out);
  } else if (p.name == "canny") {
    cv::Canny(src, out, p.args[0], p.args[1]);
  } else if (p.name == "tile_resample") {
    // The ControlNet extension's tile_resample (annotator "tile", "Down Sampling Rate" R):
    // below 1.1 the image as is; else cv2.resize INTER_AREA to (int(W / R), int(H / R)), which
    // the extension then brings back to the size (here cv2 INTER_CUBIC).
    const double r = p.args.empty() ? 1.0 : p.args[0];
    if (r < 1.1) return rgb;
    cv::Mat small;
    cv::resize(src, small, cv::Size(std::max(1, static_cast<int>(src.cols / r)), std::max(1, static_cast<int>(src.rows / r))),
               0, 0, cv::INTER_AREA);
    cv::resize(small, out, src.size(), 0, 0, cv::INTER_CUBIC);
  } else {  // threshold
    cv::Mat grey;
    cv::cvtColor(src, grey, cv::COLOR_RGB2GRAY);
    cv::threshold(grey, out, p.args.empty() ? 127 : p.args[0], 255, cv::THRESH_BINARY);
  }
  return from_mat(out);
}

Image control_map(const Image& image, const std::string& preprocess, const std::string& resize, int width, int height,
                  const std::string& subject, const AnnotatorUse& use) {
  check_preprocess(preprocess);
  auto rgb = to_rgb8(image);
  try {
    if (annotators::is_annotator(preprocess)) {  // on the photo; the map is then resized
      annotators::Annotators own;
      const annotators::RunSettings defaults;
      auto& runner = use.annotators ? *use.annotators : own;
      return resize_control(runner.run(rgb, preprocess, use.settings ? *use.settings : defaults, subject), resize,
                            width, height);
    }
    return preprocess_control(resize_control(rgb, resize, width, height), preprocess);
  } catch (const cv::Exception& e) {
    fail(ErrorCode::Internal, subject, std::string("OpenCV: ") + e.what());
  }
}

Image control_map(const std::string& path, const std::string& preprocess, const std::string& resize, int width,
                  int height, const AnnotatorUse& use) {
  check_preprocess(preprocess);
  return control_map(read_image(path), preprocess, resize, width, height, path, use);
}

namespace {
at::Tensor to_tensor(Image map) {
  auto t = at::from_blob(map.data8.data(), {map.height, map.width, 3}, at::kByte);
  return t.permute({2, 0, 1}).unsqueeze(0).to(at::kFloat).div(255.0).contiguous();
}
}  // namespace

at::Tensor prepare_control_image(const std::string& path, const std::string& preprocess, const std::string& resize,
                                 int width, int height, const AnnotatorUse& use) {
  return to_tensor(control_map(path, preprocess, resize, width, height, use));
}

at::Tensor prepare_control_image(const Image& image, const std::string& preprocess, const std::string& resize,
                                 int width, int height, const std::string& subject, const AnnotatorUse& use) {
  check_image(image, subject);
  return to_tensor(control_map(image, preprocess, resize, width, height, subject, use));
}

}  // namespace gen::control

namespace gen {

namespace {
annotators::RunSettings run_settings(const PreprocessOptions& o) {
  annotators::check_resolution(o.resolution, "preprocess resolution");
  annotators::RunSettings s;
  s.resolution = o.resolution;
  s.seed = o.seed;
  if (o.device == Device::Cuda) {
    if (!at::hasCUDA()) fail(ErrorCode::Unsupported, "device", "cuda was asked for but no CUDA GPU is available");
    s.device = c10::Device(c10::kCUDA, 0);
  } else if (o.device == Device::Auto && at::hasCUDA()) {
    s.device = c10::Device(c10::kCUDA, 0);
  }
  if (o.threads < 0) fail(ErrorCode::InvalidArgument, "threads", "must be 0 (default) or more");
  if (o.threads > 0 && at::get_num_threads() != o.threads) at::set_num_threads(o.threads);
  return s;
}
}  // namespace

struct ControlMapper::Impl {
  PreprocessOptions options;
  annotators::Annotators runner;
};

ControlMapper::ControlMapper(PreprocessOptions options) : impl_(std::make_unique<Impl>()) {
  run_settings(options);  // checked before anything runs
  impl_->options = options;
  impl_->runner.set_dir(options.annotator_dir);
}
ControlMapper::~ControlMapper() = default;
ControlMapper::ControlMapper(ControlMapper&&) noexcept = default;
ControlMapper& ControlMapper::operator=(ControlMapper&&) noexcept = default;

Image ControlMapper::map(const Image& image, const std::string& preprocess, ResizeMode resize, int width, int height) {
  check_image(image, "control image");
  const auto settings = run_settings(impl_->options);
  return control::control_map(image, preprocess, name_of(resize), width, height, "control image",
                              {&impl_->runner, &settings});
}

Image control_map(const std::string& path, const std::string& preprocess, ResizeMode resize, int width, int height,
                  const PreprocessOptions& options) {
  annotators::Annotators runner(options.annotator_dir);
  const auto settings = run_settings(options);
  return control::control_map(path, preprocess, name_of(resize), width, height, {&runner, &settings});
}

Image control_map(const Image& image, const std::string& preprocess, ResizeMode resize, int width, int height,
                  const PreprocessOptions& options) {
  check_image(image, "control image");
  annotators::Annotators runner(options.annotator_dir);
  const auto settings = run_settings(options);
  return control::control_map(image, preprocess, name_of(resize), width, height, "control image", {&runner, &settings});
}

}  // namespace gen
