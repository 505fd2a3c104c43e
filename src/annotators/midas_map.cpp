// MidasDetector's input and maps (controlnet-aux 0.0.10 midas/__init__.py): depth and normals.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>

#include "annotators/midas.hpp"
#include "core/fail.hpp"

namespace gen::annotators {

at::Tensor midas_input(const Image& rgb, c10::Device device) {
  if (rgb.bit_depth != 8 || rgb.channels != 3 || rgb.data8.size() != rgb.sample_count())
    fail(ErrorCode::InvalidArgument, "midas", "the image must be 8-bit RGB");
  auto t = at::from_blob(const_cast<std::uint8_t*>(rgb.data8.data()), {rgb.height, rgb.width, 3}, at::kByte)
               .to(at::kFloat);
  t = t / 127.5 - 1.0;  // float32, as torch does it on the float image
  return t.permute({2, 0, 1}).unsqueeze(0).contiguous().to(device);
}

at::Tensor midas_depth(const Midas& model, const Image& rgb) {
  if (rgb.width % 32 != 0 || rgb.height % 32 != 0 || rgb.width == 0 || rgb.height == 0)
    fail(ErrorCode::InvalidArgument, "midas",
         "the image is " + std::to_string(rgb.width) + "×" + std::to_string(rgb.height) +
             ": MiDaS needs sides that are multiples of 32 (the detect resolution's sizes are)");
  const auto x = midas_input(rgb, model.device);
  c10::InferenceMode inference;
  return midas_forward(model, x)[0].to(at::kCPU, at::kFloat).contiguous();
}

namespace {

// depth_pt: (d − min) / max(d − min), float32; all zeros for a flat depth (the reference divides
// 0 by 0 there).
at::Tensor normalised(const at::Tensor& depth) {
  auto d = depth - depth.min();
  const auto hi = d.max();
  if (!(hi.item<float>() > 0.0f)) return at::zeros_like(d);
  return d / hi;
}

Image grey_to_rgb(const at::Tensor& v) {
  auto out = Image::make(static_cast<int>(v.size(1)), static_cast<int>(v.size(0)), 3);
  const auto* p = v.data_ptr<std::uint8_t>();
  for (std::size_t i = 0, n = static_cast<std::size_t>(v.numel()); i < n; ++i)
    out.data8[3 * i] = out.data8[3 * i + 1] = out.data8[3 * i + 2] = p[i];
  return out;
}

}  // namespace

Image midas_depth_map(const at::Tensor& depth) {
  const auto d = normalised(depth.to(at::kFloat).contiguous());
  return grey_to_rgb((d * 255.0).clamp(0, 255).to(at::kByte).contiguous());  // astype(uint8): truncation
}

Image midas_normal_map(const at::Tensor& depth_in, double a, double bg_th) {
  const auto depth = depth_in.to(at::kFloat).contiguous();
  const int h = static_cast<int>(depth.size(0)), w = static_cast<int>(depth.size(1));
  const auto norm = normalised(depth).contiguous();
  cv::Mat d(h, w, CV_32F, depth.data_ptr<float>()), gx, gy;
  cv::Sobel(d, gx, CV_32F, 1, 0, 3);
  cv::Sobel(d, gy, CV_32F, 0, 1, 3);
  const float z = static_cast<float>(a), th = static_cast<float>(bg_th);
  const float* np = norm.data_ptr<float>();
  auto out = Image::make(w, h, 3);
  const auto level = [](float v) {  // * 127.5 + 127.5, clip(0, 255), astype(uint8)
    return static_cast<std::uint8_t>(std::clamp(v * 127.5f + 127.5f, 0.0f, 255.0f));
  };
  for (int y = 0; y < h; ++y) {
    const float *px = gx.ptr<float>(y), *py = gy.ptr<float>(y);
    for (int x = 0; x < w; ++x) {
      const std::size_t i = static_cast<std::size_t>(y) * w + x;
      const bool background = np[i] < th;
      const float vx = background ? 0.0f : px[x], vy = background ? 0.0f : py[x];
      const float n = std::sqrt((vx * vx + vy * vy) + z * z);
      // [x, y, z] / n, then [:, :, ::-1]: R = z, G = y, B = x.
      out.data8[3 * i] = level(z / n);
      out.data8[3 * i + 1] = level(vy / n);
      out.data8[3 * i + 2] = level(vx / n);
    }
  }
  return out;
}

}  // namespace gen::annotators
