// gen CLI: the memory guard's options (docs/performance.md#memory-guard), shared by plain
// `gen` and `gen batch`: --no-memory-guard and --memory-limit SIZE.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>

#include "gen/engine.hpp"

namespace gen::cli {

// "8G", "512M", "1.5GiB", "2000000000" (bytes) → bytes; InvalidArgument naming the option otherwise.
std::int64_t parse_memory_size(const std::string& text, const std::string& option);

// Sets EngineOptions::memory_guard and memory_limit of `options`.
void add_memory_options(CLI::App& app, EngineOptions& options);

}  // namespace gen::cli
