#include "pipeline/request.hpp"

#include <nlohmann/json.hpp>

#include <limits>
#include <random>
#include <set>
#include <sstream>

#include "control/control_image.hpp"
#include "gen/error.hpp"

namespace gen {
namespace {

[[noreturn]] void bad(const std::string& field, const std::string& why) {
  fail(ErrorCode::InvalidArgument, field, why);
}

const std::set<std::string> kSamplers = {"ddim", "euler", "euler_a", "heun", "lms", "pndm",
                                         "dpmpp_2m", "dpmpp_2m_sde", "unipc", "lcm"};

void check_range(const std::string& field, double v, double lo, double hi) {
  if (!(v >= lo && v <= hi)) {
    std::ostringstream o;
    o << "must be between " << lo << " and " << hi << ", got " << v;
    bad(field, o.str());
  }
}

}  // namespace

void Request::validate() const {
  for (auto [name, v] : {std::pair{"width", width}, std::pair{"height", height}}) {
    if (v < 8 || v > 16384) bad(name, "must be between 8 and 16384, got " + std::to_string(v));
    if (v % 8) bad(name, std::to_string(v) + " is not a multiple of 8");
  }
  if (steps < 1 || steps > 1000) bad("steps", "must be between 1 and 1000, got " + std::to_string(steps));
  check_range("cfg_scale", cfg_scale, 0.0, 100.0);
  check_range("eta", eta, 0.0, 1.0);
  if (!kSamplers.count(sampler)) {
    std::string all;
    for (const auto& s : kSamplers) all += (all.empty() ? "" : ", ") + s;
    bad("sampler", "unknown sampler '" + sampler + "' (known: " + all + ")");
  }
  if (scheduler != "normal" && scheduler != "karras") bad("scheduler", "must be normal or karras, got '" + scheduler + "'");
  if (batch_size < 1 || batch_size > 64) bad("batch_size", "must be between 1 and 64");
  if (batch_count < 1 || batch_count > 100000) bad("batch_count", "must be between 1 and 100000");
  if (clip_skip < 0 || clip_skip > 12) bad("clip_skip", "must be between 0 and 12");
  if (device != "auto" && device != "cpu" && device != "cuda") bad("device", "must be auto, cpu or cuda");
  if (dtype != "auto" && dtype != "fp32" && dtype != "fp16" && dtype != "bf16") bad("dtype", "must be auto, fp32, fp16 or bf16");
  if (rng != "cpu") bad("rng", "only the cpu noise stream exists so far");
  if (prompt_syntax != "a1111" && prompt_syntax != "plain") bad("prompt_syntax", "must be a1111 or plain");
  if (text_cleanup != "auto" && text_cleanup != "ftfy" && text_cleanup != "nfc")
    bad("text_cleanup", "must be auto, ftfy or nfc");
  if (!prediction.empty() && prediction != "epsilon" && prediction != "v_prediction")
    bad("prediction", "must be epsilon or v_prediction");
  if (control_mode != "balanced" && control_mode != "prompt" && control_mode != "control")
    bad("control_mode", "must be balanced, prompt or control");
  if (output.empty()) bad("output", "is empty");
  if (vae_tiling != "auto" && vae_tiling != "on" && vae_tiling != "off" && vae_tiling != "exact" && vae_tiling != "blended")
    bad("vae_tiling", "must be auto, on, off, exact or blended");
  for (std::size_t i = 0; i < controls.size(); ++i) {
    const auto& c = controls[i];
    const std::string f = "controls[" + std::to_string(i) + "]";
    if (c.model.empty()) bad(f + ".model", "is empty");
    if (c.image.empty()) bad(f + ".image", "is empty");
    check_range(f + ".scale", c.scale, 0.0, 10.0);
    check_range(f + ".start", c.start, 0.0, 1.0);
    check_range(f + ".end", c.end, 0.0, 1.0);
    if (c.start > c.end) bad(f, "start is after end");
    if (c.resize != "just" && c.resize != "crop" && c.resize != "fill") bad(f + ".resize", "must be just, crop or fill");
    control::check_preprocess(c.preprocess);
  }
}

}  // namespace gen

