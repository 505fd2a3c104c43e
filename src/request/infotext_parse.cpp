// A1111's parse_generation_parameters and the ControlNet extension's unit parse, rule for rule
// (infotext_parse.hpp). The key-value regex is A1111's re_param, run with PCRE2 in Unicode mode
// as Python runs str patterns; tests/unit/test_infotext_parse.cpp compares with A1111's own
// functions run on a corpus (tools/a1111_infotext_reference.py).
#include "request/infotext_parse.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>

#include "gen/metadata.hpp"

namespace gen::request {
namespace {

// A1111's re_param_code and re_imagesize, verbatim.
constexpr const char* kReParam = R"(\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$))";
constexpr const char* kReImageSize = R"(^(\d+)x(\d+)$)";

class Regex {
 public:
  explicit Regex(const char* pattern) {
    int err = 0;
    PCRE2_SIZE offset = 0;
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern), PCRE2_ZERO_TERMINATED,
                          PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &offset, nullptr);
  }
  ~Regex() { pcre2_code_free(code_); }
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  // Python's findall (groups of each match, left to right, not overlapping).
  std::vector<std::vector<std::string>> findall(const std::string& s) const {
    std::vector<std::vector<std::string>> out;
    if (!code_) return out;
    std::unique_ptr<pcre2_match_data, void (*)(pcre2_match_data*)> md(
        pcre2_match_data_create_from_pattern(code_, nullptr), &pcre2_match_data_free);
    PCRE2_SIZE pos = 0;
    while (pos <= s.size()) {
      const int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), pos, 0, md.get(), nullptr);
      if (rc < 0) break;
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
      std::vector<std::string> groups;
      std::uint32_t groups_n = 0;
      pcre2_pattern_info(code_, PCRE2_INFO_CAPTURECOUNT, &groups_n);
      for (int g = 1; g <= static_cast<int>(groups_n); ++g) {
        if (g >= rc || ov[2 * g] == PCRE2_UNSET) groups.emplace_back();
        else groups.push_back(s.substr(ov[2 * g], ov[2 * g + 1] - ov[2 * g]));
      }
      out.push_back(std::move(groups));
      pos = ov[1] > ov[0] ? ov[1] : ov[1] + 1;
    }
    return out;
  }
  // Python's match (anchored at 0) with its groups, or nullopt.
  std::optional<std::vector<std::string>> match(const std::string& s) const {
    auto all = findall(s);
    if (all.empty()) return std::nullopt;
    return all.front();  // kReImageSize is anchored: its only match starts at 0
  }

 private:
  pcre2_code* code_ = nullptr;
};

const Regex& re_param() {
  static const Regex r(kReParam);
  return r;
}

bool py_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f); }

// Python's json.loads of a quoted value, or the value as is when it is no JSON string.
std::string unquote(const std::string& v) {
  if (v.empty() || v.front() != '"' || v.back() != '"') return v;
  try {
    const auto j = nlohmann::json::parse(v);
    if (j.is_string()) return j.get<std::string>();
  } catch (const std::exception&) {
  }
  return v;
}

void put(InfotextFields& res, const std::string& key, const std::string& value) {  // a Python dict's res[key] = value
  for (auto& kv : res)
    if (kv.first == key) {
      kv.second = value;
      return;
    }
  res.emplace_back(key, value);
}

