// gen — the KL autoencoder (first_stage_model) of Stable Diffusion, LDM names:
// encoder.*, decoder.*, quant_conv, post_quant_conv.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "arch/configs.hpp"  // VaeConfig
#include "models/layers.hpp"

namespace gen::models {

class Vae : public Module {
 public:
  explicit Vae(const VaeConfig& config);
  const VaeConfig& config() const { return cfg_; }
  // Latents (already divided by the scaling factor) → image in [-1, 1] (unclamped).
  at::Tensor decode(const at::Tensor& z) const;
  // Image in [-1, 1] → the latent distribution's mean and log-variance (unscaled).
  std::pair<at::Tensor, at::Tensor> encode(const at::Tensor& x) const;
  // decode() with the upsampling half run tile by tile (vae_tiles.cpp): the same result up
  // to rounding, in less memory. The latent-resolution part (post_quant_conv, conv_in, the
  // middle block with its attention) runs on the whole latent; the up path then runs on
  // tiles of at most `tile_latent` latent pixels, each carrying a margin of its neighbours'
  // pixels as wide as the convolutions still to come can see, and every GroupNorm takes its
  // statistics over the whole image (gathered from the tiles before any tile goes on). No
  // blending: each output pixel comes from the one tile that owns it, computed exactly.
  at::Tensor decode_tiled(const at::Tensor& z, std::int64_t tile_latent) const;
  // The margin decode_tiled gives each tile at the start of the up path, in latent pixels
  // (13 for SD's decoder).
  std::int64_t decode_tile_margin() const;
  // Estimated peak bytes of decode_tiled for `batch` latents of h × w with elements of
  // `element_size` bytes, at its widest stage: what all tiles hold (a resnet block's input
  // and first convolution output, or an upsampler's output, with the tiles' margins) plus
  // one tile's temporaries (f32 GroupNorm output, convolution output, residual sum). The
  // latent-resolution part and convolution workspaces are not counted.
  std::int64_t decode_tiled_bytes(std::int64_t h, std::int64_t w, std::int64_t batch, std::int64_t tile_latent,
                                  std::int64_t element_size) const;

 private:
  struct ResnetBlock;
  struct AttnBlock;
  struct Level {
    std::vector<ResnetBlock*> blocks;
    Conv2d* resample = nullptr;
  };
  struct Stage;
  std::vector<Stage> up_stages() const;
  static std::vector<std::int64_t> margins_of(const std::vector<Stage>& stages);

  VaeConfig cfg_;
  // encoder
  Conv2d* enc_in_ = nullptr;
  std::vector<Level> down_;
  ResnetBlock *enc_mid1_ = nullptr, *enc_mid2_ = nullptr;
  AttnBlock* enc_attn_ = nullptr;
  GroupNorm* enc_norm_ = nullptr;
  Conv2d* enc_out_ = nullptr;
  Conv2d* quant_ = nullptr;
  // decoder
  Conv2d* post_quant_ = nullptr;
  Conv2d* dec_in_ = nullptr;
  ResnetBlock *dec_mid1_ = nullptr, *dec_mid2_ = nullptr;
  AttnBlock* dec_attn_ = nullptr;
  std::vector<Level> up_;  // indexed by level, as stored (decoder.up.{level})
  GroupNorm* dec_norm_ = nullptr;
  Conv2d* dec_out_ = nullptr;
};

}  // namespace gen::models