namespace gen::pipeline {

nlohmann::json request_to_json(const Request& r) {
  nlohmann::json j = {{"schema", Request::kSchema}, {"prompt", r.prompt}, {"negative_prompt", r.negative_prompt},
                      {"prompt_syntax", r.prompt_syntax}, {"text_cleanup", r.text_cleanup},
                      {"width", r.width}, {"height", r.height}, {"steps", r.steps}, {"cfg_scale", r.cfg_scale},
                      {"sampler", r.sampler}, {"scheduler", r.scheduler}, {"eta", r.eta},
                      {"batch_size", r.batch_size}, {"batch_count", r.batch_count}, {"clip_skip", r.clip_skip},
                      {"model", r.model}, {"vae", r.vae}, {"vocab", r.vocab}, {"prediction", r.prediction},
                      {"device", r.device}, {"dtype", r.dtype}, {"rng", r.rng}, {"output", r.output},
                      {"guess_mode", r.guess_mode}, {"control_mode", r.control_mode},
                      {"vae_tiling", r.vae_tiling}};
  j["seed"] = r.seed ? nlohmann::json(*r.seed) : nlohmann::json(nullptr);
  j["controls"] = nlohmann::json::array();
  for (const auto& c : r.controls)
    j["controls"].push_back({{"model", c.model}, {"image", c.image}, {"scale", c.scale}, {"start", c.start},
                             {"end", c.end}, {"preprocess", c.preprocess}, {"resize", c.resize},
                             {"global_pool", c.global_pool}});
  return j;
}

std::string image_request_json(const Request& r, std::uint64_t seed) {
  auto j = request_to_json(r);
  j["seed"] = seed;
  j["batch_size"] = 1;
  j["batch_count"] = 1;
  return j.dump();
}

namespace {

template <class T>
void take(const nlohmann::json& j, const char* key, T& out, const std::string& subject) {
  if (!j.contains(key)) return;
  const auto& v = j[key];
  bool ok;
  if constexpr (std::is_same_v<T, bool>) ok = v.is_boolean();
  else if constexpr (std::is_same_v<T, std::string>) ok = v.is_string();
  else if constexpr (std::is_integral_v<T>) ok = v.is_number_integer();
  else ok = v.is_number();
  if (!ok) fail(ErrorCode::InvalidArgument, subject, std::string("field '") + key + "' has the wrong type");
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    // get<int>() would wrap silently: 4294967808 is not 512.
    const bool fits = v.is_number_unsigned() ? v.get<std::uint64_t>() <= static_cast<std::uint64_t>(std::numeric_limits<T>::max())
                                             : v.get<std::int64_t>() >= static_cast<std::int64_t>(std::numeric_limits<T>::min()) &&
                                                   v.get<std::int64_t>() <= static_cast<std::int64_t>(std::numeric_limits<T>::max());
    if (!fits) fail(ErrorCode::InvalidArgument, subject, std::string("field '") + key + "' is out of range: " + v.dump());
  }
  out = v.get<T>();
}

void reject_unknown(const nlohmann::json& j, const std::set<std::string>& known, const std::string& subject) {
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!known.count(it.key())) fail(ErrorCode::InvalidArgument, subject, "unknown field '" + it.key() + "'");
}

}  // namespace

Request request_from_json(const nlohmann::json& j, const std::string& subject) {
  if (!j.is_object()) fail(ErrorCode::InvalidArgument, subject, "a request must be a JSON object");
  reject_unknown(j, {"schema", "prompt", "negative_prompt", "prompt_syntax", "text_cleanup", "width", "height", "steps", "cfg_scale", "seed",
                     "sampler", "scheduler", "eta", "batch_size", "batch_count", "clip_skip", "model", "vae",
                     "vocab", "prediction", "device", "dtype", "rng", "output", "controls", "guess_mode",
                     "control_mode", "vae_tiling"},
                 subject);
  if (j.contains("schema") && j["schema"] != Request::kSchema)
    fail(ErrorCode::Unsupported, subject, "request schema " + j["schema"].dump() + " (this gen reads " + Request::kSchema + ")");
  Request r;
  take(j, "prompt", r.prompt, subject);
  take(j, "negative_prompt", r.negative_prompt, subject);
  take(j, "prompt_syntax", r.prompt_syntax, subject);
  take(j, "text_cleanup", r.text_cleanup, subject);
  take(j, "width", r.width, subject);
  take(j, "height", r.height, subject);
  take(j, "steps", r.steps, subject);
  take(j, "cfg_scale", r.cfg_scale, subject);
  take(j, "sampler", r.sampler, subject);
  take(j, "scheduler", r.scheduler, subject);
  take(j, "eta", r.eta, subject);
  take(j, "batch_size", r.batch_size, subject);
  take(j, "batch_count", r.batch_count, subject);
  take(j, "clip_skip", r.clip_skip, subject);
  take(j, "model", r.model, subject);
  take(j, "vae", r.vae, subject);
  take(j, "vocab", r.vocab, subject);
  take(j, "prediction", r.prediction, subject);
  take(j, "device", r.device, subject);
  take(j, "dtype", r.dtype, subject);
  take(j, "rng", r.rng, subject);
  take(j, "output", r.output, subject);
  take(j, "guess_mode", r.guess_mode, subject);
  take(j, "control_mode", r.control_mode, subject);
  take(j, "vae_tiling", r.vae_tiling, subject);
  if (j.contains("seed") && !j["seed"].is_null()) {
    if (!j["seed"].is_number_unsigned()) fail(ErrorCode::InvalidArgument, subject, "field 'seed' must be a non-negative integer");
    r.seed = j["seed"].get<std::uint64_t>();
  }
  if (j.contains("controls")) {
    if (!j["controls"].is_array()) fail(ErrorCode::InvalidArgument, subject, "field 'controls' must be an array");
    for (const auto& c : j["controls"]) {
      const std::string s = subject + ": controls[" + std::to_string(r.controls.size()) + "]";
      if (!c.is_object()) fail(ErrorCode::InvalidArgument, s, "must be an object");
      reject_unknown(c, {"model", "image", "scale", "start", "end", "preprocess", "resize", "global_pool"}, s);
      ControlRequest cr;
      take(c, "model", cr.model, s);
      take(c, "image", cr.image, s);
      take(c, "scale", cr.scale, s);
      take(c, "start", cr.start, s);
      take(c, "end", cr.end, s);
      take(c, "preprocess", cr.preprocess, s);
      take(c, "resize", cr.resize, s);
      take(c, "global_pool", cr.global_pool, s);
      r.controls.push_back(cr);
    }
  }
  r.validate();
  return r;
}

}  // namespace gen::pipeline

