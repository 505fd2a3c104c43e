// gen — A1111's text read by A1111's own rules (gen/metadata.hpp: parse_a1111_parameters), and
// one ControlNet unit read by the ControlNet extension's rules (internal_controlnet/args.py:
// ControlNetUnit.parse with parse_value and displaytext_to_field).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace gen::request {

// The extension's parse_value: "True"/"False" a flag, then Python's int(), then float(), else text.
struct PyValue {
  enum class Kind { Bool, Int, Float, Text };
  Kind kind = Kind::Text;
  bool flag = false;
  long long integer = 0;
  double number = 0;
  std::string text;  // the value as written
  double as_number() const { return kind == Kind::Int ? static_cast<double>(integer) : kind == Kind::Bool ? flag : number; }
};
PyValue parse_py_value(const std::string& text);

// The unit's fields ("module", "model", "weight", ...) in order, or nullopt where the extension's
// parse fails (an item that does not split into exactly a key and a value at ": ").
std::optional<std::vector<std::pair<std::string, PyValue>>> parse_controlnet_unit(const std::string& text);

// Python's str.strip() of the ASCII and C1 whitespace Python knows.
std::string py_strip(const std::string& s);

}  // namespace gen::request
