// gen — the request's JSON form inside the library (the struct is public: gen/request.hpp).
#pragma once

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "gen/request.hpp"

namespace gen::request {

nlohmann::json to_json(const Request& r);
// Strict: unknown keys, wrong types and bad values are refused, naming `subject`.
Request from_json(const nlohmann::json& j, const std::string& subject);
// The "gen" metadata of one image of `r`: the request with that image's seed, batch 1 × 1
// (re-running it alone gives that image).
std::string image_request_json(const Request& r, std::uint64_t seed);
// What the A1111 infotext says beside the request's own fields ("" leaves one out).
struct InfotextExtras {
  std::string lora_hashes;                  // A1111's `Lora hashes` ("name: hash, ...")
  std::string ti_hashes;                    // A1111's `TI hashes`
  std::string model_hash;                   // `Model hash`: A1111's short hash of the model file
  std::string vae_hash;                     // `VAE hash`
  std::vector<std::string> control_hashes;  // per control group: the extension's "[hash]" of its model
};
// A1111's short hash of a file (its SHA-256's first 10 hex digits); "" for a folder or a file
// that cannot be read. Once per file per process.
std::string a1111_short_hash(const std::string& path);
// The ControlNet extension's hash of a model file (A1111's old model hash: 8 hex digits of the
// SHA-256 of the 64 KiB at byte 0x100000); "" for a folder.
std::string a1111_old_model_hash(const std::string& path);
// model_hash, vae_hash and control_hashes of `r`'s files (file_hashes.cpp).
InfotextExtras file_hashes(const Request& r);
// gen::a1111_parameters with those values as the engine found them.
std::string a1111_parameters(const Request& r, std::uint64_t seed, int index_in_batch, const InfotextExtras& extras);

// SDXL's micro-conditioning of one CFG half, as diffusers' _get_add_time_ids orders it:
// original (height, width), crop (top, left), target (height, width). The negative half
// takes the negative_* fields, each defaulting to its positive one. Throws InvalidArgument
// naming the field for a malformed value or one out of range (sizes 1-16384, crop 0-16384).
std::array<double, 6> sdxl_time_ids(const Request& r, bool negative);

}  // namespace gen::request
