// gen — naming output files, a helper for programs that write what the engine returns
// (gen's CLI and `gen batch` use it). The engine itself never writes files and a request
// never says where to write: the caller chooses.
#pragma once

#include <cstdint>
#include <string>

#include "gen/export.hpp"

namespace gen {

// The output path for image `index` (0-based over the whole request) with its seed:
// {index}, {seed}, {batch} (batch number), {n} (index within the batch) and {job} are replaced.
GEN_API std::string output_path(const std::string& pattern, int index, std::uint64_t seed, int batch, int n,
                                const std::string& job = "");

}  // namespace gen
