// gen — a UniControl group's task for the pipeline (docs/unicontrol.md): the request's
// --control-task checked against the loaded control model, the task vector from the base
// model's own text encoder (position 0 of the instruction, as the reference), and the
// HyperNet's modulation, computed once per request. Also a ControlNet Union group's control
// types (docs/controlnet.md), checked against the loaded file.
#pragma once

#include <memory>

#include "control/controlnet.hpp"
#include "gen/request.hpp"
#include "pipeline/conditioning.hpp"

namespace gen::pipeline {

// Null for a plain ControlNet without a task. InvalidArgument naming the file: a UniControl
// without a task, a task for a plain ControlNet, an unknown task or bad weights; ModelMismatch:
// a text encoder whose width is not the HyperNet's input.
std::shared_ptr<const control::TaskModulation> unicontrol_task(const control::ControlNet& net,
                                                               const ControlRequest& c, const TextEncoder& encoder,
                                                               const text::ClipTokenizer& tokenizer);

// A ControlNet Union group's control types, the group's own first, then its conditions'
// (empty for another ControlNet). InvalidArgument naming the file: a Union without
// --control-type (the types it knows listed), an unknown type, more conditions than the file
// has types, --control-type or further images given to a ControlNet that is not a Union.
std::vector<std::int64_t> union_types_of(const control::ControlNet& net, const ControlRequest& c);

}  // namespace gen::pipeline
