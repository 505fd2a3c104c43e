// gen — telling an SD 2.x single file's prediction type from its UNet, as A1111 does when no
// config says it (modules/sd_models_config.py, is_using_v_parameterization_for_sd2): the UNet
// is run once on x = 0.5 everywhere ([1, in_channels, 8, 8]), t = 999, a context of 0.5
// ([1, 2, context_dim]); a v-prediction model's output is far below x there, an epsilon
// model's is not. A1111 builds the full-size SD 2 UNet for the test; gen runs the file's own
// UNet (the same network for a real SD 2 file), in its dtype on its device.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "models/unet.hpp"

namespace gen::models {

// mean(UNet(x, 999, context) − x); A1111 takes v-prediction when it is below −1.
double v_prediction_test(const UNet& unet, c10::Device device, at::ScalarType dtype);
inline constexpr double kVPredictionThreshold = -1.0;

}  // namespace gen::models
