// gen — a module's 4-D weights (convolutions) in channels-last layout, for NHWC activations
// (pipeline/generate.hpp Models::vae_channels_last, unet_channels_last). The model cache
// converts what it loads; training converts its VAE before drawing validation images.
#pragma once

#include "models/module.hpp"

namespace gen::pipeline {

void to_channels_last(models::Module& m);

}  // namespace gen::pipeline
