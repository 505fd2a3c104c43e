#include "gen/version.hpp"

#ifndef GEN_VERSION
#error "GEN_VERSION must be defined by the build"
#endif

namespace gen {

const char* version_string() noexcept { return GEN_VERSION; }
int version_major() noexcept { return GEN_VERSION_MAJOR; }
int version_minor() noexcept { return GEN_VERSION_MINOR; }
int version_patch() noexcept { return GEN_VERSION_PATCH; }

}  // namespace gen
