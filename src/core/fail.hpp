// gen — the internal helper that throws gen::Error (not part of the public API: applications
// catch gen::Error, only the library throws it).
#pragma once

#include <string>

#include "gen/error.hpp"

namespace gen {

// Throws Error(code, "<subject>: <problem>"), or just the problem when there is no subject.
[[noreturn]] void fail(ErrorCode code, const std::string& subject, const std::string& problem);

}  // namespace gen
