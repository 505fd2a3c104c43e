// Validation and the JSON form of a request: loops over the rows of the request tables,
// plus the few rules that join fields (a ControlNet's start before its end).
#include "request/request.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

#include "annotators/registry.hpp"
#include "control/control_image.hpp"
#include "editing/outpaint.hpp"
#include "core/fail.hpp"
#include "core/json.hpp"
#include "request/fields.hpp"

namespace gen {
namespace {

[[noreturn]] void bad(const std::string& field, const std::string& why) { fail(ErrorCode::InvalidArgument, field, why); }

template <class S>
void check_rows(const std::vector<request::Field<S>>& table, const S& s, const std::string& prefix) {
  for (const auto& f : table) f.check(s, prefix + f.info.name);
}

template <class S>
nlohmann::json rows_to_json(const std::vector<request::Field<S>>& table, const S& s) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& f : table) j[f.info.name] = f.to_json(s);
  return j;
}

template <class S>
void rows_from_json(const std::vector<request::Field<S>>& table, S& s, const nlohmann::json& j,
                    const std::set<std::string>& extra, const std::string& subject) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (const auto* f = request::find_field(table, it.key()))
      f->from_json(s, it.value(), subject);
    else if (!extra.count(it.key()))
      fail(ErrorCode::InvalidArgument, subject, "unknown field '" + it.key() + "'");
  }
}

template <class S>
void set_by_name(const std::vector<request::Field<S>>& table, S& s, const std::string& name, const std::string& text,
                 const std::string& subject) {
  const auto* f = request::find_field(table, name);
  if (!f) bad(subject.empty() ? name : subject, "no such request field");
  f->parse(s, text, subject.empty() ? name : subject);
}

template <class S>
std::string text_by_name(const std::vector<request::Field<S>>& table, const S& s, const std::string& name) {
  const auto* f = request::find_field(table, name);
  if (!f) bad(name, "no such request field");
  return f->text(s);
}

template <class S>
std::vector<FieldInfo> infos(const std::vector<request::Field<S>>& table) {
  std::vector<FieldInfo> out;
  for (const auto& f : table) out.push_back(f.info);
  return out;
}

// "WIDTHxHEIGHT" → {height, width}; "A,B" → {A, B}.
std::array<double, 2> parse_pair(const std::string& text, char sep, bool size, const std::string& field) {
  const auto at = text.find(sep);
  const std::string what = size ? "WIDTHxHEIGHT" : "TOP,LEFT";
  auto number = [&](const std::string& part) {
    std::size_t used = 0;
    long v = -1;
    try {
      v = std::stol(part, &used);
    } catch (...) {
      used = 0;
    }
    if (part.empty() || used != part.size() || !(part[0] >= '0' && part[0] <= '9'))
      bad(field, "must be " + what + " in whole pixels, got '" + text + "'");
    const long lo = size ? 1 : 0;
    if (v < lo || v > 16384)
      bad(field, "'" + text + "' is out of range (" + (size ? "sizes 1-16384" : "crop 0-16384") + " pixels)");
    return static_cast<double>(v);
  };
  if (at == std::string::npos) bad(field, "must be " + what + ", got '" + text + "'");
  const double a = number(text.substr(0, at)), b = number(text.substr(at + 1));
  return size ? std::array<double, 2>{b, a} : std::array<double, 2>{a, b};
}

}  // namespace

std::array<double, 6> request::sdxl_time_ids(const Request& r, bool negative) {
  auto pick = [&](const std::string& pos, const std::string& neg, const char* pos_name, const char* neg_name) {
    return negative && !neg.empty() ? std::make_pair(neg, std::string(neg_name)) : std::make_pair(pos, std::string(pos_name));
  };
  const std::array<double, 2> out_size{static_cast<double>(r.height), static_cast<double>(r.width)};
  auto size = [&](const std::pair<std::string, std::string>& v) {
    return v.first.empty() ? out_size : parse_pair(v.first, 'x', true, v.second);
  };
  const auto original = size(pick(r.original_size, r.negative_original_size, "original_size", "negative_original_size"));
  const auto target = size(pick(r.target_size, r.negative_target_size, "target_size", "negative_target_size"));
  const auto c = pick(r.crop, r.negative_crop, "crop", "negative_crop");
  const auto crop = c.first.empty() ? std::array<double, 2>{0, 0} : parse_pair(c.first, ',', false, c.second);
  return {original[0], original[1], crop[0], crop[1], target[0], target[1]};
}

