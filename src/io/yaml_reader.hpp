// gen — a reader for the block YAML that LDM model configs are written in (v1-inference.yaml,
// v2-inference-v.yaml and the .yaml users keep beside a checkpoint), giving a JSON value.
//
// What it reads, resolved as PyYAML's safe_load does (YAML 1.1 rules):
//   block mappings and sequences by indentation (spaces), "- key: value" items, a
//   sequence at its key's own indentation, flow collections [a, b] and {k: v} on one line,
//   plain, 'single' and "double" quoted scalars, comments, a leading "---" and "%" directives;
//   plain scalars: null (~, null, empty), bool (true/false/yes/no/on/off in three cases),
//   int (decimal, 0x hex, 0o/0 octal, 0b binary, "_" separators), float (PyYAML's regex: a
//   dot is required, an exponent needs a sign; .inf, .nan), anything else a string.
// What it refuses (InvalidFormat "<file>:<line>: ..."): tabs in indentation, anchors,
// aliases, tags, block scalars (| >), multi-line flow collections or plain scalars, a key
// given twice, inconsistent indentation, nesting deeper than core::kMaxJsonDepth, a file over
// 1 MiB. None of these occur in LDM configs.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>

namespace gen::io {

inline constexpr std::size_t kMaxYamlFile = std::size_t{1} << 20;

// `text` parsed; errors name `subject` (the file) and the line.
nlohmann::json parse_yaml(const std::string& text, const std::string& subject);

// The file (at most kMaxYamlFile bytes) parsed; NotFound / InvalidFormat naming it.
nlohmann::json read_yaml_file(const std::string& path);

}  // namespace gen::io
