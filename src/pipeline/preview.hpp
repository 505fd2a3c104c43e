// gen — a cheap look at latents during sampling: a fixed linear map from SD's 4 latent
// channels to RGB (no VAE), at latent resolution.
#pragma once

#include <ATen/core/Tensor.h>

#include "gen/image.hpp"

namespace gen::pipeline {

// `latents`: [4, h, w] (any dtype or device). Returns an 8-bit RGB image h × w; an empty
// image when the latents do not have 4 channels (a VAE this map does not describe).
Image latent_preview(const at::Tensor& latents);

}  // namespace gen::pipeline
