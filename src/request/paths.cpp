// The file paths inside a request and what an image file says about its making
// (gen/metadata.hpp: resolve/relative/absolute_request_paths, file_metadata).
#include <filesystem>
#include <functional>
#include <system_error>

#include "core/fail.hpp"
#include "gen/metadata.hpp"

namespace gen {
namespace {

namespace fs = std::filesystem;

// Every path-valued string of `r`; `maybe_name`: a bare value may be a name, not a path.
void for_each_path(Request& r, const std::function<void(std::string&, bool maybe_name)>& f) {
  for (std::string* p : {&r.model, &r.model_config, &r.vae, &r.vocab, &r.lora_dir, &r.annotator_dir,
                         &r.embeddings_dir, &r.init_image, &r.mask, &r.refiner})
    f(*p, false);
  for (auto& c : r.controls) {
    f(c.model, false);
    f(c.image, false);
    for (auto& k : c.conditions) f(k.image, false);  // a ControlNet Union's further images
  }
  for (auto& a : r.adapters) {
    f(a.model, false);
    f(a.image, false);
  }
  for (auto& l : r.loras) f(l.file, true);
  f(r.hires_upscaler_model, true);
  for (auto& e : r.embeddings) f(e, true);
}

bool is_relative(const std::string& p) { return !p.empty() && p[0] != '/'; }

bool path_exists(const fs::path& p) {
  std::error_code ec;
  return fs::exists(p, ec);
}

// A bare value of a name-or-path field that names no file here: a name, left as it is.
bool is_name(const std::string& v, bool maybe_name) {
  return maybe_name && v.find('/') == std::string::npos && !path_exists(v);
}

// Every path of `r` (relative ones relative to the current folder) through `f(absolute)`.
void map_paths(Request& r, bool absolute_too, const std::function<std::string(const fs::path&)>& f) {
  for_each_path(r, [&](std::string& v, bool maybe_name) {
    if (v.empty() || is_name(v, maybe_name) || (!absolute_too && !is_relative(v))) return;
    std::error_code ec;
    const fs::path abs = fs::absolute(v, ec).lexically_normal();
    if (ec) return;
    const std::string out = f(abs);
    if (!out.empty()) v = out;
  });
}

}  // namespace

void resolve_request_paths(Request& r, const std::string& dir) {
  if (dir.empty() || dir == ".") return;
  for_each_path(r, [&](std::string& v, bool maybe_name) {
    if (!is_relative(v)) return;
    const fs::path joined = fs::path(dir) / v;
    if (maybe_name && v.find('/') == std::string::npos && !path_exists(joined)) return;  // a name
    v = joined.lexically_normal().string();
  });
}

void relative_request_paths(Request& r, const std::string& dir) {
  std::error_code ec;
  const fs::path base = fs::absolute(dir.empty() ? fs::path(".") : fs::path(dir), ec).lexically_normal();
  if (ec) return;
  map_paths(r, false, [&](const fs::path& abs) { return abs.lexically_relative(base).string(); });
}

void absolute_request_paths(Request& r) {
  map_paths(r, false, [](const fs::path& abs) { return abs.string(); });
}

const char* metadata_mode_name(MetadataMode mode) {
  switch (mode) {
    case MetadataMode::Portable: return "portable";
    case MetadataMode::Full: return "full";
    case MetadataMode::None: return "none";
  }
  return "?";
}

MetadataMode metadata_mode_from_name(const std::string& name, const std::string& subject) {
  for (MetadataMode m : {MetadataMode::Portable, MetadataMode::Full, MetadataMode::None})
    if (name == metadata_mode_name(m)) return m;
  fail(ErrorCode::InvalidArgument, subject, "must be portable, full or none, got '" + name + "'");
}

std::map<std::string, std::string> file_metadata(std::map<std::string, std::string> metadata,
                                                 const std::string& image_path, MetadataMode mode) {
  if (mode == MetadataMode::None) return {};
  const auto it = metadata.find("gen");
  if (it == metadata.end()) return metadata;
  Request r = Request::from_json(it->second, "gen metadata");
  if (mode == MetadataMode::Full) {
    absolute_request_paths(r);
  } else {
    // Every path, absolute ones too, relative to the image's folder: the image and the files it
    // names can move together, and no absolute local path is written.
    std::error_code ec;
    const auto dir = fs::path(image_path).parent_path();
    const fs::path base = fs::absolute(dir.empty() ? fs::path(".") : dir, ec).lexically_normal();
    if (!ec) map_paths(r, true, [&](const fs::path& abs) { return abs.lexically_relative(base).string(); });
  }
  it->second = r.to_json();
  return metadata;
}

}  // namespace gen
