// The A1111 infotext, from the rows of the request tables that name an infotext key, in
// table order. A few keys follow A1111's own rules (processing.py, create_infotext):
// "Size" joins width and height, "Sampler" carries the schedule, "Seed" is the seed the
// image used, "Batch size" (with "Batch pos") only for batches, "Clip skip" only above 1,
// "Eta DDIM" only for DDIM and not 0, "Model hash"/"Model", "VAE hash"/"VAE", "RNG: CPU".
// Values are quoted as A1111's infotext_utils.quote does. ControlNet groups follow in the
// extension's "ControlNet i" form, its unit's keys in its order (Module, Model [hash], Weight,
// Resize Mode, Processor Res, Threshold A/B, Guidance Start/End, Pixel Perfect, Control Mode).
// "Lora hashes" and "TI hashes" come last, before "Version", as A1111's extra generation
// parameters do. No local path is written: files are named by their names (docs/metadata.md).
#include "gen/metadata.hpp"

#include <algorithm>
#include <filesystem>
#include <iterator>
#include <map>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "adapters/lora_names.hpp"
#include "core/file_cache.hpp"
#include "core/sha256.hpp"
#include "gen/error.hpp"
#include "request/a1111_names.hpp"
#include "request/fields.hpp"
#include "request/request.hpp"

