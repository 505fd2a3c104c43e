// gen — the request's JSON form inside the library (the struct is public: gen/request.hpp).
#pragma once

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <string>

#include "gen/request.hpp"

namespace gen::request {

nlohmann::json to_json(const Request& r);
// Strict: unknown keys, wrong types and bad values are refused, naming `subject`.
Request from_json(const nlohmann::json& j, const std::string& subject);
// The "gen" metadata of one image of `r`: the request with that image's seed, batch 1 × 1
// (re-running it alone gives that image).
std::string image_request_json(const Request& r, std::uint64_t seed);
// gen::a1111_parameters with A1111's `Lora hashes` and `TI hashes` values as the engine found
// them ("name: hash, ..."; "" leaves one out).
std::string a1111_parameters(const Request& r, std::uint64_t seed, int index_in_batch, const std::string& lora_hashes,
                             const std::string& ti_hashes);

// SDXL's micro-conditioning of one CFG half, as diffusers' _get_add_time_ids orders it:
// original (height, width), crop (top, left), target (height, width). The negative half
// takes the negative_* fields, each defaulting to its positive one. Throws InvalidArgument
// naming the field for a malformed value or one out of range (sizes 1-16384, crop 0-16384).
std::array<double, 6> sdxl_time_ids(const Request& r, bool negative);

}  // namespace gen::request
