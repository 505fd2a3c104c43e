// gen — control images: read (PNG/JPEG; 8/16-bit; grey, RGB, RGBA over white), brought to the
// output size with the resize modes users know, then preprocessed into the map a ControlNet
// takes. Resampling is Pillow's Lanczos, exactly (as diffusers resizes control images).
//   just  stretch to W×H
//   crop  scale to cover W×H, keep the centre
//   fill  scale to fit inside W×H, pad the rest with black
// Preprocessors run on the resized 8-bit RGB image:
//   none              the image already is a map (depth, pose, segmentation, normal, …)
//   canny:LOW:HIGH    OpenCV Canny edges (on the RGB image, as cv2.Canny(img, LOW, HIGH) does)
//   invert            255 − value (white-background scribbles and line art)
//   threshold:T       grey > T → white, else black (scribble binarisation; T in 0–255)
//   tile_resample:R   ControlNet tile: down-sampled by R (INTER_AREA; R < 1.1: unchanged) and
//                     back up (INTER_CUBIC), as the A1111 ControlNet extension's tile_resample
//   inpaint_only      ControlNet 1.1 inpaint: the request's init image (or this image) with the
//                     masked pixels set to −1 (diffusers' make_inpaint_condition); the masking is
//                     done by the pipeline, which has the mask
// Annotators (src/annotators/: hed, pidinet, lineart, lineart_standard, shuffle, color, ...) run
// on the photo as read, before the resize: their map is then resized like a picture.
#pragma once

#include <string>

#include "gen/image.hpp"

namespace at {
class Tensor;  // only prepare_control_image needs libtorch; this header stays usable without it
}

namespace gen::annotators {
class Annotators;
struct RunSettings;
}  // namespace gen::annotators

namespace gen::control {

// An annotator's runner and settings; without one, a fresh runner with no annotator folder.
struct AnnotatorUse {
  annotators::Annotators* annotators = nullptr;
  const annotators::RunSettings* settings = nullptr;
};

// Refuses unknown names and bad numbers with InvalidArgument naming `preprocess`.
void check_preprocess(const std::string& preprocess);

// The 8-bit RGB map: read, resized, preprocessed.
Image control_map(const std::string& path, const std::string& preprocess, const std::string& resize, int width,
                  int height, const AnnotatorUse& use = {});
// The same from an image in memory (`subject` names it in errors).
Image control_map(const Image& image, const std::string& preprocess, const std::string& resize, int width, int height,
                  const std::string& subject, const AnnotatorUse& use = {});
// Steps of control_map on an 8-bit RGB image.
Image resize_control(const Image& rgb, const std::string& mode, int width, int height);
Image preprocess_control(const Image& rgb, const std::string& preprocess);

// The map as the [1, 3, H, W] float tensor in [0, 1] a ControlNet takes.
at::Tensor prepare_control_image(const std::string& path, const std::string& preprocess, const std::string& resize,
                                 int width, int height, const AnnotatorUse& use = {});
at::Tensor prepare_control_image(const Image& image, const std::string& preprocess, const std::string& resize,
                                 int width, int height, const std::string& subject, const AnnotatorUse& use = {});

}  // namespace gen::control
