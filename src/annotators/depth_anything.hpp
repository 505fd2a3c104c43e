// gen — Depth Anything V2 (depth_anything_v2_vits / vitb / vitl .pth, as users have them): a DINOv2
// ViT (layer scale, patch 14) and the DPT head of Depth-Anything-V2/depth_anything_v2/dpt.py, as a
// models::Module whose parameter names are the original files' keys (`pretrained.blocks.N.attn.qkv`,
// `depth_head.scratch.refinenetN...`), so loading is a lookup. The configuration comes from the
// shapes (embed width, depth, head sizes); the variant from the width (384 vits, 768 vitb, 1024
// vitl, 1536 vitg). The preprocessor is the original repo's infer_image, the 8-bit map that of its
// run.py and of the A1111 ControlNet extension (docs/depth.md).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gen/image.hpp"
#include "models/layers.hpp"

namespace gen::annotators {

struct DepthAnythingConfig {
  std::string variant;          // "vits", "vitb", "vitl", "vitg", or "custom" (other widths)
  std::int64_t embed_dim = 0;   // DINOv2 width
  std::int64_t depth = 0;       // transformer blocks
  std::int64_t heads = 0;       // width / 64 (every DINOv2 has 64-wide heads); 1 below 64
  std::int64_t mlp_hidden = 0;  // fc1's width
  std::int64_t patch = 14;      // patch_embed's kernel
  std::int64_t grid = 0;        // the position embeddings' side (37 for 518 px)
  std::array<std::int64_t, 4> layers{};  // blocks whose outputs feed the head (0-based)
  std::array<std::int64_t, 4> neck{};    // depth_head.projects.N's widths
  std::int64_t features = 0;             // the fusion width (scratch.layerN_rn)
  std::int64_t head_hidden = 32;         // output_conv2.0's width
};

// How the position embeddings are resized to the input's patch grid (bicubic either way):
// Original: the DINOv2 of the Depth-Anything-V2 repo, scale_factor (patches + 0.1) / grid;
// TargetSize: transformers' Dinov2 (5.x), size = the patch grid. They differ slightly
// (docs/depth.md gives the measured difference).
enum class PosEmbedResize { Original, TargetSize };

// The config from the names and shapes of a file's tensors; ModelMismatch naming `subject`
// (and what the file looks like) when they are not a Depth Anything V2 model.
DepthAnythingConfig infer_depth_anything_config(const std::map<std::string, std::vector<std::int64_t>>& shapes,
                                                const std::string& subject);

// The variant named by a set of tensor names and shapes, or "" when they are not Depth Anything
// V2 (for `gen inspect`-like reports; never throws).
std::string depth_anything_variant(const std::map<std::string, std::vector<std::int64_t>>& shapes);

class DepthAnythingNet;

struct DepthAnything {
  DepthAnythingConfig config;
  std::shared_ptr<DepthAnythingNet> net;
  std::string path;
  c10::Device device = c10::Device(c10::kCPU);  // where the weights are
  PosEmbedResize pos_embed = PosEmbedResize::Original;
};

// A Hugging Face "-hf" repository's model.safetensors (transformers' DepthAnythingForDepthEstimation
// names) under the original repository's names (depth_anything_hf.cpp: one table; q, k, v joined
// into attn.qkv). ModelMismatch naming `subject` for a tensor no rule takes or a missing q/k/v.
std::map<std::string, at::Tensor> depth_anything_from_transformers(const std::map<std::string, at::Tensor>& hf,
                                                                   const std::string& subject);

// Reads `path` (.pth through the non-executing pickle reader, or .safetensors: the original
// repository's files, or a -hf repository's model.safetensors), checks that it is
// Depth Anything V2 (ModelMismatch naming what it looks like otherwise: a ControlNet, an SD
// checkpoint, MiDaS, OpenPose, ...), loads it in fp32 on `device`. NotFound for a missing file.
DepthAnything load_depth_anything(const std::string& path, c10::Device device = c10::Device(c10::kCPU));

// The network: [B, 3, h, w] normalised input (h, w multiples of the patch) → relative depth
// [B, h, w] (larger is nearer), on the model's device.
at::Tensor depth_anything_forward(const DepthAnything& model, const at::Tensor& x);

// The network input size for an image (width, height) and an input size: the shorter side
// scaled to `input_size`, aspect kept, each side a multiple of 14 (rounded, then up when under
// `input_size`), as (width, height).
std::pair<int, int> depth_anything_input_size(int width, int height, int input_size);

// infer_image's input: RGB / 255, cv::resize INTER_CUBIC to the input size, ImageNet mean/std;
// [1, 3, h, w] fp32 on `device`. InvalidArgument for an image with a side under 2 pixels, an
// input size outside 14..4096, or an input over 4096 × 4096 pixels (an extreme aspect).
at::Tensor depth_anything_input(const Image& rgb, int input_size, c10::Device device);

// infer_image: the network on the input, then bilinear (align_corners) to the image size;
// [H, W] fp32 on the CPU.
at::Tensor depth_anything_depth(const DepthAnything& model, const Image& rgb, int input_size = 518);

// The ControlNet map: (d − min) / (max − min) · 255 → uint8 (a flat map is black), grey to RGB.
Image depth_anything_map(const DepthAnything& model, const Image& rgb, int input_size = 518);

}  // namespace gen::annotators
