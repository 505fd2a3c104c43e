// gen — library version.
#pragma once

#include "gen/export.hpp"

namespace gen {

// "MAJOR.MINOR.PATCH" of the library actually loaded.
GEN_API const char* version_string() noexcept;
GEN_API int version_major() noexcept;
GEN_API int version_minor() noexcept;
GEN_API int version_patch() noexcept;

}  // namespace gen
