// gen — MiDaS DPT-Hybrid (dpt_hybrid-midas-501f0c75.pt, the ControlNet 1.1 depth default) as
// controlnet-aux 0.0.10's MidasDetector runs it: DPTDepthModel(backbone="vitb_rn50_384") over
// timm's ViT-hybrid (a ResNet-50 v2 stem with weight-standardised, TF-"same"-padded
// convolutions and GroupNorm, then ViT-B/16), readout "project", hooks: ResNet stages 0 and 1,
// ViT blocks 8 and 11; the DPT fusion (dpt_blocks.hpp) and head. A models::Module whose
// parameter names are the original file's keys (`pretrained.model.patch_embed.backbone.stages.
// 0.blocks.0.conv1.weight`, `scratch.refinenet1.out_conv.weight`, ...); the sizes come from the
// shapes (docs/depth.md). The maps: `midas` (depth) and `normal_midas` (Sobel of the depth).
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

namespace gen::annotators {

struct MidasConfig {
  std::int64_t stem = 0;                  // stem.conv's width (64)
  std::vector<std::int64_t> stage_blocks; // bottlenecks per ResNet stage ((3, 4, 9))
  std::vector<std::int64_t> stage_width;  // each stage's output width ((256, 512, 1024))
  std::int64_t embed_dim = 0;             // ViT width (768)
  std::int64_t depth = 0;                 // ViT blocks (12; blocks 8 and 11 feed the head)
  std::int64_t heads = 0;                 // width / 64
  std::int64_t mlp_hidden = 0;
  std::int64_t grid = 0;                  // the position embeddings' side (24 for 384 px)
  std::array<std::int64_t, 4> neck{};     // scratch.layerN_rn's inputs ((256, 512, 768, 768))
  std::int64_t features = 0;              // the fusion width (256)
  std::int64_t head_hidden = 0;           // scratch.output_conv.2's width (32)
};

class MidasNet;

struct Midas {
  MidasConfig config;
  std::shared_ptr<MidasNet> net;
  std::string path;
  c10::Device device = c10::Device(c10::kCPU);
};

// Whether tensor names and shapes are a MiDaS DPT-Hybrid file (never throws).
bool is_midas_hybrid(const std::map<std::string, std::vector<std::int64_t>>& shapes);
// The config from a file's names and shapes; ModelMismatch naming `subject` otherwise.
MidasConfig infer_midas_config(const std::map<std::string, std::vector<std::int64_t>>& shapes,
                               const std::string& subject);

// Reads `path` (.safetensors, or .pt/.pth through the non-executing pickle reader), checks that
// it is MiDaS DPT-Hybrid (ModelMismatch naming what it looks like otherwise), loads it in fp32
// on `device`. NotFound for a missing file.
Midas load_midas(const std::string& path, c10::Device device = c10::Device(c10::kCPU));

// The network: [B, 3, H, W] in -1..1 (H, W multiples of 32) → relative inverse depth [B, H, W]
// (≥ 0, larger is nearer), on the model's device. InvalidArgument for other sizes.
at::Tensor midas_forward(const Midas& model, const at::Tensor& x);

// MidasDetector's input: the RGB image (already at the detect size) / 127.5 − 1, [1, 3, H, W].
at::Tensor midas_input(const Image& rgb, c10::Device device);

// The network on the image: [H, W] fp32 on the CPU. InvalidArgument for an image whose sides
// are not multiples of 32 (resize_image's sizes are multiples of 64).
at::Tensor midas_depth(const Midas& model, const Image& rgb);

// MidasDetector's depth map: (d − min) / max(d − min) · 255, clipped, truncated to 8 bits, grey
// as RGB (a flat depth is black).
Image midas_depth_map(const at::Tensor& depth);

// MidasDetector's normal map (depth_and_normal): cv2.Sobel (3×3, float) of the raw depth in x
// and y, set to 0 where the normalised depth is under `bg_th`, z = `a`; the unit vector
// · 127.5 + 127.5, clipped, truncated, channels reversed ((z, y, x) as RGB, as the reference).
Image midas_normal_map(const at::Tensor& depth, double a, double bg_th);

}  // namespace gen::annotators
