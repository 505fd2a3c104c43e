// gen — symbol visibility. libgen-engine is built with -fvisibility=hidden: only what is
// marked GEN_API here is exported (the public API in include/gen/); everything in src/
// stays inside the library.
#pragma once

#if defined(_WIN32)
#define GEN_API
#else
#define GEN_API __attribute__((visibility("default")))
#endif
