// gen — the LDM UNet (UNetModel of openaimodel.py) built from a config, and its
// encoder half, which the ControlNet reuses instead of re-implementing it.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <string>
#include <vector>

#include "arch/configs.hpp"  // UNetConfig
#include "models/unet_blocks.hpp"

namespace gen::models {

// time_embed (+ label_emb with an added condition) + input_blocks + middle_block, added to
// `owner` under those names.
class UNetEncoder {
 public:
  UNetEncoder(Module& owner, const UNetConfig& config);
  // The timestep embedding, plus label_emb(added) when the config has an added condition
  // (`added` [B, adm_in_channels], see added_condition(); required then, refused otherwise).
  at::Tensor embed_time(const at::Tensor& timesteps, at::ScalarType dtype,
                        const at::Tensor& added = at::Tensor()) const;
  // Runs input_blocks; `after_first` (may be undefined) is added after input_blocks.0
  // (the ControlNet's hint), `intrablock` (T2I-Adapter features, may be null) one per level at
  // intrablock_points(), in order. Returns every block's output (the skips).
  // `after_first_of` (may be null): instead of `after_first`, what to add computed from
  // input_blocks.0's output (the ControlNet Union's fused conditions).
  std::vector<at::Tensor> down(const at::Tensor& x, const at::Tensor& emb, const at::Tensor& context,
                               const at::Tensor& after_first = at::Tensor(),
                               const std::vector<at::Tensor>* intrablock = nullptr,
                               const std::function<at::Tensor(const at::Tensor&)>& after_first_of = nullptr) const;
  at::Tensor middle(const at::Tensor& h, const at::Tensor& emb, const at::Tensor& context) const;
  const std::vector<std::int64_t>& skip_channels() const { return skip_channels_; }
  std::int64_t middle_channels() const { return middle_channels_; }
  // Where level l's T2I-Adapter feature is added (diffusers' down_intrablock_additional_residuals):
  // after input_blocks.<block>, with `channels` channels, the latents downsampled `downsamples` times.
  struct IntrablockPoint {
    std::size_t block;
    std::int64_t channels;
    int downsamples;
  };
  const std::vector<IntrablockPoint>& intrablock_points() const { return intrablock_points_; }

 private:
  UNetConfig cfg_;
  Linear* time1_ = nullptr;
  Linear* time2_ = nullptr;
  Linear* label1_ = nullptr;
  Linear* label2_ = nullptr;
  std::vector<UNetBlock*> input_blocks_;
  UNetBlock* middle_ = nullptr;
  std::vector<std::int64_t> skip_channels_;
  std::int64_t middle_channels_ = 0;
  std::vector<IntrablockPoint> intrablock_points_;
};

// SDXL's added condition [B, adm_in_channels]: `pooled` [B, P] (the second text encoder's
// projected pooled output), then each of `time_ids` [B, n] (original size, crop, target size;
// the refiner: aesthetic score instead of the target) as a [cos | sin] sinusoid of
// config.addition_time_embed_dim, in f32. InvalidArgument when P + n·dim != adm_in_channels.
at::Tensor added_condition(const UNetConfig& config, const at::Tensor& pooled, const at::Tensor& time_ids);

// Residuals a ControlNet adds: one per skip, and one for the middle block; and T2I-Adapter
// features added inside the encoder (UNetEncoder::down; one more goes to the middle block when
// its shape fits). Any part may be empty.
struct ControlResiduals {
  std::vector<at::Tensor> down;
  at::Tensor middle;
  std::vector<at::Tensor> intrablock;
};

class UNet : public Module {
 public:
  explicit UNet(const UNetConfig& config);
  const UNetConfig& config() const { return cfg_; }
  const UNetEncoder& encoder() const { return encoder_; }
  // x [B, C, H, W] latents, timesteps [B], context [B, L, context_dim]; `added` the added
  // condition [B, adm_in_channels] when the config has one (SDXL, added_condition()).
  at::Tensor forward(const at::Tensor& x, const at::Tensor& timesteps, const at::Tensor& context,
                     const ControlResiduals* control = nullptr, const at::Tensor& added = at::Tensor()) const;

 private:
  UNetConfig cfg_;
  UNetEncoder encoder_;
  std::vector<UNetBlock*> output_blocks_;
  GroupNorm* out_norm_ = nullptr;
  Conv2d* out_conv_ = nullptr;
};

}  // namespace gen::models