void Request::validate() const {
  check_rows(request::request_table(), *this, "");
  if (!(strength > 0)) bad("strength", "must be above 0 (0 would keep the init image unchanged), got " + field_text(*this, "strength"));
  if (!init_pixels.empty()) check_image(init_pixels, "init_pixels");
  if (!mask_pixels.empty()) check_image(mask_pixels, "mask_pixels");
  if (has_mask() && !has_init_image())
    bad(mask_from_alpha ? "mask_from_alpha" : !outpaint.empty() ? "outpaint" : "mask",
        "inpainting needs an init image (--init-image)");
  if (mask_from_alpha && (!mask.empty() || !mask_pixels.empty()))
    bad("mask_from_alpha", "give either a mask or --mask-from-alpha, not both");
  if (!outpaint.empty()) {
    editing::parse_outpaint(outpaint);
    if (!mask.empty() || !mask_pixels.empty() || mask_from_alpha)
      bad("outpaint", "paints the new border: give no mask with it");
    if (inpaint_area == InpaintArea::Masked) bad("outpaint", "works on the whole picture (not --inpaint-area masked)");
  }
  editing::parse_outpaint_fill(outpaint_fill);
  request::sdxl_time_ids(*this, false);  // SDXL micro-conditioning: parsed (and refused) here
  if (!(refiner_switch > 0 && refiner_switch < 1))
    bad("refiner_switch", "must be between 0 and 1 (exclusive): the fraction of the denoising the base does, got " +
                              field_text(*this, "refiner_switch"));
  request::sdxl_time_ids(*this, true);
  if (has_hires()) {
    if (has_init_image()) bad("hires_scale", "hires fix is a text-to-image pass: not with an init image");
    if (hires_scale > 0 && (hires_width > 0 || hires_height > 0))
      bad("hires_scale", "give a scale or a target size (hires_width / hires_height), not both");
    if (!(hires_strength > 0)) bad("hires_strength", "must be above 0");
    if (!hires_sampler.empty() && !enum_from_name<Sampler>(hires_sampler))
      bad("hires_sampler", "unknown sampler '" + hires_sampler + "' (" + names_text<Sampler>() + ")");
  }
  if (!has_mask() && (overlay || inpaint_area == InpaintArea::Masked || inpaint_fill != InpaintFill::Original ||
                      inpaint_blend != InpaintBlend::Diffusers))
    bad(overlay                                  ? "overlay"
        : inpaint_area == InpaintArea::Masked    ? "inpaint_area"
        : inpaint_fill != InpaintFill::Original ? "inpaint_fill"
                                                 : "inpaint_blend",
        "acts on inpainting: give a mask (--mask or --mask-from-alpha)");
  for (std::size_t i = 0; i < loras.size(); ++i) {
    const auto& l = loras[i];
    const std::string f = "loras[" + std::to_string(i) + "]";
    if (l.file.empty()) bad(f + ".file", "is empty");
    if (!std::isfinite(l.weight) || std::abs(l.weight) > 100) bad(f + ".weight", "must be a number in [-100, 100]");
    if (l.te_weight && (!std::isfinite(*l.te_weight) || std::abs(*l.te_weight) > 100))
      bad(f + ".te_weight", "must be a number in [-100, 100]");
  }
  for (std::size_t i = 0; i < embeddings.size(); ++i)
    if (embeddings[i].empty()) bad("embeddings[" + std::to_string(i) + "]", "is empty");
  for (std::size_t i = 0; i < controls.size(); ++i) {
    const auto& c = controls[i];
    const std::string f = "controls[" + std::to_string(i) + "]";
    if (c.model.empty()) bad(f + ".model", "is empty");
    const bool inpaint_only = c.preprocess == "inpaint_only";
    if (c.image.empty() && c.pixels.empty() && !inpaint_only) bad(f + ".image", "is empty");
    if (inpaint_only && (!has_mask() || !has_init_image()))
      bad(f + ".preprocess", "inpaint_only masks the init image: give --init-image and a mask");
    if (!c.pixels.empty()) check_image(c.pixels, f + ".pixels");
    check_rows(request::control_table(), c, f + ".");
    if (c.start > c.end) bad(f, "start is after end");
    control::check_preprocess(annotators::resolve_unicontrol(c.preprocess, c.task, f + ".preprocess"));
    if (!c.conditions.empty() && c.type.empty())
      bad(f + ".type", "is empty, but the group has " + std::to_string(c.conditions.size() + 1) +
                           " control images: only a ControlNet Union group takes several, each with its --control-type");
    for (std::size_t k = 0; k < c.conditions.size(); ++k) {
      const auto& u = c.conditions[k];
      const std::string g = f + ".conditions[" + std::to_string(k) + "]";
      if (u.type.empty())
        bad(g + ".type", "is empty: the group has more control images than control types (a ControlNet Union group "
                         "pairs the n-th --control-type with the n-th --control-image)");
      if (u.image.empty() && u.pixels.empty())
        bad(g + ".image", "is empty: the group has more control types than control images (a ControlNet Union group "
                          "pairs the n-th --control-type with the n-th --control-image)");
      if (!u.pixels.empty()) check_image(u.pixels, g + ".pixels");
      check_rows(request::control_table(), u, g + ".");
      control::check_preprocess(annotators::resolve_unicontrol(u.preprocess, c.task, g + ".preprocess"));
      if (u.preprocess == "inpaint_only") bad(g + ".preprocess", "inpaint_only is not a Union condition's preprocessor");
      if (!u.conditions.empty()) bad(g + ".conditions", "a condition has no conditions of its own");
    }
  }
  for (std::size_t i = 0; i < adapters.size(); ++i) {
    const auto& a = adapters[i];
    const std::string f = "adapters[" + std::to_string(i) + "]";
    if (a.model.empty()) bad(f + ".model", "is empty");
    if (a.image.empty() && a.pixels.empty()) bad(f + ".image", "is empty (give --adapter-image)");
    if (!a.pixels.empty()) check_image(a.pixels, f + ".pixels");
    check_rows(request::adapter_table(), a, f + ".");
    if (inpaint_area == InpaintArea::Masked)
      bad(f, "T2I-Adapters work on the whole picture (not with --inpaint-area masked)");
  }
}

