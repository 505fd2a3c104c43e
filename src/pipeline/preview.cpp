#include "pipeline/preview.hpp"

#include <ATen/ATen.h>

namespace gen::pipeline {

Image latent_preview(const at::Tensor& latents) {
  if (latents.dim() != 3 || latents.size(0) != 4) return {};
  // The widely published least-squares fit of SD 1.x/2.x VAE decodes against their
  // latents (keturn, 2022): RGB in [-1, 1] = Σ_c latent_c × row_c.
  static const float kLatentToRgb[4][3] = {
      {0.298f, 0.207f, 0.208f}, {0.187f, 0.286f, 0.173f}, {-0.158f, 0.189f, 0.264f}, {-0.184f, -0.271f, -0.473f}};
  auto m = at::from_blob(const_cast<float*>(&kLatentToRgb[0][0]), {4, 3}, at::kFloat);
  auto z = latents.detach().to(at::kCPU, at::kFloat);
  auto rgb = at::einsum("chw,cr->hwr", {z, m});
  rgb = ((rgb + 1) / 2).clamp(0, 1).contiguous();
  return image_from_float_rgb(rgb.data_ptr<float>(), static_cast<int>(z.size(2)), static_cast<int>(z.size(1)));
}

}  // namespace gen::pipeline
