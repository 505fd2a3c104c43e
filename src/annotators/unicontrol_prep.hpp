// gen — UniControl's task-specific control-image preparations, as salesforce/UniControl's demos
// make them (annotator/{grayscale,blur,outpainting,inpainting}/__init__.py and the sketch loop
// of app/gradio_hedsketch2image.py; docs/unicontrol.md). Each takes the photo at the detect
// size (util.resize_image's output, 8-bit RGB) and returns the map at that size.
#pragma once

#include <opencv2/core.hpp>

#include <cstdint>
#include <vector>

namespace gen::annotators {

// GrayscaleConverter: skimage.color.rgb2gray (x · (1/255) per channel, · (0.2125, 0.7154,
// 0.0721), summed in float64) × 255, truncated to 8 bits; the grey repeated on R, G, B.
cv::Mat unicontrol_grayscale(const cv::Mat& rgb);

// Blurrer: cv2.GaussianBlur(img, (k, k), cv2.BORDER_DEFAULT): the reference passes
// BORDER_DEFAULT (4) where sigmaX goes, so the blur is σ = 4 with a k×k kernel (k odd).
cv::Mat unicontrol_blur(const cv::Mat& rgb, int ksize);

// Outpainter: only the centre kept, h_new = int(h / 100 · height) rows and int(w / 100 · width)
// columns, from (h − h_new) // 2 (and (w − w_new) // 2); the rest black.
cv::Mat unicontrol_outpainting(const cv::Mat& rgb, int height, int width);

// Inpainter: black over rows (h − int(h/100·top)) // 2 to (h + int(h/100·bottom)) // 2 and
// columns (w − int(w/100·left)) // 2 to (w + int(w/100·right)) // 2.
cv::Mat unicontrol_inpainting(const cv::Mat& rgb, int top, int bottom, int left, int right);

// The hedsketch loop on the HED map (3 equal channels): threshold T (> T → 255), bitwise not,
// 3×3 Gaussian blur (σ from the size); again on the result, with a new T, while at most 0.5 %
// of the values (channels counted) are under 5, at most 6 tries. T: `threshold` when it is
// 0-255, else drawn as the demo draws it, np.random.randint(110, 160), from NumPy's legacy
// generator seeded with np.random.seed(seed). `thresholds`, when given, receives the Ts used.
cv::Mat unicontrol_sketch(const cv::Mat& hed_rgb, int threshold, std::uint32_t seed,
                          std::vector<int>* thresholds = nullptr);

}  // namespace gen::annotators