std::string Request::to_json() const { return request::to_json(*this).dump(); }

Request Request::from_json(const std::string& text, const std::string& subject) {
  return request::from_json(core::parse_json(text, subject, ErrorCode::InvalidArgument), subject);
}

const std::vector<FieldInfo>& request_fields() {
  static const auto list = infos(request::request_table());
  return list;
}
const std::vector<FieldInfo>& control_fields() {
  static const auto list = infos(request::control_table());
  return list;
}

void set_field(Request& r, const std::string& name, const std::string& text, const std::string& subject) {
  set_by_name(request::request_table(), r, name, text, subject);
}
void set_field(ControlRequest& c, const std::string& name, const std::string& text, const std::string& subject) {
  set_by_name(request::control_table(), c, name, text, subject);
}
const std::vector<FieldInfo>& adapter_fields() {
  static const auto list = infos(request::adapter_table());
  return list;
}
void set_field(AdapterRequest& a, const std::string& name, const std::string& text, const std::string& subject) {
  set_by_name(request::adapter_table(), a, name, text, subject);
}
std::string field_text(const AdapterRequest& a, const std::string& name) {
  return text_by_name(request::adapter_table(), a, name);
}
std::string field_text(const Request& r, const std::string& name) {
  return text_by_name(request::request_table(), r, name);
}
std::string field_text(const ControlRequest& c, const std::string& name) {
  return text_by_name(request::control_table(), c, name);
}

std::uint64_t random_seed() {
  std::random_device rd;
  return static_cast<std::uint64_t>(rd()) & 0xffffffffu;
}

}  // namespace gen

