// gen — library version.
#pragma once

namespace gen {

// "MAJOR.MINOR.PATCH" of the library actually loaded.
const char* version_string() noexcept;
int version_major() noexcept;
int version_minor() noexcept;
int version_patch() noexcept;

}  // namespace gen
