// gen — the file paths inside a request (front end: uses only the public Request API), where they are relative to (issue 13 item 5).
//
// A request read from a file (a job line, a PNG's "gen" metadata for `gen --from`) has its
// relative paths resolved against that file's folder, not the current one; a request written
// into a PNG has its relative paths rewritten relative to the PNG's folder, so the image and
// the files it names can move together. Absolute paths are left as they are.
//
// Path fields: model, model_config, vae, vocab, lora_dir, annotator_dir, embeddings_dir, refiner,
// init_image, mask, every control's model and image. Name-or-path fields (a bare name is looked
// up in a folder: loras[].file, hires_upscaler_model, embeddings[]): only values that hold a '/'
// or name an existing file are treated as paths.
#pragma once

#include <map>
#include <string>

#include "gen/request.hpp"

namespace gen::frontend {

// Relative paths of `r` made relative to `dir` (a request read from a file in `dir`).
void resolve_paths(Request& r, const std::string& dir);

// Relative paths of `r` (relative to the current folder) rewritten relative to `dir`.
void relative_paths(Request& r, const std::string& dir);

// The "gen" metadata text `json` with its paths rewritten for an image written in `dir`.
std::string portable_request_json(const std::string& json, const std::string& dir);
// An image's text chunks with the "gen" one rewritten for the image at `image_path`.
std::map<std::string, std::string> portable_metadata(std::map<std::string, std::string> metadata,
                                                     const std::string& image_path);

}  // namespace gen::frontend