namespace gen {

std::string a1111_sampler_name(Sampler s, Schedule schedule) {
  std::string name;
  switch (s) {
    case Sampler::EulerA: name = "Euler a"; break;
    case Sampler::Euler: name = "Euler"; break;
    case Sampler::Ddim: name = "DDIM"; break;
    case Sampler::Heun: name = "Heun"; break;
    case Sampler::Lms: name = "LMS"; break;
    case Sampler::Pndm: name = "PLMS"; break;
    case Sampler::DpmPP2M: name = "DPM++ 2M"; break;
    case Sampler::DpmPP2MSde: name = "DPM++ 2M SDE"; break;
    case Sampler::UniPC: name = "UniPC"; break;
    case Sampler::Lcm: name = "LCM"; break;
  }
  if (schedule == Schedule::Karras) name += " Karras";
  return name;
}

std::string hires_upscaler_a1111_name(HiresUpscaler u) {
  switch (u) {
    case HiresUpscaler::Latent: return "Latent";
    case HiresUpscaler::LatentAntialiased: return "Latent (antialiased)";
    case HiresUpscaler::LatentBicubic: return "Latent (bicubic)";
    case HiresUpscaler::LatentBicubicAntialiased: return "Latent (bicubic antialiased)";
    case HiresUpscaler::LatentNearest: return "Latent (nearest)";
    case HiresUpscaler::LatentNearestExact: return "Latent (nearest-exact)";
    case HiresUpscaler::Lanczos: return "Lanczos";
  }
  return "?";
}

namespace {

// A1111's checkpoint short_title: the file's name without extension and the first 10 hex digits
// of its SHA-256 ("sd_xl_refiner_1.0 [7440042bbd]"), computed once per file (and kept while it is
// unchanged); a folder (diffusers) has its name alone.
std::string refiner_title(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path p(path);
  if (fs::is_directory(p, ec)) return p.filename().empty() ? p.parent_path().filename().string() : p.filename().string();
  static std::mutex lock;
  static std::map<std::string, std::string> hashes;
  const std::string id = core::file_identity(path);
  std::string hash;
  {
    std::lock_guard<std::mutex> hold(lock);
    if (const auto it = hashes.find(id); it != hashes.end()) hash = it->second;
  }
  if (hash.empty()) {
    try {
      hash = sha256_file(path).substr(0, 10);
    } catch (const gen::Error&) {
      return p.stem().string();  // gone by now: the name alone
    }
    std::lock_guard<std::mutex> hold(lock);
    hashes[id] = hash;
  }
  return p.stem().string() + " [" + hash + "]";
}

}  // namespace

std::string a1111_parameters(const Request& r, std::uint64_t seed, int index_in_batch) {
  // The LoRA files of `loras` and of the prompts' <lora:...> tags; one that cannot be found
  // (gone by now) leaves the field out.
  request::InfotextExtras extras = request::file_hashes(r);
  try {
    extras.lora_hashes = adapters::lora_hashes_text(adapters::resolve_loras(r));
  } catch (const gen::Error&) {
  }
  return request::a1111_parameters(r, seed, index_in_batch, extras);
}

namespace {

// A1111's infotext_utils.quote: a value holding ',', ':' or a newline as a JSON string.
std::string quote(const std::string& v) {
  if (v.find_first_of(",:\n") == std::string::npos) return v;
  return nlohmann::json(v).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// The name A1111 shows for a model file: its stem (CheckpointInfo.name_for_extra); a folder's
// own name. ',' and ':' are dropped, as the ControlNet extension's text cannot hold them.
std::string file_stem(const std::string& path, bool keep_extension = false) {
  std::filesystem::path p(path);
  if (!p.has_filename()) p = p.parent_path();  // "folder/"
  std::error_code ec;
  std::string name = keep_extension || std::filesystem::is_directory(p, ec) ? p.filename().string() : p.stem().string();
  name.erase(std::remove_if(name.begin(), name.end(), [](char c) { return c == ',' || c == ':'; }), name.end());
  return name;
}

// One ControlNet group in the extension's words (internal_controlnet/args.py, serialize: the
// infotext fields in its order, Python's value text).
std::string control_unit(const Request& r, const ControlRequest& c, const std::string& hash) {
  const auto module = request::a1111_module(c.preprocess);
  std::string model = file_stem(c.model);
  if (!hash.empty()) model += " [" + hash + "]";
  std::string unit = "Module: " + module.module + ", Model: " + model + ", Weight: " + request::python_float(c.scale) +
                     ", Resize Mode: " + request::a1111_resize_name(c.resize) +
                     ", Processor Res: " + std::to_string(c.preprocess_resolution) +
                     ", Threshold A: " + request::python_float(module.threshold_a) +
                     ", Threshold B: " + request::python_float(module.threshold_b) +
                     ", Guidance Start: " + request::python_float(c.start) +
                     ", Guidance End: " + request::python_float(c.end) +
                     ", Pixel Perfect: False, Control Mode: " + request::a1111_control_mode_name(r.control_mode);
  // gen's own key for a UniControl group (the extension ignores keys it does not know); a mix
  // "NAME:W,NAME:W" cannot be written in this text (the gen metadata keeps it).
  if (!c.task.empty() && c.task.find_first_of(",:") == std::string::npos) unit += ", UniControl Task: " + c.task;
  // gen's own key for a ControlNet Union group: its conditions' types joined by '+' (the
  // extension's text holds no ',' or ':' inside a value; no image is written, as for any unit).
  if (!c.type.empty()) {
    std::string types = c.type;
    for (const auto& k : c.conditions) types += "+" + k.type;
    if (types.find_first_of(",:") == std::string::npos) unit += ", Union Type: " + types;
  }
  return unit;
}

}  // namespace

std::string request::a1111_parameters(const Request& r, std::uint64_t seed, int index_in_batch,
                                      const InfotextExtras& extras) {
  std::string head = r.prompt + "\n";
  std::string line;
  auto add = [&](const std::string& key, const std::string& value) {
    line += (line.empty() ? "" : ", ") + key + ": " + quote(value);
  };
  for (const auto& f : request::request_table()) {
    const std::string& key = f.info.infotext;
    if (key.empty()) continue;
    if (key == "Negative prompt") {
      if (!r.negative_prompt.empty()) head += "Negative prompt: " + r.negative_prompt + "\n";
    } else if (key == "Sampler") {
      add(key, a1111_sampler_name(r.sampler, r.scheduler));
    } else if (key == "Seed") {
      add(key, std::to_string(seed));
    } else if (key == "Size") {
      add(key, std::to_string(r.width) + "x" + std::to_string(r.height));
      // A1111's next keys (processing.py, create_infotext), from the `model` and `vae` rows:
      // "Model hash" (a file's short hash; a folder has none) and "Model" (its name), then
      // "VAE hash" and "VAE" (the file's name) when a separate VAE is used.
      if (!extras.model_hash.empty()) add("Model hash", extras.model_hash);
      if (!r.model.empty()) add("Model", file_stem(r.model));
      if (!r.vae.empty()) {
        if (!extras.vae_hash.empty()) add("VAE hash", extras.vae_hash);
        add("VAE", file_stem(r.vae, true));
      }
    } else if (key == "Batch size") {
      if (r.batch_size > 1) {
        add(key, f.text(r));
        add("Batch pos", std::to_string(index_in_batch));
      }
    } else if (key == "Clip skip") {
      if (r.clip_skip > 1) add(key, f.text(r));
    } else if (key == "Eta") {
      // A1111's DDIM sampler writes its eta as "Eta DDIM" when not 0 (its "Eta" is k-diffusion's
      // ancestral eta, which gen does not have; gen's eta is DDIM's only).
      if (r.eta != 0.0 && r.sampler == Sampler::Ddim) add("Eta DDIM", f.text(r));
    } else if (key == "Denoising strength") {  // A1111 writes it for img2img / inpainting only
      if (r.has_init_image()) add(key, f.text(r));
      else if (r.has_hires()) add(key, field_text(r, "hires_strength"));
    } else if (key == "Hires upscale") {  // A1111: the scale, or "Hires resize: WxH"
      if (r.hires_scale > 0) add(key, f.text(r));
      else if (r.has_hires())
        add("Hires resize", std::to_string(r.hires_width) + "x" + std::to_string(r.hires_height));
    } else if (key == "Hires upscaler") {
      // A1111 names a net upscaler by its file's stem (modelloader.friendly_name).
      if (r.has_hires())
        add(key, r.hires_upscaler_model.empty() ? hires_upscaler_a1111_name(r.hires_upscaler)
                                                : std::filesystem::path(r.hires_upscaler_model).stem().string());
    } else if (key == "Hires steps") {
      if (r.has_hires() && r.hires_steps > 0) add(key, f.text(r));
    } else if (key == "Refiner") {  // A1111: "Refiner: NAME [HASH], Refiner switch at: F" with a refiner only
      if (!r.refiner.empty()) add(key, refiner_title(r.refiner));
    } else if (key == "Refiner switch at") {
      if (!r.refiner.empty()) add(key, f.text(r));
    } else if (key == "Mask blur") {  // … and these for inpainting, A1111's non-default values only
      if (r.has_mask()) add(key, f.text(r));
    } else if (key == "Mask mode") {
      if (r.has_mask() && r.invert_mask) add(key, "Inpaint not masked");
    } else if (key == "Inpaint area") {
      if (r.has_mask() && r.inpaint_area == InpaintArea::Masked) add(key, "Only masked");
    } else if (key == "Masked area padding") {
      if (r.has_mask() && r.inpaint_area == InpaintArea::Masked) add(key, f.text(r));
    } else if (key == "Masked content") {  // A1111's names: fill, original, latent noise, latent nothing
      if (r.has_mask() && r.inpaint_fill != InpaintFill::Original) {
        std::string v = name_of(r.inpaint_fill);
        std::replace(v.begin(), v.end(), '_', ' ');
        add(key, v);
      }
    } else {
      add(key, f.text(r));
    }
  }
  add("RNG", "CPU");  // A1111's opts.randn_source: gen draws its noise on the CPU (the `rng` row)
  for (std::size_t i = 0; i < r.controls.size(); ++i)
    add("ControlNet " + std::to_string(i),
        control_unit(r, r.controls[i], i < extras.control_hashes.size() ? extras.control_hashes[i] : ""));
  // T2I-Adapters as the A1111 ControlNet extension lists its units (gen's own key: the
  // extension runs adapters as ControlNet units, which gen keeps apart).
  for (std::size_t i = 0; i < r.adapters.size(); ++i) {
    std::string unit;
    for (const auto& f : request::adapter_table())
      if (!f.info.infotext.empty())  // the model by its file name, not its path
        unit += (unit.empty() ? "" : ", ") + f.info.infotext + ": " +
                (f.info.name == "model" ? file_stem(r.adapters[i].model, true) : f.text(r.adapters[i]));
    add("T2I-Adapter " + std::to_string(i), unit);
  }
  // A1111's "Lora hashes" (extra_networks_lora.py).
  if (!extras.lora_hashes.empty()) add("Lora hashes", extras.lora_hashes);
  // A1111's "TI hashes" (sd_hijack_clip.py): the embeddings the prompts used, which only the
  // engine knows (it tokenised them).
  if (!extras.ti_hashes.empty()) add("TI hashes", extras.ti_hashes);
  add("Version", "gen");
  return head + line;
}

std::map<std::string, std::string> image_metadata(const Request& r, std::uint64_t seed, int index_in_batch) {
  return {{"parameters", a1111_parameters(r, seed, index_in_batch)}, {"gen", request::image_request_json(r, seed)}};
}

}  // namespace gen
