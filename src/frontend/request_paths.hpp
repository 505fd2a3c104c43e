// gen — the file paths inside a request (front end: uses only the public API), where they are
// relative to (issue 13 item 5; the rules and the work: gen/metadata.hpp).
//
// A request read from a file (a job line, a PNG's "gen" metadata for `gen --from`) has its
// relative paths resolved against that file's folder, not the current one; a request written
// into a PNG has its paths rewritten relative to the PNG's folder (--metadata portable), so the
// image and the files it names can move together.
#pragma once

#include <map>
#include <string>

#include "gen/request.hpp"

namespace gen::frontend {

// Relative paths of `r` made relative to `dir` (a request read from a file in `dir`).
void resolve_paths(Request& r, const std::string& dir);

// An image's text chunks as --metadata portable writes them for the image at `image_path`.
std::map<std::string, std::string> portable_metadata(std::map<std::string, std::string> metadata,
                                                     const std::string& image_path);

}  // namespace gen::frontend