namespace gen::request {
namespace {
// The fields a Union group's further condition has (ControlRequest::conditions).
const char* const kConditionFields[] = {"type", "image", "preprocess", "preprocess_resolution"};
}  // namespace

nlohmann::json to_json(const Request& r) {
  auto j = rows_to_json(request_table(), r);
  j["schema"] = Request::kSchema;
  j["controls"] = nlohmann::json::array();
  for (const auto& c : r.controls) {
    auto g = rows_to_json(control_table(), c);
    if (!c.conditions.empty()) {  // written only when used: other groups stay as before
      g["conditions"] = nlohmann::json::array();
      for (const auto& k : c.conditions) {
        nlohmann::json e = nlohmann::json::object();
        for (const char* name : kConditionFields) e[name] = find_field(control_table(), name)->to_json(k);
        g["conditions"].push_back(std::move(e));
      }
    }
    j["controls"].push_back(std::move(g));
  }
  if (!r.adapters.empty()) {  // written only when used: files without T2I-Adapters stay as before
    j["adapters"] = nlohmann::json::array();
    for (const auto& a : r.adapters) j["adapters"].push_back(rows_to_json(adapter_table(), a));
  }
  j["loras"] = nlohmann::json::array();
  for (const auto& l : r.loras) {
    nlohmann::json e = {{"file", l.file}, {"weight", l.weight}};
    if (l.te_weight) e["te_weight"] = *l.te_weight;
    j["loras"].push_back(std::move(e));
  }
  j["embeddings"] = r.embeddings;
  return j;
}

Request from_json(const nlohmann::json& j, const std::string& subject) {
  if (!j.is_object()) fail(ErrorCode::InvalidArgument, subject, "a request must be a JSON object");
  if (j.contains("schema") && j["schema"] != Request::kSchema && j["schema"] != "gen.request/1" &&
      j["schema"] != "gen.request/1.1" && j["schema"] != "gen.request/1.2")
    fail(ErrorCode::Unsupported, subject,
         "request schema " + core::json_excerpt(j["schema"]) + " (this gen reads gen.request/1, /1.1, /1.2 and " +
             Request::kSchema + ")");
  Request r;
  rows_from_json(request_table(), r, j, {"schema", "controls", "adapters", "loras", "embeddings", "output"}, subject);
  if (j.contains("embeddings")) {
    const auto& e = j["embeddings"];
    if (!e.is_array()) fail(ErrorCode::InvalidArgument, subject, "field 'embeddings' must be an array of file names");
    for (const auto& v : e) {
      if (!v.is_string())
        fail(ErrorCode::InvalidArgument, subject + ": embeddings[" + std::to_string(r.embeddings.size()) + "]",
             "must be a file name, not " + core::json_excerpt(v));
      r.embeddings.push_back(v.get<std::string>());
    }
  }
  if (j.contains("loras")) {
    if (!j["loras"].is_array()) fail(ErrorCode::InvalidArgument, subject, "field 'loras' must be an array");
    for (const auto& l : j["loras"]) {
      const std::string s = subject + ": loras[" + std::to_string(r.loras.size()) + "]";
      if (!l.is_object()) fail(ErrorCode::InvalidArgument, s, "must be an object {\"file\": ..., \"weight\": ...}");
      LoraRequest lr;
      for (const auto& [key, v] : l.items()) {
        if (key == "file" && v.is_string()) lr.file = v.get<std::string>();
        else if (key == "weight" && v.is_number()) lr.weight = v.get<double>();
        else if (key == "te_weight" && v.is_number()) lr.te_weight = v.get<double>();
        else if (key == "file" || key == "weight" || key == "te_weight")
          fail(ErrorCode::InvalidArgument, s, "field '" + key + "' has the wrong type: " + core::json_excerpt(v));
        else
          fail(ErrorCode::InvalidArgument, s, "unknown field '" + key + "' (file, weight, te_weight)");
      }
      r.loras.push_back(std::move(lr));
    }
  }
  if (j.contains("controls")) {
    if (!j["controls"].is_array()) fail(ErrorCode::InvalidArgument, subject, "field 'controls' must be an array");
    for (const auto& c : j["controls"]) {
      const std::string s = subject + ": controls[" + std::to_string(r.controls.size()) + "]";
      if (!c.is_object()) fail(ErrorCode::InvalidArgument, s, "must be an object");
      ControlRequest cr;
      rows_from_json(control_table(), cr, c, {"conditions"}, s);
      if (c.contains("conditions")) {
        const auto& list = c["conditions"];
        if (!list.is_array()) fail(ErrorCode::InvalidArgument, s, "field 'conditions' must be an array");
        for (const auto& k : list) {
          const std::string ks = s + ": conditions[" + std::to_string(cr.conditions.size()) + "]";
          if (!k.is_object()) fail(ErrorCode::InvalidArgument, ks, "must be an object {\"type\": ..., \"image\": ...}");
          ControlRequest kr;
          for (auto it = k.begin(); it != k.end(); ++it) {
            const bool ours = std::find(std::begin(kConditionFields), std::end(kConditionFields), it.key()) !=
                              std::end(kConditionFields);
            if (!ours)
              fail(ErrorCode::InvalidArgument, ks,
                   "unknown field '" + it.key() + "' (a condition has type, image, preprocess, preprocess_resolution)");
            find_field(control_table(), it.key())->from_json(kr, it.value(), ks);
          }
          cr.conditions.push_back(std::move(kr));
        }
      }
      r.controls.push_back(std::move(cr));
    }
  }
  if (j.contains("adapters")) {
    if (!j["adapters"].is_array()) fail(ErrorCode::InvalidArgument, subject, "field 'adapters' must be an array");
    for (const auto& a : j["adapters"]) {
      const std::string s = subject + ": adapters[" + std::to_string(r.adapters.size()) + "]";
      if (!a.is_object()) fail(ErrorCode::InvalidArgument, s, "must be an object {\"model\": ..., \"image\": ...}");
      AdapterRequest ar;
      rows_from_json(adapter_table(), ar, a, {}, s);
      r.adapters.push_back(std::move(ar));
    }
  }
  r.validate();
  return r;
}

std::string image_request_json(const Request& r, std::uint64_t seed) {
  auto j = to_json(r);
  j["seed"] = seed;
  j["batch_size"] = 1;
  j["batch_count"] = 1;
  return j.dump();
}

}  // namespace gen::request