namespace gen {

std::uint64_t random_seed() {
  std::random_device rd;
  return static_cast<std::uint64_t>(rd()) & 0xffffffffu;
}

std::string Request::to_json() const { return pipeline::request_to_json(*this).dump(); }

Request Request::from_json(const std::string& text, const std::string& subject) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorCode::InvalidArgument, subject, std::string("not valid JSON: ") + e.what());
  }
  return pipeline::request_from_json(j, subject);
}

std::string a1111_sampler_name(const std::string& s, const std::string& scheduler) {
  std::string name = s == "euler_a" ? "Euler a" : s == "euler" ? "Euler" : s == "ddim" ? "DDIM" : s == "heun" ? "Heun"
                     : s == "lms" ? "LMS" : s == "pndm" ? "PLMS" : s == "dpmpp_2m" ? "DPM++ 2M"
                     : s == "dpmpp_2m_sde" ? "DPM++ 2M SDE" : s == "unipc" ? "UniPC" : s == "lcm" ? "LCM" : s;
  if (scheduler == "karras") name += " Karras";
  return name;
}

std::string Request::a1111_parameters(std::uint64_t used_seed, int index_in_batch) const {
  std::ostringstream o;
  o << prompt << "\n";
  if (!negative_prompt.empty()) o << "Negative prompt: " << negative_prompt << "\n";
  o << "Steps: " << steps << ", Sampler: " << a1111_sampler_name(sampler, scheduler) << ", CFG scale: " << cfg_scale
    << ", Seed: " << used_seed << ", Size: " << width << "x" << height;
  if (batch_size > 1) o << ", Batch size: " << batch_size << ", Batch pos: " << index_in_batch;
  if (clip_skip > 1) o << ", Clip skip: " << clip_skip;
  if (eta != 0.0) o << ", Eta: " << eta;
  for (std::size_t i = 0; i < controls.size(); ++i) {
    const auto& c = controls[i];
    o << ", ControlNet " << i << ": \"Module: " << c.preprocess << ", Model: " << c.model << ", Weight: " << c.scale
      << ", Resize Mode: " << c.resize << ", Guidance Start: " << c.start << ", Guidance End: " << c.end
      << ", Control Mode: " << control_mode << "\"";
  }
  o << ", Version: gen";
  return o.str();
}

std::string output_path(const std::string& pattern, int index, std::uint64_t seed, int batch, int n,
                        const std::string& job) {
  std::string out;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    auto sub = [&](const char* key, const std::string& value) {
      const std::string k = std::string("{") + key + "}";
      if (pattern.compare(i, k.size(), k) == 0) {
        out += value;
        i += k.size() - 1;
        return true;
      }
      return false;
    };
    if (sub("index", std::to_string(index)) || sub("seed", std::to_string(seed)) || sub("batch", std::to_string(batch)) ||
        sub("n", std::to_string(n)) || sub("job", job))
      continue;
    out += pattern[i];
  }
  return out;
}

}  // namespace gen
