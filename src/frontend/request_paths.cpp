// Paths inside a request (rules in paths.hpp).
#include "frontend/request_paths.hpp"

#include <filesystem>
#include <functional>
#include <system_error>


namespace gen::frontend {
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

}  // namespace

void resolve_paths(Request& r, const std::string& dir) {
  if (dir.empty() || dir == ".") return;
  for_each_path(r, [&](std::string& v, bool maybe_name) {
    if (!is_relative(v)) return;
    const fs::path joined = fs::path(dir) / v;
    if (maybe_name && v.find('/') == std::string::npos && !path_exists(joined)) return;  // a name
    v = joined.lexically_normal().string();
  });
}

void relative_paths(Request& r, const std::string& dir) {
  std::error_code ec;
  const fs::path base = fs::absolute(dir.empty() ? fs::path(".") : fs::path(dir), ec).lexically_normal();
  if (ec) return;
  for_each_path(r, [&](std::string& v, bool maybe_name) {
    if (!is_relative(v)) return;
    if (maybe_name && v.find('/') == std::string::npos && !path_exists(v)) return;  // a name
    std::error_code e2;
    const fs::path abs = fs::absolute(v, e2).lexically_normal();
    if (e2) return;
    const fs::path rel = abs.lexically_relative(base);
    if (!rel.empty()) v = rel.string();
  });
}

std::string portable_request_json(const std::string& json, const std::string& dir) {
  Request r = Request::from_json(json, "gen metadata");
  relative_paths(r, dir);
  return r.to_json();
}

std::map<std::string, std::string> portable_metadata(std::map<std::string, std::string> metadata,
                                                     const std::string& image_path) {
  auto it = metadata.find("gen");
  if (it != metadata.end()) it->second = portable_request_json(it->second, fs::path(image_path).parent_path().string());
  return metadata;
}

}  // namespace gen::frontend
