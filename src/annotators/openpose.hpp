// gen — the OpenPose annotator for the preprocess framework: load the networks once, detect poses
// in an RGB image at the detect resolution, draw them (gen/pose.hpp has the public face).
// Inference follows controlnet-aux 0.0.10's OpenposeDetector.detect_poses: the body network once
// at 368/2 pixels of height, hands at four sizes of their crop (184, 368, 552, 736), the face at
// 384 × 384; heat maps resized with OpenCV as the reference does (Lanczos up, area down).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <memory>
#include <string>

#include "annotators/openpose_nets.hpp"
#include "annotators/openpose_post.hpp"
#include "gen/pose.hpp"

namespace gen::annotators {

struct OpenposeNets {
  std::shared_ptr<OpenposeBodyNet> body;       // shared: the annotator cache keeps each net once
  std::shared_ptr<OpenposeCpmNet> hand, face;  // null when not loaded
  c10::Device device = c10::Device(c10::kCPU);
};

// Loads the files named (hand / face may be empty). Errors: see openpose_nets.hpp.
OpenposeNets load_openpose(const PoseModelFiles& files, c10::Device device);

// BGR / 256 − 0.5 as the reference feeds the networks, [1, 3, H, W] float32 (CPU).
at::Tensor openpose_input(const unsigned char* bgr, int height, int width);

// The body's heat maps (19 planes) and PAFs (38 planes) at the image size, float64, as
// Body.__call__ averages them (one scale).
void body_maps(const OpenposeBodyNet& net, c10::Device device, const unsigned char* bgr, int height, int width,
               std::vector<double>& heat, std::vector<double>& paf);

// Hand.__call__ up to its peaks: the crop (BGR, height × width) blurred (σ 0.8), run at 184, 368,
// 552 and 736 pixels, the maps resized to 128 × 128 and averaged: 22 float64 planes.
std::vector<double> hand_maps(const OpenposeCpmNet& net, c10::Device device, const unsigned char* bgr, int height,
                              int width);

// Face.__call__: the crop (BGR, height × width) resized to 384 × 384, the network, its last maps
// resized back bilinearly (align_corners): 71 float32 planes of height × width.
std::vector<float> face_maps(const OpenposeCpmNet& net, c10::Device device, const unsigned char* bgr, int height,
                             int width);

// Detects with the nets loaded; InvalidArgument when options ask for a net not loaded.
Poses detect(const OpenposeNets& nets, const Image& rgb, const PoseOptions& options);

}  // namespace gen::annotators
