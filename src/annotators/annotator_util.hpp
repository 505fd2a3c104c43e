// gen — the shared steps of the annotators, as controlnet-aux 0.0.10's util.py does them, with
// OpenCV's C++ API (the same functions opencv-python calls; docs/preprocessors.md states the
// differences measured between Debian's OpenCV 4.6 and the reference's 4.10).
#pragma once

#include <opencv2/core.hpp>

#include <string>

#include "gen/image.hpp"

namespace gen::annotators {

// The size resize_image gives: the short side scaled to `resolution`, each side then rounded
// to a multiple of 64 (numpy's round: half to even), as (width, height).
cv::Size detect_size(int width, int height, int resolution);

// Refuses (InvalidArgument naming `subject`) an image an annotator cannot work on: 1×1 or a
// side under 8 pixels, an image whose short side is under resolution / 8 (it would be
// upscaled more than 8×), or one whose detect size is over 16384 on a side.
void check_detect_size(int width, int height, int resolution, const std::string& subject);

// util.resize_image: INTER_LANCZOS4 when enlarging (k > 1), INTER_AREA otherwise.
cv::Mat resize_image(const cv::Mat& image, int resolution);

// util.nms(x, t, s): Gaussian blur (sigma s), keep the maxima along four directions, > t → 255.
// `x` is one 8-bit channel; the result too.
cv::Mat nms(const cv::Mat& x, double t, double s);

// util.safe_step(x, step): floor(x · (step + 1)) / step, elementwise (floats kept as they are).
void safe_step(cv::Mat& x, int step = 2);

// The scribble post-step of HEDdetector / PidiNetDetector(scribble=True) on a 3-channel map:
// nms(map, 127, 3), GaussianBlur(sigma 3), > 4 → 255, else 0.
cv::Mat scribble(const cv::Mat& map);

// 8-bit RGB Image ↔ cv::Mat (a copy; a 1-channel Mat becomes RGB, as HWC3 does).
cv::Mat to_mat(const Image& rgb);
Image to_image(const cv::Mat& m);

}  // namespace gen::annotators
