// gen — control images: read (PNG/JPEG; 8/16-bit; grey, RGB, RGBA), brought to the
// output size (just resize | crop and resize | resize and fill), then preprocessed
// (none | invert | threshold:T) into the [1, 3, H, W] float map in [0, 1] a ControlNet takes.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

namespace gen::control {

at::Tensor prepare_control_image(const std::string& path, const std::string& preprocess, const std::string& resize,
                                 int width, int height);

// The resize step alone, on a [1, 3, h, w] float map.
at::Tensor resize_control(const at::Tensor& image, const std::string& mode, int width, int height);

}  // namespace gen::control
