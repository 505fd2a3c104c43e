#include "core/json.hpp"

#include "core/fail.hpp"
#include "core/files.hpp"

namespace gen::core {
namespace {

// The deepest nesting of arrays and objects in `text` (strings skipped), stopping early
// once past `limit`.
int nesting(const std::string& text, int limit) {
  int depth = 0, deepest = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > deepest && (deepest = depth) > limit) return deepest;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

}  // namespace

std::string python_constants_as_strings(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) out += text[++i];
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    bool replaced = false;
    for (const char* word : {"-Infinity", "Infinity", "NaN"}) {
      const std::string w(word);
      if (text.compare(i, w.size(), w) == 0) {
        out += '"' + w + '"';
        i += w.size() - 1;
        replaced = true;
        break;
      }
    }
    if (!replaced) out += c;
  }
  return out;
}

nlohmann::json parse_json(const std::string& text, const std::string& subject, ErrorCode code) {
  if (nesting(text, kMaxJsonDepth) > kMaxJsonDepth)
    fail(code, subject, "not valid JSON for gen: nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    std::string why = e.what();  // "[json.exception.parse_error.101] parse error at …"
    if (const auto b = why.find("] "); why.rfind("[json.exception", 0) == 0 && b != std::string::npos)
      why.erase(0, b + 2);
    if (why.size() > 200) why = why.substr(0, 200) + "…";
    fail(code, subject, "not valid JSON: " + why);
  }
}

nlohmann::json read_json_file(const std::string& path, std::size_t max_bytes, const std::string& what) {
  return parse_json(python_constants_as_strings(read_input(path, max_bytes, what)), path);
}

std::string json_excerpt(const nlohmann::json& value, std::size_t max_chars) {
  std::string text;
  if (value.is_structured()) text = value.is_array() ? "[…]" : "{…}";  // never re-serialised in full
  else text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (text.size() > max_chars) {
    while (max_chars > 0 && (static_cast<unsigned char>(text[max_chars]) & 0xC0) == 0x80) --max_chars;
    text = text.substr(0, max_chars) + "…";  // cut between UTF-8 characters
  }
  return text;
}

}  // namespace gen::core
