// A1111's v-prediction test (v_prediction.hpp).
#include "models/v_prediction.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

namespace gen::models {

double v_prediction_test(const UNet& unet, c10::Device device, at::ScalarType dtype) {
  c10::InferenceMode guard;
  const auto& c = unet.config();
  const auto opt = at::TensorOptions().device(device).dtype(dtype);
  const auto x = at::full({1, c.in_channels, 8, 8}, 0.5, opt);
  const auto context = at::full({1, 2, c.context_dim}, 0.5, opt);
  const auto t = at::full({1}, 999.0, at::TensorOptions().device(device).dtype(at::kFloat));
  const auto out = unet.forward(x, t, context);
  return (out.to(at::kFloat) - x.to(at::kFloat)).mean().item<double>();
}

}  // namespace gen::models
