// gen — control images: the map a ControlNet sees, made from a picture the way generation
// makes it (resized to the output size with the group's resize mode, then preprocessed:
// none, canny:LOW:HIGH, invert, threshold:T; docs/controlnet.md). For previews, tools and
// applications that show users what the ControlNet will see.
#pragma once

#include <string>

#include "gen/export.hpp"
#include "gen/image.hpp"
#include "gen/request.hpp"

namespace gen {

// 8-bit RGB, width × height. Throws InvalidArgument for an unknown preprocessor or bad
// numbers, and the image reader's errors for the file.
GEN_API Image control_map(const std::string& path, const std::string& preprocess, ResizeMode resize, int width,
                          int height);
GEN_API Image control_map(const Image& image, const std::string& preprocess, ResizeMode resize, int width, int height);

}  // namespace gen
