// gen — the annotators without a network, as controlnet-aux 0.0.10 computes them; each takes
// the image at the detect size (util.resize_image's output, 8-bit RGB).
#pragma once

#include <opencv2/core.hpp>

#include <cstdint>

namespace gen::annotators {

// LineartStandardDetector: Gaussian blur (sigma) minus the image, the channels' minimum,
// divided by max(16, the median of the values above `threshold`), × 127; then resized back to
// the photo's size (`original`) with INTER_CUBIC.
cv::Mat lineart_standard(const cv::Mat& rgb, double sigma, double threshold, cv::Size original);

// ContentShuffleDetector with f = 256: two noise disks (NumPy's legacy MT19937 seeded with
// np.random.seed(seed): std::mt19937(seed), 53-bit doubles as random_sample draws them) give
// a flow field for cv::remap (INTER_LINEAR). The detect-size result.
cv::Mat shuffle(const cv::Mat& rgb, std::uint32_t seed);

// T2I-Adapter / sd-webui-controlnet `color`: INTER_CUBIC down to (W / 64, H / 64), INTER_NEAREST back.
cv::Mat color(const cv::Mat& rgb);

}  // namespace gen::annotators
