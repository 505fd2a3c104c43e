// inspect_path(): open a weight file or folder, list its tensors and classify them.
#include "io/inspect.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <system_error>

#include <nlohmann/json.hpp>

#include "core/fail.hpp"
#include "core/files.hpp"
#include "core/json.hpp"
#include "io/torch_checkpoint.hpp"

namespace gen::io {
namespace fs = std::filesystem;

namespace {

bool starts(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool ends(const std::string& s, const std::string& t) {
  return s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
}

// "model.diffusion_model.input_blocks..." → "model.diffusion_model"; "lora_unet_down_..." → "lora_unet".
std::string group_of(const std::string& name) {
  if (starts(name, "lora_")) {
    const auto cut = name.find_first_of("_.", 5);
    return cut == std::string::npos ? name : name.substr(0, cut);
  }
  std::size_t depth = 1;
  if (starts(name, "model.") || starts(name, "cond_stage_model.")) depth = 2;
  if (starts(name, "conditioner.")) depth = 3;
  std::size_t pos = 0;
  for (std::size_t i = 0; i < depth; ++i) {
    const auto dot = name.find('.', pos);
    if (dot == std::string::npos) return pos == 0 ? name : name.substr(0, pos - 1);
    pos = dot + 1;
  }
  return name.substr(0, pos - 1);
}

constexpr std::size_t kMaxJsonFile = std::size_t{64} << 20;

nlohmann::json read_json(const fs::path& path) {
  nlohmann::json j = core::read_json_file(path.string(), kMaxJsonFile, "JSON file");
  if (!j.is_object()) fail(ErrorCode::InvalidFormat, path.string(), "not a JSON object");
  return j;
}

std::string json_string(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool is_pickle_name(const std::string& name) {
  for (const char* ext : {".ckpt", ".pt", ".pth", ".bin", ".pkl"})
    if (ends(name, ext)) return true;
  return false;
}

// A torch.save checkpoint, read without executing it (torch_checkpoint.hpp).
InspectReport open_pickle(const std::string& path) {
  const TorchCheckpoint ckpt = read_torch_checkpoint(path);
  std::vector<TensorEntry> tensors;
  tensors.reserve(ckpt.tensors.size());
  for (const auto& t : ckpt.tensors) tensors.push_back({t.name, t.dtype, t.shape, t.numel(), t.nbytes()});
  InspectReport r = make_report(path, std::move(tensors));
  r.format = "torch-pickle";
  r.files = {path};
  r.model.notes.push_back("pickled checkpoint, read without executing it; `gen convert` makes a .safetensors copy");
  if (!ckpt.root.empty()) r.model.notes.push_back("tensors taken from its '" + ckpt.root + "' entry");
  if (!ckpt.dropped.empty()) {
    std::string names;
    for (std::size_t i = 0; i < ckpt.dropped.size() && i < 3; ++i) names += (i ? ", " : "") + ckpt.dropped[i].name;
    r.model.notes.push_back(std::to_string(ckpt.dropped.size()) + " non-tensor entries left out (" + names +
                            (ckpt.dropped.size() > 3 ? ", ..." : "") + ")");
  }
  return r;
}

// Tells a torch.save / pickle / GGUF file from a safetensors one by its first bytes.
bool is_pickle_file(const std::string& path) {
  const std::string bytes = core::read_head(path, 4);
  const auto* head = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t got = bytes.size();
  if (got >= 4 && std::memcmp(head, "GGUF", 4) == 0)
    fail(ErrorCode::Unsupported, path, "GGUF file: gen reads safetensors and torch.save weights only");
  if (got >= 4 && std::memcmp(head, "PK\x03\x04", 4) == 0) return true;  // torch.save zip
  if (got >= 2 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5) return true;  // a bare pickle
  return is_pickle_name(path);
}

InspectReport open_weights(const std::string& path) {
  SafetensorsCheckpoint ckpt = SafetensorsCheckpoint::open(path);
  std::vector<TensorEntry> tensors;
  for (const auto& name : ckpt.names()) {
    const TensorInfo& info = ckpt.info(name);
    tensors.push_back({info.name, info.dtype, info.shape, info.numel(), info.nbytes()});
  }
  InspectReport r = make_report(path, std::move(tensors), ckpt.metadata());
  for (const auto& f : ckpt.files()) r.files.push_back(f.path());
  r.format = r.files.size() > 1 || ends(path, ".index.json") ? "safetensors-sharded" : "safetensors";
  return r;
}

bool is_shard_name(const std::string& name) { return name.find("-of-") != std::string::npos; }

// The weights of a diffusers / transformers model folder: the standard names
// first, then an index, then a lone file; variants (".fp16.") only when nothing else.
std::string pick_weights(const fs::path& dir, std::string& pickled) {
  std::vector<std::string> indexes, files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (!e.is_regular_file(ec)) continue;
    const std::string n = e.path().filename().string();
    if (ends(n, ".safetensors.index.json")) indexes.push_back(n);
    else if (ends(n, ".safetensors") && !is_shard_name(n)) files.push_back(n);
    else if (is_pickle_name(n) && pickled.empty()) pickled = n;
  }
  for (const char* want : {"diffusion_pytorch_model.safetensors", "model.safetensors",
                           "diffusion_pytorch_model.safetensors.index.json", "model.safetensors.index.json"})
    if (std::count(files.begin(), files.end(), want) || std::count(indexes.begin(), indexes.end(), want))
      return (dir / want).string();
  std::sort(indexes.begin(), indexes.end());
  std::sort(files.begin(), files.end());
  if (!indexes.empty()) return (dir / indexes.front()).string();
  if (!files.empty()) return (dir / files.front()).string();
  return {};
}

ModelKind kind_from_class(const std::string& cls) {
  if (cls == "ControlNetModel" || cls == "ControlNetUnionModel" || cls == "ControlNetModel_Union")
    return ModelKind::ControlNet;
  if (cls == "T2IAdapter") return ModelKind::T2IAdapter;
  if (cls == "UNet2DConditionModel") return ModelKind::UNet;
  if (cls == "AutoencoderKL" || cls == "AutoencoderTiny") return ModelKind::VAE;
  if (starts(cls, "CLIPTextModel")) return ModelKind::TextEncoder;
  return ModelKind::Unknown;
}

// A folder with a config.json (diffusers `_class_name`, transformers `architectures`).
InspectReport inspect_model_folder(const fs::path& dir, bool required) {
  std::string library, class_name;
  if (fs::exists(dir / "config.json")) {
    const nlohmann::json cfg = read_json(dir / "config.json");
    class_name = json_string(cfg, "_class_name");
    library = class_name.empty() ? "" : "diffusers";
    auto arch = cfg.find("architectures");
    if (class_name.empty() && arch != cfg.end() && arch->is_array() && !arch->empty() && arch->front().is_string()) {
      class_name = arch->front().get<std::string>();
      library = "transformers";
    }
  }
  std::string pickled;
  const std::string weights = pick_weights(dir, pickled);
  InspectReport r;
  if (weights.empty() && pickled.empty()) {
    if (required) fail(ErrorCode::NotFound, dir.string(), "model folder without weights (no .safetensors file)");
    r.path = dir.string();
    r.format = "config-only";
    r.model.summary = "configuration only, no weights";
  } else {
    r = weights.empty() ? open_pickle((dir / pickled).string()) : open_weights(weights);
    r.path = dir.string();
    r.format = "diffusers-model";
    const ModelKind from_class = kind_from_class(class_name);
    if (r.model.kind == ModelKind::Unknown && from_class != ModelKind::Unknown) {
      r.model.kind = from_class;
      r.model.layout = Layout::Diffusers;
      r.model.summary = class_name + " with tensors gen does not recognise";
    } else if (from_class != ModelKind::Unknown && from_class != r.model.kind) {
      r.model.notes.push_back("config.json names " + class_name + " but the tensors look like a " +
                              kind_id(r.model.kind));
    }
  }
  r.library = library;
  r.class_name = class_name;
  return r;
}

std::string family_text(Family f) {
  switch (f) {
    case Family::SD1: return "SD 1.x";
    case Family::SD2: return "SD 2.x";
    case Family::SDXL: return "SDXL";
    case Family::Unknown: break;
  }
  return "unknown family";
}

InspectReport inspect_pipeline(const fs::path& dir) {
  const nlohmann::json index = read_json(dir / "model_index.json");
  InspectReport r;
  r.path = dir.string();
  r.format = "diffusers-pipeline";
  r.library = "diffusers";
  r.class_name = json_string(index, "_class_name");
  r.model.kind = ModelKind::Pipeline;
  r.model.layout = Layout::DiffusersPipeline;
  std::vector<std::string> others;
  for (auto it = index.begin(); it != index.end(); ++it) {
    if (starts(it.key(), "_") || !it->is_array() || it->size() != 2) continue;
    const auto& lib = (*it)[0];
    const auto& cls = (*it)[1];
    InspectReport c;
    const fs::path sub = dir / it.key();
    if (!lib.is_string() || !cls.is_string()) {
      c.status = "not-included";
      c.path = sub.string();
      c.format = "none";
    } else if (!fs::is_directory(sub)) {
      c.status = "missing";
      c.path = sub.string();
      c.format = "none";
      r.model.notes.push_back("component " + it.key() + " (" + cls.get<std::string>() + ") has no folder");
    } else {
      c = inspect_model_folder(sub, false);
    }
    c.name = it.key();
    if (lib.is_string()) c.library = lib.get<std::string>();
    if (cls.is_string()) c.class_name = cls.get<std::string>();
    r.tensor_count += c.tensor_count;
    r.parameters += c.parameters;
    r.bytes += c.bytes;
    for (const auto& kv : c.dtypes) r.dtypes[kv.first] += kv.second;
    if (!c.tensors.empty()) r.model.parts.push_back(c.name);
    else if (c.status == "ok") others.push_back(c.name);
    if (c.name == "unet" && c.model.family != Family::Unknown) r.model.family = c.model.family;
    r.components.push_back(std::move(c));
  }
  if (r.model.family == Family::Unknown) {
    if (r.class_name.find("XL") != std::string::npos) r.model.family = Family::SDXL;
    for (const auto& c : r.components)
      if (r.model.family == Family::Unknown && c.model.family != Family::Unknown) r.model.family = c.model.family;
  }
  std::string list;
  for (const auto& p : r.model.parts) list += (list.empty() ? "" : ", ") + p;
  for (const auto& p : others) list += (list.empty() ? "" : ", ") + p + " (config)";
  std::string family = family_text(r.model.family);
  if (r.model.family == Family::SDXL) {  // a refiner has text_encoder_2 only
    const auto& parts = r.model.parts;
    const bool one = std::find(parts.begin(), parts.end(), "text_encoder") != parts.end();
    const bool two = std::find(parts.begin(), parts.end(), "text_encoder_2") != parts.end();
    if (two) family += one ? " base" : " refiner";
  }
  r.model.summary = "diffusers " + (r.class_name.empty() ? std::string("pipeline") : r.class_name) + " folder (" +
                    family + "): " + (list.empty() ? "no components" : list);
  return r;
}

InspectReport inspect_folder(const fs::path& dir) {
  if (fs::exists(dir / "model_index.json")) return inspect_pipeline(dir);
  if (fs::exists(dir / "config.json")) return inspect_model_folder(dir, true);
  std::size_t weights = 0;
  std::string pickled;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string n = e.path().filename().string();
    if (ends(n, ".safetensors") || ends(n, ".safetensors.index.json")) ++weights;
    else if (is_pickle_name(n) && pickled.empty()) pickled = n;
  }
  if (ec) fail(ErrorCode::Io, dir.string(), "cannot list the folder: " + ec.message());
  if (weights == 0) {
    if (!pickled.empty()) return open_pickle((dir / pickled).string());
    fail(ErrorCode::NotFound, dir.string(),
         "not a model folder: no model_index.json, config.json or .safetensors file in it");
  }
  return open_weights(dir.string());
}

nlohmann::ordered_json report_json(const InspectReport& r, bool with_tensors) {
  nlohmann::ordered_json j;
  j["path"] = r.path;
  j["format"] = r.format;
  if (!r.name.empty()) j["name"] = r.name;
  if (!r.library.empty()) j["library"] = r.library;
  if (!r.class_name.empty()) j["class"] = r.class_name;
  if (!r.name.empty()) j["status"] = r.status;
  j["kind"] = kind_id(r.model.kind);
  j["family"] = family_id(r.model.family);
  j["layout"] = layout_id(r.model.layout);
  j["parts"] = r.model.parts;
  j["prefix"] = r.model.prefix;
  j["summary"] = r.model.summary;
  j["notes"] = r.model.notes;
  j["ema_tensors"] = r.model.ema_tensors;
  j["facts"] = nlohmann::ordered_json::object();
  for (const auto& kv : r.model.facts) j["facts"][kv.first] = kv.second;
  j["tensor_count"] = r.tensor_count;
  j["parameters"] = r.parameters;
  j["bytes"] = r.bytes;
  j["dtypes"] = nlohmann::ordered_json::object();
  for (const auto& kv : r.dtypes) j["dtypes"][kv.first] = kv.second;
  j["metadata"] = nlohmann::ordered_json::object();
  for (const auto& kv : r.metadata) j["metadata"][kv.first] = kv.second;
  j["files"] = r.files;
  j["groups"] = nlohmann::ordered_json::array();
  for (const auto& g : r.groups)
    j["groups"].push_back({{"prefix", g.prefix}, {"tensors", g.tensors}, {"parameters", g.parameters}, {"bytes", g.bytes}});
  if (!r.load.as.empty()) {
    nlohmann::ordered_json load;
    load["as"] = r.load.as;
    load["ok"] = r.load.ok;
    if (!r.load.config.empty()) load["config"] = r.load.config;
    if (!r.load.ok) {
      load["code"] = code_name(r.load.code);
      load["reason"] = r.load.reason;
    }
    j["load"] = load;
  }
  if (!r.components.empty()) {
    j["components"] = nlohmann::ordered_json::array();
    for (const auto& c : r.components) j["components"].push_back(report_json(c, with_tensors));
  }
  if (with_tensors) {
    j["tensors"] = nlohmann::ordered_json::array();
    for (const auto& t : r.tensors)
      j["tensors"].push_back({{"name", t.name}, {"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"bytes", t.nbytes}});
  }
  return j;
}

}  // namespace

InspectReport make_report(const std::string& path, std::vector<TensorEntry> tensors,
                          std::map<std::string, std::string> metadata) {
  InspectReport r;
  r.path = path;
  r.format = "safetensors";
  std::sort(tensors.begin(), tensors.end(), [](const TensorEntry& a, const TensorEntry& b) { return a.name < b.name; });
  std::vector<NamedShape> shapes;
  shapes.reserve(tensors.size());
  std::map<std::string, TensorGroup> groups;
  r.tensor_count = tensors.size();
  for (const auto& t : tensors) {
    shapes.push_back({t.name, t.shape});
    r.parameters += t.numel;
    r.bytes += t.nbytes;
    r.dtypes[dtype_name(t.dtype)] += 1;
    TensorGroup& g = groups[group_of(t.name)];
    g.tensors += 1;
    g.parameters += t.numel;
    g.bytes += t.nbytes;
  }
  for (auto& kv : groups) {
    kv.second.prefix = kv.first;
    r.groups.push_back(kv.second);
  }
  r.model = classify(shapes);
  // kohya writes the base model into its metadata; use it when the shapes cannot tell.
  auto base = metadata.find("ss_base_model_version");
  if (r.model.kind == ModelKind::LoRA && r.model.family == Family::Unknown && base != metadata.end()) {
    const std::string& v = base->second;
    r.model.family = starts(v, "sdxl") ? Family::SDXL : starts(v, "sd_v2") ? Family::SD2
                     : starts(v, "sd_v1") ? Family::SD1 : Family::Unknown;
    if (r.model.family != Family::Unknown)
      r.model.notes.push_back("family from the ss_base_model_version metadata (" + v + ")");
  }
  r.tensors = std::move(tensors);
  r.metadata = std::move(metadata);
  return r;
}

namespace {

InspectReport inspect_any(const std::string& path) {
  if (path.empty()) fail(ErrorCode::InvalidArgument, "inspect", "empty path");
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (!fs::exists(status)) fail(ErrorCode::NotFound, path, "no such file or folder");
  if (fs::is_directory(status)) return inspect_folder(path);
  if (!fs::is_regular_file(status)) fail(ErrorCode::InvalidArgument, path, "not a regular file or folder");
  const std::string name = fs::path(path).filename().string();
  if (name == "model_index.json" || name == "config.json") {
    const fs::path parent = fs::path(path).parent_path();
    return inspect_folder(parent.empty() ? fs::path(".") : parent);
  }
  if (!ends(name, ".safetensors.index.json") && !ends(name, ".safetensors") && is_pickle_file(path))
    return open_pickle(path);
  return open_weights(path);
}

}  // namespace

InspectReport inspect_path(const std::string& path) {
  InspectReport r = inspect_any(path);
  r.load = judge_load(r.path, r.model);
  // xinsir's ProMax file holds the same tensors as the Union file (more training, the tile and
  // repaint types used): only its name tells them apart.
  const auto union_at = r.model.summary.find("ControlNet Union (");
  if (union_at != std::string::npos) {
    std::string lower = fs::path(r.path).filename().string();
    for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (lower.find("promax") != std::string::npos)
      r.model.summary.replace(union_at, 16, "ControlNet Union ProMax");
  }
  if (r.model.kind == ModelKind::Annotator && r.format == "torch-pickle") {
    // The annotators read .safetensors only (docs/preprocessors.md): the conversion, once.
    const std::string to = fs::path(r.path).replace_extension(".safetensors").string();
    const std::string cmd = "gen convert " + r.path + " " + to;
    r.model.notes.push_back("convert it once: " + cmd);
    if (r.load.ok) {
      r.load.ok = false;
      r.load.code = ErrorCode::Unsupported;
      r.load.reason = r.path + ": is a torch.save file, which the annotators do not read: convert it once with `" + cmd + "`";
    }
  }
  return r;
}

std::string inspect_json(const InspectReport& report, bool with_tensors, int indent) {
  const nlohmann::ordered_json body = report_json(report, with_tensors);
  nlohmann::ordered_json j;
  j["schema"] = "gen.inspect/1";
  for (auto it = body.begin(); it != body.end(); ++it) j[it.key()] = *it;
  return j.dump(indent < 0 ? -1 : indent, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace gen::io
