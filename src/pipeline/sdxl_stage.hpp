// gen — what an SDXL request adds to the stages (docs/sdxl.md): the checks of what the
// base model can do, and the UNet's added condition of each CFG half (pooled text + the
// micro-conditioning time ids, as diffusers' StableDiffusionXLPipeline builds them).
#pragma once

#include "gen/request.hpp"
#include "pipeline/conditioning.hpp"
#include "pipeline/generate.hpp"
#include "pipeline/model_cache.hpp"

namespace gen::pipeline {

// Throws for what gen's SDXL pipeline does not do with `base`: a refiner (only the second
// text encoder) as a text-to-image model (InvalidArgument: it refines an init image), and the
// refiner's aesthetic-score image-to-image and LoRAs / LyCORIS on SDXL (`adapters`: how many
// the request applies; Unsupported, not yet).
void check_sdxl_request(const Request& request, const BaseModel& base, std::size_t adapters);

// diffusers' force_zeros_for_empty_prompt: with the plain prompt syntax (diffusers') and an
// empty negative prompt on a model that says so, the negative context and pooled text are
// zeros. A1111's syntax encodes the empty prompt, as A1111 does.
void sdxl_zero_negative(const Request& request, const BaseModel& base, const std::string& negative_prompt,
                        at::Tensor& negative, PooledPair& pooled);

// d.added_negative / d.added_positive for `request` (its width and height: the default
// original and target sizes) from the pooled text.
void set_sdxl_added(DenoiseRequest& d, const Request& request, const BaseModel& base, const PooledPair& pooled);

}  // namespace gen::pipeline
