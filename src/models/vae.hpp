// gen — the KL autoencoder (first_stage_model) of Stable Diffusion, LDM names:
// encoder.*, decoder.*, quant_conv, post_quant_conv.
#pragma once

#include <ATen/core/Tensor.h>

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "models/layers.hpp"

namespace gen::models {

struct VaeConfig {
  std::int64_t in_channels = 3;
  std::int64_t out_channels = 3;
  std::int64_t latent_channels = 4;
  std::int64_t channels = 128;
  std::vector<std::int64_t> channel_mult = {1, 2, 4, 4};
  std::int64_t num_res_blocks = 2;
  std::int64_t norm_groups = 32;
  double scaling_factor = 0.18215;

  static VaeConfig sd();
  // From a diffusers AutoencoderKL config.json.
  static VaeConfig from_diffusers(const nlohmann::json& config, const std::string& subject);
};

class Vae : public Module {
 public:
  explicit Vae(const VaeConfig& config);
  const VaeConfig& config() const { return cfg_; }
  // Latents (already divided by the scaling factor) → image in [-1, 1] (unclamped).
  at::Tensor decode(const at::Tensor& z) const;
  // Image in [-1, 1] → the latent distribution's mean and log-variance (unscaled).
  std::pair<at::Tensor, at::Tensor> encode(const at::Tensor& x) const;

 private:
  struct ResnetBlock;
  struct AttnBlock;
  struct Level {
    std::vector<ResnetBlock*> blocks;
    Conv2d* resample = nullptr;
  };
  at::Tensor mid(const at::Tensor& h, bool decoder) const;

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
