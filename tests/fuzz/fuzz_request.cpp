// libFuzzer target: JSON from outside — a request (a PNG's stored request, a job line, a
// request file) through core::parse_json (depth- and size-bounded) and Request::from_json
// (the field table). Any gen::Error is a correct rejection; a crash, a sanitizer report, an
// exception of another type or a broken invariant is a finding. Invariant: an accepted
// request's to_json() is read back to the same request.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/json.hpp"
#include "gen/error.hpp"
#include "gen/request.hpp"

// The preprocessor check lives in src/control (image code, libtorch); the fuzzer links only
// the torch-free request code, so the check is a stand-in accepting what the CLI knows.
namespace gen::control {
void check_preprocess(const std::string& preprocess) {
  if (!preprocess.empty() && preprocess != "none" && preprocess.rfind("canny", 0) != 0)
    throw gen::Error(gen::ErrorCode::InvalidArgument, "preprocess: unknown preprocessor");
}
}  // namespace gen::control

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const nlohmann::json j = gen::core::parse_json(text, "fuzz.json");
    if (gen::core::json_excerpt(j).size() > 64 + 3) __builtin_trap();  // 60 characters and "…"
  } catch (const gen::Error&) {
  }
  try {
    const gen::Request r = gen::Request::from_json(text, "fuzz.json");
    const std::string once = r.to_json();
    if (gen::Request::from_json(once, "round trip").to_json() != once) __builtin_trap();
  } catch (const gen::Error&) {
  }
  return 0;
}
