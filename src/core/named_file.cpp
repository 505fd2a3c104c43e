#include "core/named_file.hpp"

#include <algorithm>
#include <filesystem>

#include "core/fail.hpp"

namespace gen::core {

std::string find_named_file(const std::string& name, const std::string& dir, const std::vector<std::string>& exts,
                            const std::string& what, const std::string& how, const std::string& subject) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_regular_file(name, ec)) return name;
  if (dir.empty())
    fail(ErrorCode::NotFound, subject,
         what + " '" + name + "' is not a file, and no " + what + " folder is given to look for it in (" + how + ")");
  if (!fs::is_directory(dir, ec)) fail(ErrorCode::NotFound, subject, what + " folder '" + dir + "' does not exist");
  if (fs::is_regular_file(fs::path(dir) / name, ec)) return (fs::path(dir) / name).string();
  for (const auto& ext : exts) {
    const fs::path p = fs::path(dir) / (name + ext);
    if (fs::is_regular_file(p, ec)) return p.string();
  }
  std::vector<fs::path> found;
  for (fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    const auto& p = it->path();
    if (p.stem().string() == name && std::find(exts.begin(), exts.end(), p.extension().string()) != exts.end())
      found.push_back(p);
  }
  if (!found.empty()) return std::min_element(found.begin(), found.end())->string();
  std::string looked = name;
  for (std::size_t k = 0; k < exts.size(); ++k) looked += ", " + (k == 0 ? name + exts[k] : exts[k]);
  fail(ErrorCode::NotFound, subject,
       "no " + what + " named '" + name + "' in " + dir + " (looked for " + looked + " there and in its subfolders)");
}

}  // namespace gen::core
