// A1111's and the ControlNet extension's words (a1111_names.hpp). The module names and their
// sliders are the extension's (scripts/preprocessor/legacy/preprocessor_compiled.py: "label",
// "slider_1", "slider_2"); docs/metadata.md lists the table.
#include "request/a1111_names.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>

#include "core/fail.hpp"
#include "gen/metadata.hpp"

namespace gen::request {

std::string python_float(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);  // shortest round trip
  std::string s(buf, r.ptr);
  std::string sign;
  if (s[0] == '-') {
    sign = "-";
    s.erase(0, 1);
  }
  const auto e = s.find('e');
  const int exp = std::atoi(s.c_str() + e + 1);
  std::string digits = s.substr(0, 1) + (e > 2 ? s.substr(2, e - 2) : "");  // "d.ddd" without the point
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  if (exp < -4 || exp >= 16) {  // repr's scientific form: "1e-05", "1.5e+16"
    std::string m = digits.substr(0, 1) + (digits.size() > 1 ? "." + digits.substr(1) : "");
    const int a = std::abs(exp);
    return sign + m + "e" + (exp < 0 ? "-" : "+") + (a < 10 ? "0" : "") + std::to_string(a);
  }
  std::string out;
  if (exp < 0) {
    out = "0." + std::string(static_cast<std::size_t>(-exp - 1), '0') + digits;
  } else if (static_cast<int>(digits.size()) <= exp + 1) {
    out = digits + std::string(static_cast<std::size_t>(exp + 1) - digits.size(), '0') + ".0";
  } else {
    out = digits.substr(0, static_cast<std::size_t>(exp + 1)) + "." + digits.substr(static_cast<std::size_t>(exp + 1));
  }
  return sign + out;
}

namespace {

// gen spec, the extension's module, which thresholds the spec's numbers are, their defaults.
struct ModuleRow {
  const char* gen;
  const char* module;
  int args;  // numbers after the name (canny: 2, threshold / tile_resample: 1)
  double a, b;
};
constexpr ModuleRow kModules[] = {
    {"none", "none", 0, 0.5, 0.5},
    {"invert", "invert (from white bg & black line)", 0, 0.5, 0.5},
    {"canny", "canny", 2, 100, 200},
    {"threshold", "threshold", 1, 127, 0.5},
    {"tile_resample", "tile_resample", 1, 1.0, 0.5},
    {"inpaint_only", "inpaint_only", 0, 0.5, 0.5},
    {"hed", "softedge_hed", 0, 0.5, 0.5},
    {"hed:safe", "softedge_hedsafe", 0, 0.5, 0.5},
    {"hed:scribble", "scribble_hed", 0, 0.5, 0.5},
    {"pidinet", "softedge_pidinet", 0, 0.5, 0.5},
    {"lineart", "lineart_realistic", 0, 0.5, 0.5},
    {"lineart_coarse", "lineart_coarse", 0, 0.5, 0.5},
    {"lineart_anime", "lineart_anime", 0, 0.5, 0.5},
    {"lineart_standard", "lineart_standard (from white bg & black line)", 0, 0.5, 0.5},
    {"mlsd", "mlsd", 0, 0.1, 0.1},
    {"openpose", "openpose", 0, 0.5, 0.5},
    {"openpose_hand", "openpose_hand", 0, 0.5, 0.5},
    {"openpose_face", "openpose_face", 0, 0.5, 0.5},
    {"openpose_full", "openpose_full", 0, 0.5, 0.5},
    {"depth_anything", "depth_anything", 0, 0.5, 0.5},
    {"shuffle", "shuffle", 0, 0.5, 0.5},
    {"color", "t2ia_color_grid", 0, 0.5, 0.5},
};

std::string number_arg(double v) {  // as gen's preprocess specs spell numbers: "100", "0.5"
  std::string s = python_float(v);
  if (s.size() > 2 && s.compare(s.size() - 2, 2, ".0") == 0) s.resize(s.size() - 2);
  return s;
}

}  // namespace

A1111Module a1111_module(const std::string& preprocess) {
  for (const auto& m : kModules) {
    const std::string name = m.gen;
    if (m.args == 0) {
      if (preprocess == name) return {m.module, m.a, m.b};
      continue;
    }
    if (preprocess.compare(0, name.size(), name) != 0 ||
        (preprocess.size() > name.size() && preprocess[name.size()] != ':'))
      continue;
    A1111Module out{m.module, m.a, m.b};
    double* slots[] = {&out.threshold_a, &out.threshold_b};
    std::size_t pos = name.size();
    for (int i = 0; i < m.args && pos < preprocess.size(); ++i) {
      const auto next = preprocess.find(':', pos + 1);
      *slots[i] = std::strtod(preprocess.substr(pos + 1, next - pos - 1).c_str(), nullptr);
      pos = next == std::string::npos ? preprocess.size() : next;
    }
    return out;
  }
  // A gen-only preprocessor: its own name (the extension's text allows no ':' or ',').
  std::string name = preprocess.substr(0, preprocess.find(':'));
  for (char& c : name)
    if (c == ',') c = ' ';
  return {name, 0.5, 0.5};
}

std::optional<std::string> preprocess_of_module(const std::string& module, double a, double b) {
  for (const auto& m : kModules) {
    if (module != m.module) continue;
    std::string spec = m.gen;
    if (m.args >= 1) spec += ":" + number_arg(a);
    if (m.args >= 2) spec += ":" + number_arg(b);
    return spec;
  }
  return std::nullopt;
}

const char* a1111_resize_name(ResizeMode m) {
  switch (m) {
    case ResizeMode::Just: return "Just Resize";
    case ResizeMode::Crop: return "Crop and Resize";
    case ResizeMode::Fill: return "Resize and Fill";
  }
  return "?";
}

