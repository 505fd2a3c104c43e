// A request from A1111's text (gen/metadata.hpp: request_from_a1111): the keys of
// parse_a1111_parameters mapped onto the request's fields, the ControlNet units read by the
// extension's rules (infotext_parse.hpp), files found by name. docs/metadata.md has the table.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <set>

#include "gen/error.hpp"
#include "gen/metadata.hpp"
#include "request/a1111_names.hpp"
#include "request/infotext_parse.hpp"
#include "request/request.hpp"

namespace gen {
namespace {

namespace fs = std::filesystem;

const char* const kModelExtensions[] = {".safetensors", ".ckpt", ".pt", ".pth", ".bin"};

// Files (NAME.ext) and folders (NAME) named `name` under `dirs`, up to three folders deep.
std::vector<std::string> find_named(const std::string& name, const std::vector<std::string>& dirs) {
  std::vector<std::string> out;
  if (name.empty() || name.find('/') != std::string::npos) return out;
  for (const auto& dir : dirs) {
    std::error_code ec;
    if (dir.empty() || !fs::is_directory(dir, ec)) continue;
    for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it.depth() > 2) {
        it.disable_recursion_pending();
        continue;
      }
      const fs::path& p = it->path();
      std::error_code e2;
      if (it->is_directory(e2)) {
        if (p.filename() == name) {
          out.push_back(p.string());
          it.disable_recursion_pending();
        }
      } else if (p.stem() == name &&
                 std::find(std::begin(kModelExtensions), std::end(kModelExtensions), p.extension().string()) !=
                     std::end(kModelExtensions)) {
        out.push_back(p.string());
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string dirs_text(const std::vector<std::string>& dirs) {
  std::string out;
  for (const auto& d : dirs) out += (out.empty() ? "" : ", ") + d;
  return out.empty() ? "no model folder given" : "looked in " + out;
}

// The keys gen reads (besides "ControlNet N" / "T2I-Adapter N") and those it knows it may leave:
// A1111's bookkeeping (Version, hashes of files found by name or by the prompt's tags).
const std::set<std::string> kKnown = {
    "Prompt", "Negative prompt", "Steps", "Sampler", "Schedule type", "CFG scale", "Seed", "Size-1", "Size-2",
    "Model hash", "Model", "VAE hash", "VAE", "Clip skip", "Eta DDIM", "RNG", "Denoising strength",
    "Hires upscale", "Hires resize-1", "Hires resize-2", "Hires upscaler", "Hires steps", "Hires sampler",
    "Hires prompt", "Hires negative prompt", "Batch size", "Batch pos", "Mask blur", "Mask mode", "Inpaint area",
    "Masked area padding", "Masked content", "Lora hashes", "TI hashes", "Version"};

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

}  // namespace

A1111Import request_from_a1111(const std::string& text, const A1111Lookup& lookup) {
  A1111Import imp;
  imp.fields = parse_a1111_parameters(text);
  Request& r = imp.request;
  std::map<std::string, std::string> v;  // the first value of each key (a dict: one per key anyway)
  for (const auto& [k, value] : imp.fields) v.emplace(k, value);
  const auto has = [&](const std::string& k) { return v.count(k) > 0; };
  // Sets a field from the text's value; a value gen refuses becomes a problem of that field.
  const auto set = [&](const std::string& field, const std::string& key, const std::string& value) {
    try {
      set_field(r, field, request::py_strip(value), "A1111 '" + key + "'");
    } catch (const gen::Error& e) {
      imp.problems.emplace_back(field, e.what());
    }
  };
  r.prompt = v["Prompt"];
  r.negative_prompt = v["Negative prompt"];
  // The checkpoint and the VAE, by name (and hash): first, as the first thing to tell.
  if (has("Model")) {
    const auto found = find_named(v["Model"], lookup.model_dirs);
    const std::string hash = has("Model hash") ? v["Model hash"] : "";
    std::string chosen;
    for (const auto& f : found)
      if (chosen.empty() && (hash.empty() || request::a1111_short_hash(f).rfind(hash, 0) == 0 ||
                             request::a1111_old_model_hash(f) == hash))
        chosen = f;
    if (chosen.empty() && !found.empty()) {
      chosen = found.front();
      imp.notes.push_back("model '" + v["Model"] + "': " + chosen + " has another hash than the text's " + hash);
    }
    if (!chosen.empty()) r.model = chosen;
    else
      imp.problems.emplace_back("model", "A1111 'Model': no checkpoint named '" + v["Model"] + "'" +
                                             (hash.empty() ? "" : " [" + hash + "]") + " (" +
                                             dirs_text(lookup.model_dirs) + "; give -m FILE or set GEN_MODEL_DIR)");
  } else if (has("Model hash")) {
    imp.problems.emplace_back("model", "A1111 'Model hash' " + v["Model hash"] +
                                           " without a model name: give -m FILE");
  } else {
    imp.problems.emplace_back("model", "the A1111 text names no model: give -m FILE");
  }
  if (has("VAE")) {
    const std::string stem = fs::path(v["VAE"]).stem().string();
    const auto found = find_named(stem, lookup.model_dirs);
    if (!found.empty()) r.vae = found.front();
    else
      imp.problems.emplace_back("vae", "A1111 'VAE': no VAE file named '" + v["VAE"] + "' (" +
                                           dirs_text(lookup.model_dirs) + "; give --vae FILE)");
  }
  if (has("Steps")) set("steps", "Steps", v["Steps"]);
  if (has("CFG scale")) set("cfg_scale", "CFG scale", v["CFG scale"]);
  if (has("Seed")) set("seed", "Seed", v["Seed"]);
  if (has("Size-1")) set("width", "Size", v["Size-1"]);
  if (has("Size-2")) set("height", "Size", v["Size-2"]);
  if (has("Clip skip")) set("clip_skip", "Clip skip", v["Clip skip"]);
  if (has("Eta DDIM")) set("eta", "Eta DDIM", v["Eta DDIM"]);
  if (has("Sampler")) {
    const std::string schedule = has("Schedule type") ? v["Schedule type"] : "";
    if (const auto s = request::sampler_of_a1111(v["Sampler"], schedule)) {
      r.sampler = s->first;
      r.scheduler = s->second;
    } else {
      imp.problems.emplace_back("sampler", "A1111 'Sampler': gen has no sampler '" + v["Sampler"] +
                                               (schedule.empty() ? "" : "' with schedule '" + schedule) +
                                               "' (give --sampler and --scheduler; docs/metadata.md)");
    }
  }
  // A1111's noise: "RNG: CPU" is gen's; GPU (its default when the key is missing) or NV differ.
  if (!has("RNG") || v["RNG"] != "CPU")
    imp.notes.push_back("A1111 drew this image's noise with RNG '" + (has("RNG") ? v["RNG"] : std::string("GPU")) +
                        "'; gen draws it on the CPU (as A1111's RNG: CPU), so the image will differ");
  // Hires fix.
  const bool hires = has("Hires upscale") || has("Hires resize-1") || has("Hires upscaler");
  if (has("Hires upscale")) set("hires_scale", "Hires upscale", v["Hires upscale"]);
  if (has("Hires resize-1")) set("hires_width", "Hires resize", v["Hires resize-1"]);
  if (has("Hires resize-2")) set("hires_height", "Hires resize", v["Hires resize-2"]);
  if (has("Hires steps")) set("hires_steps", "Hires steps", v["Hires steps"]);
  if (has("Hires prompt")) r.hires_prompt = v["Hires prompt"];
  if (has("Hires negative prompt")) r.hires_negative_prompt = v["Hires negative prompt"];
  if (has("Hires upscaler")) {
    if (const auto u = request::hires_upscaler_of_a1111(v["Hires upscaler"])) r.hires_upscaler = *u;
    else r.hires_upscaler_model = v["Hires upscaler"];  // a net upscaler, by its name (--upscaler-dir)
  }
  if (has("Hires sampler") && v["Hires sampler"] != "Use same sampler") {
    if (const auto s = request::sampler_of_a1111(v["Hires sampler"], "")) r.hires_sampler = name_of(s->first);
    else imp.problems.emplace_back("hires_sampler", "A1111 'Hires sampler': gen has no sampler '" + v["Hires sampler"] + "'");
  }
  if (has("Denoising strength")) set(hires ? "hires_strength" : "strength", "Denoising strength", v["Denoising strength"]);
  // Inpainting's keys (used once an init image and mask are given).
  if (has("Mask blur")) set("mask_blur", "Mask blur", v["Mask blur"]);
  if (has("Mask mode")) r.invert_mask = v["Mask mode"] == "Inpaint not masked";
  if (has("Inpaint area")) r.inpaint_area = v["Inpaint area"] == "Only masked" ? InpaintArea::Masked : InpaintArea::Whole;
  if (has("Masked area padding")) set("mask_padding", "Masked area padding", v["Masked area padding"]);
  if (has("Masked content")) {
    std::string fill = v["Masked content"];
    std::replace(fill.begin(), fill.end(), ' ', '_');
    set("inpaint_fill", "Masked content", fill);
  }
  // ControlNet units, in their numbers' order.
  std::vector<std::pair<int, std::string>> units;
  for (const auto& [k, value] : imp.fields) {
    if (!starts_with(k, "ControlNet ")) continue;
    const std::string n = k.substr(11);
    if (!n.empty() && n.size() < 4 && std::all_of(n.begin(), n.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) units.emplace_back(std::stoi(n), value);
  }
  std::sort(units.begin(), units.end());
  std::set<std::string> modes;
  for (const auto& [n, value] : units) {
    const std::string where = "controls[" + std::to_string(r.controls.size()) + "]";
    const auto unit = request::parse_controlnet_unit(value);
    r.controls.emplace_back();
    ControlRequest& c = r.controls.back();
    if (!unit) {
      imp.problems.emplace_back(where + ".model", "A1111 'ControlNet " + std::to_string(n) +
                                                      "' is not in the ControlNet extension's unit format");
      continue;
    }
    std::map<std::string, request::PyValue> u;
    for (const auto& [f, pv] : *unit) u.emplace(f, pv);
    const auto num = [&](const char* f, double def) { return u.count(f) ? u.at(f).as_number() : def; };
    const auto set_c = [&](const std::string& field, const std::string& value) {
      try {
        set_field(c, field, value, "A1111 'ControlNet " + std::to_string(n) + "'");
      } catch (const gen::Error& e) {
        imp.problems.emplace_back(where + "." + field, e.what());
      }
    };
    // Model: "name [hash]" (the extension's list entry) or "name".
    std::string model = u.count("model") ? u.at("model").text : "None";
    std::string hash;
    if (model.size() > 3 && model.back() == ']') {
      const auto open = model.rfind(" [");
      if (open != std::string::npos) {
        hash = model.substr(open + 2, model.size() - open - 3);
        model = model.substr(0, open);
      }
    }
    const auto found = find_named(model, lookup.controlnet_dirs);
    std::string chosen;
    for (const auto& f : found)
      if (chosen.empty() && (hash.empty() || request::a1111_old_model_hash(f) == hash)) chosen = f;
    if (chosen.empty() && !found.empty()) chosen = found.front();
    if (!chosen.empty()) c.model = chosen;
    else
      imp.problems.emplace_back(where + ".model", "A1111 'ControlNet " + std::to_string(n) + "': no ControlNet model named '" +
                                                      model + "'" + (hash.empty() ? "" : " [" + hash + "]") + " (" +
                                                      dirs_text(lookup.controlnet_dirs) +
                                                      "; set GEN_CONTROLNET_DIR or give --control FILE)");
    const std::string module = u.count("module") ? u.at("module").text : "none";
    if (const auto spec = request::preprocess_of_module(module, num("threshold_a", 0.5), num("threshold_b", 0.5)))
      c.preprocess = *spec;
    else
      imp.problems.emplace_back(where + ".preprocess", "A1111 'ControlNet " + std::to_string(n) +
                                                           "': gen has no preprocessor '" + module +
                                                           "' (give --preprocess; docs/metadata.md lists the modules)");
    if (u.count("weight")) set_c("scale", u.at("weight").text);
    if (u.count("guidance_start")) set_c("start", u.at("guidance_start").text);
    if (u.count("guidance_end")) set_c("end", u.at("guidance_end").text);
    if (u.count("processor_res") && num("processor_res", -1) >= 64) set_c("preprocess_resolution", u.at("processor_res").text);
    if (u.count("resize_mode")) {
      if (const auto m = request::resize_of_a1111(u.at("resize_mode").text)) c.resize = *m;
      else imp.problems.emplace_back(where + ".resize", "A1111 'ControlNet " + std::to_string(n) + "': unknown Resize Mode '" + u.at("resize_mode").text + "'");
    }
    if (u.count("unicontrol_task")) c.task = u.at("unicontrol_task").text;
    if (u.count("union_type")) {  // "depth+canny": the group's type, then its further conditions'
      const std::string& t = u.at("union_type").text;
      std::size_t start = 0;
      for (bool first = true;; first = false) {
        const auto plus = t.find('+', start);
        const std::string one = t.substr(start, plus == std::string::npos ? std::string::npos : plus - start);
        if (first) {
          c.type = one;
        } else {
          c.conditions.emplace_back();  // without its image (never stored): validate() names it
          c.conditions.back().type = one;
        }
        if (plus == std::string::npos) break;
        start = plus + 1;
      }
    }
    if (u.count("control_mode")) {
      if (const auto m = request::control_mode_of_a1111(u.at("control_mode").text)) {
        r.control_mode = *m;
        modes.insert(u.at("control_mode").text);
      } else {
        imp.problems.emplace_back("control_mode", "A1111 'ControlNet " + std::to_string(n) + "': unknown Control Mode '" + u.at("control_mode").text + "'");
      }
    }
    if (u.count("pixel_perfect") && u.at("pixel_perfect").kind == request::PyValue::Kind::Bool && u.at("pixel_perfect").flag)
      imp.notes.push_back("ControlNet " + std::to_string(n) + ": Pixel Perfect is not gen's: its annotator runs at Processor Res");
    // The extension's text holds no control image.
    imp.problems.emplace_back(where + ".image", "A1111 'ControlNet " + std::to_string(n) +
                                                    "': A1111 does not store the control image: give --control-image FILE");
  }
  if (modes.size() > 1)
    imp.notes.push_back("the ControlNet units have different Control Modes; gen has one per request: " +
                        std::string(name_of(r.control_mode)));
  for (const auto& [k, value] : imp.fields)
    if (!kKnown.count(k) && !starts_with(k, "ControlNet ") && !starts_with(k, "T2I-Adapter ")) imp.unknown.push_back(k);
  return imp;
}

}  // namespace gen
