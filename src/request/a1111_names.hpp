// gen — A1111's and its ControlNet extension's own words for gen's settings, both ways: the
// sampler labels ("DPM++ 2M Karras"), the extension's unit values (module names such as
// "softedge_hed" with their "Threshold A/B", "Crop and Resize", "Balanced") and Python's float
// text ("1.0"), which the extension writes (internal_controlnet/args.py, serialize_value).
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "gen/request.hpp"

namespace gen::request {

// Python's str(float): the shortest text that reads back the same, "1.0", "0.1", "1e-05".
std::string python_float(double v);

// The extension's "Module" of a gen preprocess spec with its "Threshold A" / "Threshold B"
// values (the extension's defaults, 0.5, where the module has no such slider).
struct A1111Module {
  std::string module;
  double threshold_a = 0.5, threshold_b = 0.5;
};
A1111Module a1111_module(const std::string& preprocess);
// The gen preprocess spec of an extension module with its thresholds (nullopt: gen has none).
std::optional<std::string> preprocess_of_module(const std::string& module, double threshold_a, double threshold_b);

const char* a1111_resize_name(ResizeMode m);                       // "Crop and Resize"
std::optional<ResizeMode> resize_of_a1111(const std::string& name);  // and the extension's old aliases
const char* a1111_control_mode_name(ControlMode m);                 // "Balanced"
std::optional<ControlMode> control_mode_of_a1111(const std::string& name);

// A1111's sampler label, with "Schedule type" (A1111 1.9+; "" or "Automatic": none) or an old
// label's " Karras" suffix: gen's sampler and schedule, or nullopt for one gen does not have.
std::optional<std::pair<Sampler, Schedule>> sampler_of_a1111(const std::string& label, const std::string& schedule_type);

// The hires upscaler of an A1111 name ("Latent (bicubic)"), or nullopt.
std::optional<HiresUpscaler> hires_upscaler_of_a1111(const std::string& name);

}  // namespace gen::request