std::optional<ResizeMode> resize_of_a1111(const std::string& n) {
  if (n == "Just Resize") return ResizeMode::Just;
  if (n == "Crop and Resize" || n == "Inner Fit (Scale to Fit)" || n == "Scale to Fit (Inner Fit)") return ResizeMode::Crop;
  if (n == "Resize and Fill" || n == "Outer Fit (Shrink to Fit)" || n == "Envelope (Outer Fit)") return ResizeMode::Fill;
  return std::nullopt;
}

const char* a1111_control_mode_name(ControlMode m) {
  switch (m) {
    case ControlMode::Balanced: return "Balanced";
    case ControlMode::Prompt: return "My prompt is more important";
    case ControlMode::Control: return "ControlNet is more important";
  }
  return "?";
}

std::optional<ControlMode> control_mode_of_a1111(const std::string& n) {
  for (ControlMode m : {ControlMode::Balanced, ControlMode::Prompt, ControlMode::Control})
    if (n == a1111_control_mode_name(m)) return m;
  return std::nullopt;
}

std::optional<std::pair<Sampler, Schedule>> sampler_of_a1111(const std::string& label, const std::string& schedule_type) {
  Schedule schedule = Schedule::Auto;
  if (schedule_type == "Karras") schedule = Schedule::Karras;
  else if (schedule_type == "Uniform" || schedule_type == "Normal") schedule = Schedule::Normal;
  else if (!schedule_type.empty() && schedule_type != "Automatic") return std::nullopt;
  for (const auto& [s, name] : Names<Sampler>::table) {
    (void)name;
    if (label == a1111_sampler_name(s, Schedule::Normal)) return std::make_pair(s, schedule);
    if (label == a1111_sampler_name(s, Schedule::Karras) && schedule != Schedule::Normal)
      return std::make_pair(s, Schedule::Karras);
  }
  return std::nullopt;
}

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// stable-diffusion.cpp's --sampling-method names (src/stable-diffusion.cpp, sample_method_to_str)
// of the samplers gen has; the others are in kSdCppLacking.
constexpr std::pair<const char*, Sampler> kSdCpp[] = {
    {"euler", Sampler::Euler},     {"euler_a", Sampler::EulerA},         {"heun", Sampler::Heun},
    {"dpm++2m", Sampler::DpmPP2M}, {"dpm++2m_sde", Sampler::DpmPP2MSde}, {"lcm", Sampler::Lcm},
    {"lms", Sampler::Lms},
};
constexpr const char* kSdCppLacking[] = {"dpm2",          "dpm++2s_a",      "dpm++2mv2", "ipndm",   "ipndm_v",
                                         "ddim_trailing", "tcd",            "res_multistep", "res_2s", "er_sde",
                                         "euler_cfg_pp",  "euler_a_cfg_pp", "euler_ge",  "dpm++2m_sde_bt"};
// A1111's samplers (modules/sd_samplers_kdiffusion.py, sd_samplers_timesteps.py) gen lacks.
constexpr const char* kA1111Lacking[] = {"DPM++ SDE", "DPM++ 2M SDE Heun", "DPM++ 2S a", "DPM++ 3M SDE",
                                         "DPM2",      "DPM2 a",            "DPM fast",   "DPM adaptive",
                                         "Restart",   "DDIM CFG++",        "Euler CFG++", "Euler a CFG++"};

}  // namespace

}  // namespace gen::request

namespace gen {

SamplerLabel sampler_from_label(const std::string& text, const std::string& subject) {
  using request::lower;
  if (const auto s = enum_from_name<Sampler>(text)) return SamplerLabel{*s, Schedule::Auto};
  const std::string t = lower(text);
  for (const auto& [s, name] : Names<Sampler>::table) {
    (void)name;
    if (t == lower(a1111_sampler_name(s, Schedule::Normal))) return SamplerLabel{s, Schedule::Auto};
    if (t == lower(a1111_sampler_name(s, Schedule::Karras))) return SamplerLabel{s, Schedule::Karras};
  }
  for (const auto& [name, s] : request::kSdCpp)
    if (t == name) return SamplerLabel{s, Schedule::Auto};
  std::string why;
  for (const char* name : request::kSdCppLacking)
    if (t == name) why = "stable-diffusion.cpp's sampler '" + text + "' is not one gen has";
  for (const std::string suffix : {"", " karras", " exponential"})
    for (const char* name : request::kA1111Lacking)
      if (t == lower(name) + suffix) why = "A1111's sampler '" + std::string(name) + "' is not one gen has";
  // A sampler gen has with a schedule it has not ("DPM++ 2M SDE Exponential").
  const auto space = t.rfind(' ');
  if (why.empty() && space != std::string::npos)
    for (const auto& [s, name] : Names<Sampler>::table) {
      (void)name;
      if (t.substr(0, space) == lower(a1111_sampler_name(s, Schedule::Normal)))
        why = "gen has the sampler '" + a1111_sampler_name(s, Schedule::Normal) + "' but not the schedule '" +
              text.substr(space + 1) + "' (normal or karras)";
    }
  fail(ErrorCode::InvalidArgument, subject,
       (why.empty() ? "unknown sampler '" + text + "'" : why) + ": must be " + names_text<Sampler>() +
           ", or their A1111 or stable-diffusion.cpp names (docs/cli.md#samplers)");
}

}  // namespace gen

namespace gen::request {

std::optional<HiresUpscaler> hires_upscaler_of_a1111(const std::string& name) {
  for (const auto& [u, n] : Names<HiresUpscaler>::table) {
    (void)n;
    if (name == hires_upscaler_a1111_name(u)) return u;
  }
  return std::nullopt;
}

}  // namespace gen::request
