// gen — what gen writes beside an image: the A1111 "parameters" text (infotext) and the
// "gen" request JSON. The engine fills GeneratedImage::metadata with both; programs that
// write their own files can call these directly. The infotext keys come from the request
// tables (gen/request.hpp).
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "gen/export.hpp"
#include "gen/request.hpp"

namespace gen {

// The A1111 "parameters" text of image `index_in_batch` of `request`, which used `seed`:
// the prompt, "Negative prompt: …", then "Steps: …, Sampler: …, CFG scale: …, Seed: …".
GEN_API std::string a1111_parameters(const Request& request, std::uint64_t seed, int index_in_batch);

// The A1111 sampler label ("euler_a", karras → "Euler a Karras").
GEN_API std::string a1111_sampler_name(Sampler sampler, Schedule schedule);

// A1111's name of a hires-fix upscaler (latent_bicubic → "Latent (bicubic)").
GEN_API std::string hires_upscaler_a1111_name(HiresUpscaler upscaler);

// The PNG text chunks of one image: "parameters" (above) and "gen" (the request with that
// image's seed, batch 1 × 1: re-running it alone gives that image).
GEN_API std::map<std::string, std::string> image_metadata(const Request& request, std::uint64_t seed,
                                                          int index_in_batch);

}  // namespace gen
