#include "models/vae.hpp"

#include "models/stop.hpp"
#include "models/vae_blocks.hpp"

#include <ATen/ATen.h>

#include <cmath>


namespace gen::models {

Vae::Vae(const VaeConfig& c) : cfg_(c) {
  const auto levels = static_cast<std::int64_t>(c.levels());
  const auto g = c.norm_groups;
  // Encoder.
  auto& enc = add("encoder", std::make_unique<Container>());
  enc_in_ = &enc.add("conv_in", std::make_unique<Conv2d>(c.in_channels, c.channels, 3, 1, 1));
  auto& down = enc.add("down", std::make_unique<Container>());
  std::int64_t ch = c.channels;
  for (std::int64_t l = 0; l < levels; ++l) {
    auto& lvl = down.add(std::to_string(l), std::make_unique<Container>());
    auto& blocks = lvl.add("block", std::make_unique<Container>());
    Level L;
    const auto out = c.block_channels[l];
    for (std::int64_t r = 0; r < c.num_res_blocks; ++r) {
      L.blocks.push_back(&blocks.add(std::to_string(r), std::make_unique<ResnetBlock>(ch, out, g)));
      ch = out;
    }
    if (l + 1 < levels)
      L.resample = &lvl.add("downsample", std::make_unique<Container>())
                        .add("conv", std::make_unique<Conv2d>(ch, ch, 3, 2, 0));
    down_.push_back(L);
  }
  auto& emid = enc.add("mid", std::make_unique<Container>());
  enc_mid1_ = &emid.add("block_1", std::make_unique<ResnetBlock>(ch, ch, g));
  enc_attn_ = &emid.add("attn_1", std::make_unique<AttnBlock>(ch, g));
  enc_mid2_ = &emid.add("block_2", std::make_unique<ResnetBlock>(ch, ch, g));
  enc_norm_ = &enc.add("norm_out", std::make_unique<GroupNorm>(g, ch, 1e-6));
  enc_out_ = &enc.add("conv_out", std::make_unique<Conv2d>(ch, 2 * c.latent_channels, 3, 1, 1));
  quant_ = &add("quant_conv", std::make_unique<Conv2d>(2 * c.latent_channels, 2 * c.latent_channels, 1));
  // Decoder.
  post_quant_ = &add("post_quant_conv", std::make_unique<Conv2d>(c.latent_channels, c.latent_channels, 1));
  auto& dec = add("decoder", std::make_unique<Container>());
  ch = c.block_channels.back();
  dec_in_ = &dec.add("conv_in", std::make_unique<Conv2d>(c.latent_channels, ch, 3, 1, 1));
  auto& dmid = dec.add("mid", std::make_unique<Container>());
  dec_mid1_ = &dmid.add("block_1", std::make_unique<ResnetBlock>(ch, ch, g));
  dec_attn_ = &dmid.add("attn_1", std::make_unique<AttnBlock>(ch, g));
  dec_mid2_ = &dmid.add("block_2", std::make_unique<ResnetBlock>(ch, ch, g));
  auto& up = dec.add("up", std::make_unique<Container>());
  up_.resize(levels);
  for (std::int64_t l = levels - 1; l >= 0; --l) {
    auto& lvl = up.add(std::to_string(l), std::make_unique<Container>());
    auto& blocks = lvl.add("block", std::make_unique<Container>());
    const auto out = c.block_channels[l];
    for (std::int64_t r = 0; r <= c.num_res_blocks; ++r) {
      up_[l].blocks.push_back(&blocks.add(std::to_string(r), std::make_unique<ResnetBlock>(ch, out, g)));
      ch = out;
    }
    if (l > 0)
      up_[l].resample = &lvl.add("upsample", std::make_unique<Container>())
                             .add("conv", std::make_unique<Conv2d>(ch, ch, 3, 1, 1));
  }
  dec_norm_ = &dec.add("norm_out", std::make_unique<GroupNorm>(g, ch, 1e-6));
  dec_out_ = &dec.add("conv_out", std::make_unique<Conv2d>(ch, c.out_channels, 3, 1, 1));
}

at::Tensor Vae::decode(const at::Tensor& z) const {
  auto h = (*dec_in_)((*post_quant_)(z));
  h = (*dec_mid2_)((*dec_attn_)((*dec_mid1_)(h)));
  for (auto l = static_cast<std::int64_t>(up_.size()) - 1; l >= 0; --l) {
    check_stop();  // SIGINT / SIGTERM between blocks (models/stop.hpp)
    for (auto* b : up_[l].blocks) h = (*b)(h);
    if (up_[l].resample) h = (*up_[l].resample)(upsample2(h));
  }
  return (*dec_out_)(dec_norm_->silu(h));
}

std::pair<at::Tensor, at::Tensor> Vae::encode(const at::Tensor& x) const {
  auto h = (*enc_in_)(x);
  for (const auto& L : down_) {
    check_stop();
    for (auto* b : L.blocks) h = (*b)(h);
    if (L.resample) h = (*L.resample)(at::constant_pad_nd(h, {0, 1, 0, 1}));  // LDM pads right/bottom
  }
  h = (*enc_mid2_)((*enc_attn_)((*enc_mid1_)(h)));
  auto moments = (*quant_)((*enc_out_)(enc_norm_->silu(h)));
  auto parts = moments.chunk(2, 1);
  return {parts[0], at::clamp(parts[1], -30.0, 20.0)};
}

}  // namespace gen::models
