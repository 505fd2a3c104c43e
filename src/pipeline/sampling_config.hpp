// gen — the scheduler config a model samples with: its folder's scheduler_config.json read as
// diffusers' `<sampler's class>.from_config` reads it (null: a single file, Stable Diffusion's
// defaults), with the corrections diffusers' Stable Diffusion pipelines make on load
// (steps_offset 1, clip_sample off: SD never used either) and the model's prediction type.
// Generation (pipeline/engine.cpp) and training's validation images (training/validation.hpp).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "schedulers/scheduler.hpp"

namespace gen::pipeline {

// `prediction`: "v_prediction" or anything else for epsilon; `subject` names the file in errors.
SchedulerConfig sampling_config(const nlohmann::json& folder_config, const std::string& sampler,
                                const std::string& prediction, const std::string& subject);

}  // namespace gen::pipeline
