// gen — the VAE's building blocks, shared by the whole-image forward (vae.cpp) and the
// tiled decoder that runs it over tiles with whole-image statistics (vae_tiles.cpp).
// Private to src/models.
#pragma once

#include <ATen/ATen.h>

#include "models/flops.hpp"
#include "models/vae.hpp"

namespace gen::models {

struct Vae::ResnetBlock : public Module {
  ResnetBlock(std::int64_t in, std::int64_t out, std::int64_t groups)
      : norm1(add("norm1", std::make_unique<GroupNorm>(groups, in, 1e-6))),
        conv1(add("conv1", std::make_unique<Conv2d>(in, out, 3, 1, 1))),
        norm2(add("norm2", std::make_unique<GroupNorm>(groups, out, 1e-6))),
        conv2(add("conv2", std::make_unique<Conv2d>(out, out, 3, 1, 1))) {
    if (in != out) shortcut = &add("nin_shortcut", std::make_unique<Conv2d>(in, out, 1));
  }
  at::Tensor operator()(const at::Tensor& x) const {
    auto h = conv2(norm2.silu(conv1(norm1.silu(x))));
    return (shortcut ? (*shortcut)(x) : x) + h;
  }
  GroupNorm& norm1;
  Conv2d& conv1;
  GroupNorm& norm2;
  Conv2d& conv2;
  Conv2d* shortcut = nullptr;
};

// Single-head self-attention over pixels, 1×1 conv projections.
struct Vae::AttnBlock : public Module {
  AttnBlock(std::int64_t ch, std::int64_t groups)
      : norm(add("norm", std::make_unique<GroupNorm>(groups, ch, 1e-6))),
        q(add("q", std::make_unique<Conv2d>(ch, ch, 1))),
        k(add("k", std::make_unique<Conv2d>(ch, ch, 1))),
        v(add("v", std::make_unique<Conv2d>(ch, ch, 1))),
        proj(add("proj_out", std::make_unique<Conv2d>(ch, ch, 1))) {}
  at::Tensor operator()(const at::Tensor& x) const {
    const auto b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
    auto n = norm(x);
    auto tok = [&](const at::Tensor& t) { return t.flatten(2).transpose(1, 2).unsqueeze(1); };  // [B,1,HW,C]
    auto tq = tok(q(n)), tk = tok(k(n)), tv = tok(v(n));
    flops::attention(tq, tk, tv);
    auto a = at::scaled_dot_product_attention(tq, tk, tv);
    a = a.squeeze(1).transpose(1, 2).reshape({b, c, h, w});
    return x + proj(a.contiguous(x.suggest_memory_format()));
  }
  GroupNorm& norm;
  Conv2d &q, &k, &v, &proj;
};

// Nearest-neighbour ×2 (the decoder's upsampler before its convolution). bf16 goes through
// f32, as it always has here; nearest-neighbour only copies values, so this is exact.
inline at::Tensor upsample2(const at::Tensor& h) {
  const auto dtype = h.scalar_type();
  auto src = dtype == at::kBFloat16 ? h.to(at::kFloat) : h;
  return at::upsample_nearest2d(src, {h.size(2) * 2, h.size(3) * 2}).to(dtype);
}

}  // namespace gen::models
