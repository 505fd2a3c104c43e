// gen — the few file-system questions the library asks (POSIX stat; no std::filesystem:
// libtorch exports its own broken copies of it, tests/unit/test_std_filesystem.cpp).
#pragma once

#include <string>

namespace gen::core {

bool is_dir(const std::string& path);
bool is_file(const std::string& path);  // a regular file (links followed)
// The folder part of `path`: "a/b" → "a", "b" → ".", "/b" → "/".
std::string dirname(const std::string& path);
// a + "/" + b, without doubling a trailing slash of a.
std::string join(const std::string& a, const std::string& b);

}  // namespace gen::core
