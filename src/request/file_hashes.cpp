// The hashes A1111 writes beside file names (request.hpp, InfotextExtras): its checkpoint and
// VAE short hash (modules/hashes.py: the SHA-256 of the whole file, its first 10 hex digits,
// as sd_models.CheckpointInfo.calculate_shorthash and sd_vae.get_loaded_vae_hash take it) and
// the ControlNet extension's model hash (scripts/global_state.py: sd_models.model_hash, A1111's
// old hash: the SHA-256 of the 64 KiB at byte 0x100000, 8 hex digits; a smaller file hashes the
// bytes there are, none: the empty input). Each is computed once per file per process.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "core/file_cache.hpp"
#include "core/sha256.hpp"
#include "gen/error.hpp"
#include "request/request.hpp"

namespace gen::request {
namespace {

bool is_file(const std::string& path) {
  std::error_code ec;
  return !path.empty() && std::filesystem::is_regular_file(path, ec);
}

}  // namespace

std::string a1111_short_hash(const std::string& path) {
  if (!is_file(path)) return "";
  try {
    return core::memo_by_file("a1111 sha256", path, [](const std::string& p) { return sha256_file(p).substr(0, 10); });
  } catch (const gen::Error&) {
    return "";
  }
}

std::string a1111_old_model_hash(const std::string& path) {
  if (!is_file(path)) return "";
  return core::memo_by_file("a1111 old model hash", path, [](const std::string& p) -> std::string {
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(p.c_str(), "rb"), &std::fclose);
    if (!f) return "";
    Sha256 sha;
    std::string buf(0x10000, '\0');
    if (std::fseek(f.get(), 0x100000, SEEK_SET) == 0) {
      const std::size_t n = std::fread(buf.data(), 1, buf.size(), f.get());
      sha.update(buf.data(), n);
    }
    return sha.hex().substr(0, 8);
  });
}

InfotextExtras file_hashes(const Request& r) {
  InfotextExtras x;
  x.model_hash = a1111_short_hash(r.model);
  x.vae_hash = a1111_short_hash(r.vae);
  for (const auto& c : r.controls) x.control_hashes.push_back(a1111_old_model_hash(c.model));
  return x;
}

}  // namespace gen::request
