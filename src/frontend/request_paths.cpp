// Paths inside a request (rules in request_paths.hpp; the library's gen/metadata.hpp does the work).
#include "frontend/request_paths.hpp"

#include <filesystem>

#include "gen/metadata.hpp"

namespace gen::frontend {

void resolve_paths(Request& r, const std::string& dir) { resolve_request_paths(r, dir); }

std::map<std::string, std::string> portable_metadata(std::map<std::string, std::string> metadata,
                                                     const std::string& image_path) {
  return file_metadata(std::move(metadata), image_path, MetadataMode::Portable);
}

}  // namespace gen::frontend
