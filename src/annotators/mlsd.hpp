// gen — mlsd: controlnet-aux 0.0.10's MLSDdetector (mlsd_large_512_fp32.pth): the network
// MobileV2_MLSD_Large (a MobileNetV2 backbone cut after its 96-channel stage, four FPN-like
// A/B blocks and a C head; module names = the file's keys) and utils.pred_lines' decoding:
// sigmoid of the centre map, 3×3 max-pool NMS, top 200, the score and length thresholds,
// the displacements to line ends, ×2 to the detect size; lines drawn 1 pixel wide (LINE_8).
// docs/preprocessors.md.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <opencv2/core.hpp>

#include <memory>
#include <vector>

#include "annotators/networks.hpp"

namespace gen::annotators {

std::unique_ptr<Network> make_mlsd();

// pred_lines' network input from the image at the detect size (8-bit RGB): RGB and a channel
// of ones, each value v as float32 v / 127.5 − 1 (NumPy's float32 steps); [1, 4, H, W].
at::Tensor mlsd_input(const cv::Mat& rgb, c10::Device device);

// A line in detect-size pixels, as pred_lines returns it (float64: 2 · (centre + displacement)).
struct MlsdLine {
  double x0, y0, x1, y1;
};

// pred_lines after the network, for an output [1, ≥5, h, w] (channel 0 the centre logits,
// 1–4 the start/end displacements) of an image of 2h × 2w: peaks (3×3 max-pool) among the top
// 200 with score > `score` and length > `distance` (both compared in float32, as NumPy
// compares a float32 with a Python float), in top-k order. Empty when the map has under 200
// values (the detector's torch.topk raises and it draws nothing).
std::vector<MlsdLine> mlsd_lines(const at::Tensor& output, double score, double distance);

// MLSDdetector's drawing: each line's ends truncated to int, cv::line 255, thickness 1, LINE_8,
// on a black one-channel image of `size`; stops at a line whose ends are not finite or do not
// fit an int (where the reference's int()/cv2.line raise and it keeps what it has drawn).
cv::Mat mlsd_draw(const std::vector<MlsdLine>& lines, cv::Size size);

}  // namespace gen::annotators
