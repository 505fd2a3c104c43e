// gen — what an SDXL request adds to the stages (docs/sdxl.md): the checks of what the
// base model can do, and the UNet's added condition of each CFG half (pooled text + the
// micro-conditioning time ids, as diffusers' StableDiffusionXLPipeline builds them).
#pragma once

#include <vector>

#include "gen/request.hpp"
#include "pipeline/conditioning.hpp"
#include "pipeline/generate.hpp"
#include "pipeline/model_cache.hpp"

namespace gen::pipeline {

// Throws for what gen's SDXL pipeline does not do with `base`: a refiner (only the second
// text encoder) as a text-to-image model (InvalidArgument: it refines an init image).
void check_sdxl_request(const Request& request, const BaseModel& base);

// The base → refiner hand-off (pipeline/refiner.hpp). refiner_request: the request the
// refiner runs (its model; the base's VAE, vocabulary and sampler; no LDM config), after
// refusing what the hand-off does not do with `base` (not SDXL: InvalidArgument; a
// mask, hires fix, T2I-Adapters: Unsupported, not yet). check_refiner: the
// loaded refiner must be SDXL with the base's latent space (ModelMismatch naming it).
Request refiner_request(const Request& request, const BaseModel& base);
void check_refiner(const Request& request, const BaseModel& base, const BaseModel& refiner);

// diffusers' force_zeros_for_empty_prompt: with the plain prompt syntax (diffusers') and an
// empty negative prompt on a model that says so, the negative context and pooled text are
// zeros. A1111's syntax encodes the empty prompt, as A1111 does.
void sdxl_zero_negative(const Request& request, const BaseModel& base, const std::string& negative_prompt,
                        at::Tensor& negative, PooledPair& pooled);

// The time ids of one CFG half: a base's original size, crop and target size (6), a refiner's
// original size, crop and aesthetic score (5; StableDiffusionXLImg2ImgPipeline with
// requires_aesthetics_score), each size as (height, width).
std::vector<double> sdxl_time_ids(const Request& request, const BaseModel& base, bool negative);

// d.added_negative / d.added_positive for `request` (its width and height: the default
// original and target sizes) from the pooled text.
void set_sdxl_added(DenoiseRequest& d, const Request& request, const BaseModel& base, const PooledPair& pooled);

}  // namespace gen::pipeline