const std::string* get(const InfotextFields& res, const std::string& key) {
  for (const auto& kv : res)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::string py_strip(const std::string& s) {
  std::size_t b = 0, e = s.size();
  while (b < e && py_space(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && py_space(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

PyValue parse_py_value(const std::string& text) {
  PyValue v;
  v.text = text;
  if (text == "True" || text == "False") {
    v.kind = PyValue::Kind::Bool;
    v.flag = text == "True";
    return v;
  }
  // int(): optional sign, decimal digits (single '_' between digits), surrounding whitespace.
  std::string t = py_strip(text), digits;
  std::size_t i = 0;
  const bool negative = !t.empty() && t[0] == '-';
  if (!t.empty() && (t[0] == '+' || t[0] == '-')) i = 1;
  bool ok = i < t.size();
  for (std::size_t k = i; k < t.size() && ok; ++k) {
    if (t[k] >= '0' && t[k] <= '9') digits.push_back(t[k]);
    else ok = t[k] == '_' && k > i && k + 1 < t.size() && t[k - 1] != '_' && t[k + 1] >= '0' && t[k + 1] <= '9';
  }
  if (ok && !digits.empty() && digits.size() < 19) {
    v.kind = PyValue::Kind::Int;
    v.integer = std::stoll(digits) * (negative ? -1 : 1);
    return v;
  }
  // float(): a decimal number, or inf / infinity / nan, any case, with a sign.
  std::string f;
  for (char c : t)
    if (c != '_') f.push_back(c);
  std::string lower = f;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  const std::string body = !lower.empty() && (lower[0] == '+' || lower[0] == '-') ? lower.substr(1) : lower;
  if (body == "inf" || body == "infinity" || body == "nan") {
    v.kind = PyValue::Kind::Float;
    v.number = body == "nan" ? std::nan("") : (lower[0] == '-' ? -HUGE_VAL : HUGE_VAL);
    return v;
  }
  bool digit = false, dot = false, exp = false;
  bool valid = !body.empty();
  for (std::size_t k = 0; k < body.size() && valid; ++k) {
    const char c = body[k];
    if (c >= '0' && c <= '9') digit = true;
    else if (c == '.' && !dot && !exp) dot = true;
    else if (c == 'e' && digit && !exp) {
      exp = true;
      digit = false;
      if (k + 1 < body.size() && (body[k + 1] == '+' || body[k + 1] == '-')) ++k;
    } else valid = false;
  }
  if (valid && digit && f.find('_') == std::string::npos) {
    v.kind = PyValue::Kind::Float;
    v.number = std::strtod(f.c_str(), nullptr);
    return v;
  }
  v.kind = PyValue::Kind::Text;
  return v;
}

std::optional<std::vector<std::pair<std::string, PyValue>>> parse_controlnet_unit(const std::string& text) {
  std::vector<std::pair<std::string, PyValue>> out;
  std::size_t start = 0;
  while (true) {
    const auto comma = text.find(',', start);
    const std::string item = py_strip(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    // item.split(": ") must give exactly two parts.
    const auto sep = item.find(": ");
    if (sep == std::string::npos || item.find(": ", sep + 2) != std::string::npos) return std::nullopt;
    // displaytext_to_field: the words (split on " ") lower-cased, joined by "_".
    std::string field;
    for (char c : item.substr(0, sep)) field.push_back(c == ' ' ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    const PyValue value = parse_py_value(item.substr(sep + 2));
    bool replaced = false;  // a keyword given twice: the dict comprehension keeps the last
    for (auto& kv : out)
      if (kv.first == field) {
        kv.second = value;
        replaced = true;
      }
    if (!replaced) out.emplace_back(field, value);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace gen::request

namespace gen {

InfotextFields parse_a1111_parameters(const std::string& x) {
  using request::py_strip;
  InfotextFields res;
  std::vector<std::string> lines;
  const std::string all = py_strip(x);
  for (std::size_t start = 0;;) {
    const auto nl = all.find('\n', start);
    lines.push_back(all.substr(start, nl == std::string::npos ? std::string::npos : nl - start));
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  std::string lastline = lines.back();
  lines.pop_back();
  auto params = request::re_param().findall(lastline);
  if (params.size() < 3) {
    lines.push_back(lastline);
    params.clear();
  }
  std::string prompt, negative;
  bool done_with_prompt = false;
  for (std::string line : lines) {
    line = py_strip(line);
    if (line.rfind("Negative prompt:", 0) == 0) {
      done_with_prompt = true;
      line = py_strip(line.substr(16));
    }
    std::string& target = done_with_prompt ? negative : prompt;
    target += (target.empty() ? "" : "\n") + line;
  }
  res.emplace_back("Prompt", prompt);
  res.emplace_back("Negative prompt", negative);
  static const request::Regex image_size(request::kReImageSize);
  for (const auto& g : params) {
    const std::string& k = g.at(0);
    std::string v = g.at(1);
    if (v.empty()) continue;  // A1111: v[0] raises IndexError, reported and skipped
    if (v.front() == '"' && v.back() == '"') v = request::unquote(v);
    if (const auto m = image_size.match(v)) {
      request::put(res, k + "-1", m->at(0));
      request::put(res, k + "-2", m->at(1));
    } else {
      request::put(res, k, v);
    }
  }
  if (const auto* hypernet = request::get(res, "Hypernet")) {
    const auto* strength = request::get(res, "Hypernet strength");
    res[0].second += "<hypernet:" + *hypernet + ":" + (strength ? *strength : "1.0") + ">";
  }
  // restore_old_hires_fix_params (without use_old_hires_fix_width_height, A1111's default):
  // an old "First pass size" text is the first pass's size, "Size" the final one.
  const auto* fw = request::get(res, "First pass size-1");
  const auto* fh = request::get(res, "First pass size-2");
  if (fw && fh && request::all_digits(*fw) && request::all_digits(*fh) && std::stoll(*fw) != 0 && std::stoll(*fh) != 0) {
    const std::string first_w = std::to_string(std::stoll(*fw)), first_h = std::to_string(std::stoll(*fh));
    const auto* w = request::get(res, "Size-1");
    const auto* h = request::get(res, "Size-2");
    const std::string width = w ? std::to_string(std::stoll(*w)) : "512", height = h ? std::to_string(std::stoll(*h)) : "512";
    request::put(res, "Size-1", first_w);
    request::put(res, "Size-2", first_h);
    request::put(res, "Hires resize-1", width);
    request::put(res, "Hires resize-2", height);
  }
  return res;
}

}  // namespace gen
