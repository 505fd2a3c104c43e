// A small VAE for pipeline unit tests: a real architecture (3 levels, factor 4, GroupNorm,
// mid-block attention) with random weights of unit-gain scale (conv weights N(0, 1/fan_in)), so
// activations stay O(1) through the network as in a trained model; and smooth random fields
// (low frequencies plus a little noise) to feed it.
#pragma once

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <cstdint>

#include "models/vae.hpp"

namespace gen::test {

inline void randomise(models::Module& m, std::uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  m.visit([&](const std::string& name, models::Module::Param& p) {
    const bool norm = name.find("norm") != std::string::npos;
    const bool bias = name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0;
    if (norm && !bias) {
      p.value = 1.0 + 0.1 * at::randn(p.shape, gen);
    } else if (bias) {
      p.value = 0.02 * at::randn(p.shape, gen);
    } else {
      std::int64_t fan_in = 1;
      for (std::size_t i = 1; i < p.shape.size(); ++i) fan_in *= p.shape[i];
      p.value = at::randn(p.shape, gen) / std::sqrt(static_cast<double>(fan_in));
    }
  });
}

inline models::VaeConfig small_config() {
  models::VaeConfig c;
  c.channels = 16;
  c.block_channels = {16, 32, 32};  // factor 4
  c.num_res_blocks = 1;
  c.norm_groups = 4;
  return c;
}

inline const models::Vae& small_vae() {
  static models::Vae* vae = [] {
    auto* v = new models::Vae(small_config());
    randomise(*v, 1234);
    return v;
  }();
  return *vae;
}

// [b, c, h, w]: a random field at 1/4 resolution upsampled bilinearly, plus 10% noise.
inline at::Tensor smooth_field(std::int64_t b, std::int64_t c, std::int64_t h, std::int64_t w, std::uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto low = at::randn({b, c, (h + 3) / 4, (w + 3) / 4}, gen);
  auto up = at::upsample_bilinear2d(low, {h, w}, false);
  return up + 0.1 * at::randn({b, c, h, w}, gen);
}

}  // namespace gen::test
