// gen — NormalBAE (Bae et al. 2021, "Estimating and Exploiting the Aleatoric Uncertainty in
// Surface Normal Estimation"; scannet.pt from lllyasviel/Annotators, the ControlNet 1.1
// normalbae map) as controlnet-aux 0.0.10's NormalBaeDetector runs it: NNET = the bundled
// gen-efficientnet "tf_efficientnet_b5_ap" encoder (TF "same" padding, BatchNorm eps 1e-3, SiLU,
// squeeze-excitation; its stem, blocks and conv_head, whose output feeds the decoder before bn2)
// and the decoder in its inference mode: conv2, four bilinear (align_corners) upsample + concat +
// (conv3×3, BatchNorm, LeakyReLU)×2 stages, a 1/8-resolution prediction, then three refinement
// steps at 1/4, 1/2 and 1/1 that run their per-pixel MLPs (1×1 Conv1d) on EVERY pixel (the
// uncertainty-guided point sampling is training only). Each prediction is normalised
// (norm_normalize: x, y, z over their length, kappa = elu + 1.01). A models::Module whose
// parameter names are the original file's keys (`encoder.original_model.blocks.0.0.conv_dw.weight`,
// `decoder.up1._net.0.weight`, ...; DataParallel's `module.` in front is read too), the sizes
// from the shapes (docs/preprocessors.md).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gen/image.hpp"

namespace gen::annotators {

struct NormalBaeBlock {
  bool inverted = false;       // InvertedResidual (conv_pw, conv_dw, conv_pwl), else DepthwiseSeparable
  std::int64_t in = 0, mid = 0, out = 0, kernel = 0, stride = 1, se = 0;  // se: squeeze width
};

struct NormalBaeConfig {
  std::int64_t stem = 0;                           // conv_stem's width (48)
  std::vector<std::vector<NormalBaeBlock>> stages; // 7 stages (B5: 3, 5, 5, 7, 7, 9, 3 blocks)
  std::int64_t head = 0;                           // conv_head's width (2048)
  std::int64_t bottleneck = 0;                     // decoder.conv2's width (2048)
  std::vector<std::int64_t> up;                    // up1-up4's widths (1024, 512, 256, 128)
};

class NormalBaeNet;

struct NormalBae {
  NormalBaeConfig config;
  std::shared_ptr<NormalBaeNet> net;
  std::string path;
  c10::Device device = c10::Device(c10::kCPU);
};

// The config from a file's names and shapes (names without `module.`); ModelMismatch naming
// `subject` (and what the file looks like) otherwise.
NormalBaeConfig infer_normalbae_config(const std::map<std::string, std::vector<std::int64_t>>& shapes,
                                       const std::string& subject);

// Reads `path` (.safetensors, or .pt through the non-executing pickle reader; scannet.pt's
// {"model": ...} wrapper is unwrapped by the reader), checks that it is NormalBAE (ModelMismatch
// naming what it looks like otherwise), loads it in fp32 on `device`. NotFound for a missing file.
NormalBae load_normalbae(const std::string& path, c10::Device device = c10::Device(c10::kCPU));

// The network: [B, 3, H, W] ImageNet-normalised (H, W multiples of 32) → the last prediction
// (out_res1) [B, 4, H, W]: unit normal x, y, z and kappa. InvalidArgument for other sizes.
at::Tensor normalbae_forward(const NormalBae& model, const at::Tensor& x);

// NormalBaeDetector's input: the RGB image (already at the detect size) / 255, then
// (v − mean) / std with ImageNet's mean and std, float32, [1, 3, H, W] on `device`.
at::Tensor normalbae_input(const Image& rgb, c10::Device device);

// NormalBaeDetector's map from out_res1: ((n[:3] + 1) · 0.5).clip(0, 1) · 255, clipped,
// truncated to 8 bits; x, y, z as R, G, B (no flip), at the network's size.
Image normalbae_map(const at::Tensor& out_res1);

// The network on the image, then the map. InvalidArgument for sides not multiples of 32.
Image normalbae_detect(const NormalBae& model, const Image& rgb);

}  // namespace gen::annotators
