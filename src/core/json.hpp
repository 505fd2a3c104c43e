// gen — parsing JSON that comes from outside (requests in PNG chunks and job lines, model
// configs, tokenizer files, results files): size and nesting depth are bounded by a scan of
// the text before any document is built, so no input can make a parse, a copy, a dump or a
// destructor recurse without bound; errors are gen::Error naming the input, and messages
// quote at most a short excerpt of a hostile value, never the value in full.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>

#include "gen/error.hpp"

namespace gen::core {

// Deeper than any request or model config (those nest 4 levels or so).
inline constexpr int kMaxJsonDepth = 64;
// The most a model or scheduler config file may hold: real ones are a few KiB
// (model_index.json, config.json, scheduler_config.json).
inline constexpr std::size_t kMaxConfigFile = std::size_t{4} << 20;

// `text` parsed, or `code` (InvalidFormat unless given) with "<subject>: not valid JSON: ..."
// or "nested deeper than 64 levels".
nlohmann::json parse_json(const std::string& text, const std::string& subject,
                          ErrorCode code = ErrorCode::InvalidFormat);

// `text` with the bare constants Python's json module writes for non-finite floats
// (NaN, Infinity, -Infinity: diffusers saves DPMSolverMultistepScheduler's lambda_min_clipped
// as -Infinity) turned into the strings "NaN", "Infinity", "-Infinity"; strings untouched.
std::string python_constants_as_strings(const std::string& text);

// A JSON file of at most `max_bytes` (core::read_input) parsed with parse_json, Python's
// constants read as strings (python_constants_as_strings: the files are diffusers' and
// transformers' configs); `what` names the kind of file in the size message ("model config",
// "scheduler config", ...).
nlohmann::json read_json_file(const std::string& path, std::size_t max_bytes, const std::string& what);

// A JSON value shown in a message: its compact text, cut to `max_chars` with "…" when longer
// (and never recursing deeper than kMaxJsonDepth).
std::string json_excerpt(const nlohmann::json& value, std::size_t max_chars = 60);

}  // namespace gen::core
