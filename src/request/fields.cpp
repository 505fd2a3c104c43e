// The rows of the request tables, made from the X-macro lists in gen/request.hpp: one codec
// per C++ type (integer, real, flag, text, enumeration, seed) does JSON, CLI text, checks
// and display for every field of that type.
#include "request/fields.hpp"

#include <cmath>
#include <cstdlib>
#include <limits>
#include <sstream>
#include <type_traits>

#include "core/fail.hpp"
#include "core/json.hpp"

namespace gen::request {
namespace {

[[noreturn]] void bad(const std::string& subject, const std::string& why) { fail(ErrorCode::InvalidArgument, subject, why); }

std::string number_text(double v) {
  std::ostringstream o;
  o << v;
  return o.str();
}

struct Range {
  double lo = 0, hi = 0;
  int multiple = 0;
};

template <class T, class = void>
struct Codec;

template <>
struct Codec<int> {
  static constexpr FieldInfo::Type type = FieldInfo::Type::Integer;
  static nlohmann::json to_json(int v) { return v; }
  static int from_json(const nlohmann::json& v, const std::string& key, const std::string& subject) {
    if (!v.is_number_integer()) bad(subject, "field '" + key + "' has the wrong type");
    // get<int>() would wrap silently: 4294967808 is not 512.
    const bool fits = v.is_number_unsigned()
                          ? v.get<std::uint64_t>() <= static_cast<std::uint64_t>(std::numeric_limits<int>::max())
                          : v.get<std::int64_t>() >= std::numeric_limits<int>::min() &&
                                v.get<std::int64_t>() <= std::numeric_limits<int>::max();
    if (!fits) bad(subject, "field '" + key + "' is out of range: " + core::json_excerpt(v));
    return v.get<int>();
  }
  static int parse(const std::string& s, const std::string& subject) {
    errno = 0;
    char* end = nullptr;
    const long long v = std::strtoll(s.c_str(), &end, 10);
    if (s.empty() || *end || errno == ERANGE) bad(subject, "'" + s + "' is not a valid number");
    // Out of int's range: still a number, refused by the field's range with its value.
    if (v > std::numeric_limits<int>::max() || v < std::numeric_limits<int>::min())
      bad(subject, "'" + s + "' is out of range");
    return static_cast<int>(v);
  }
  static std::string text(int v) { return std::to_string(v); }
  static void check(int v, const Range& r, const std::string& where) {
    if (r.lo != r.hi && (v < r.lo || v > r.hi))
      bad(where, "must be between " + number_text(r.lo) + " and " + number_text(r.hi) + ", got " + std::to_string(v));
    if (r.multiple && v % r.multiple) bad(where, std::to_string(v) + " is not a multiple of " + std::to_string(r.multiple));
  }
};

template <>
struct Codec<double> {
  static constexpr FieldInfo::Type type = FieldInfo::Type::Number;
  static nlohmann::json to_json(double v) { return v; }
  static double from_json(const nlohmann::json& v, const std::string& key, const std::string& subject) {
    if (!v.is_number()) bad(subject, "field '" + key + "' has the wrong type");
    return v.get<double>();
  }
  static double parse(const std::string& s, const std::string& subject) {
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (s.empty() || *end || !std::isfinite(v)) bad(subject, "'" + s + "' is not a valid number");
    return v;
  }
  static std::string text(double v) { return number_text(v); }
  static void check(double v, const Range& r, const std::string& where) {
    if (r.lo != r.hi && !(v >= r.lo && v <= r.hi))
      bad(where, "must be between " + number_text(r.lo) + " and " + number_text(r.hi) + ", got " + number_text(v));
  }
};

template <>
struct Codec<bool> {
  static constexpr FieldInfo::Type type = FieldInfo::Type::Flag;
  static nlohmann::json to_json(bool v) { return v; }
  static bool from_json(const nlohmann::json& v, const std::string& key, const std::string& subject) {
    if (!v.is_boolean()) bad(subject, "field '" + key + "' has the wrong type");
    return v.get<bool>();
  }
  static bool parse(const std::string& s, const std::string& subject) {
    if (s == "true" || s == "1" || s == "on" || s == "yes") return true;
    if (s == "false" || s == "0" || s == "off" || s == "no") return false;
    bad(subject, "'" + s + "' is not true or false");
  }
  static std::string text(bool v) { return v ? "true" : "false"; }
  static void check(bool, const Range&, const std::string&) {}
};

template <>
struct Codec<std::string> {
  static constexpr FieldInfo::Type type = FieldInfo::Type::Text;
  static nlohmann::json to_json(const std::string& v) { return v; }
  static std::string from_json(const nlohmann::json& v, const std::string& key, const std::string& subject) {
    if (!v.is_string()) bad(subject, "field '" + key + "' has the wrong type");
    return v.get<std::string>();
  }
  static std::string parse(const std::string& s, const std::string&) { return s; }
  static std::string text(const std::string& v) { return v; }
  // A NUL would cut the text short wherever it is passed on (a path, a PNG chunk).
  static void check(const std::string& v, const Range&, const std::string& field) {
    if (v.find('\0') != std::string::npos) bad(field, "contains a NUL character (\\u0000)");
  }
};

template <class E>
struct Codec<E, std::enable_if_t<std::is_enum_v<E>>> {
  static constexpr FieldInfo::Type type = FieldInfo::Type::Choice;
  static nlohmann::json to_json(E v) { return name_of(v); }
  static E parse(const std::string& s, const std::string& subject) {
    if (auto v = enum_from_name<E>(s)) return *v;
    bad(subject, std::string("unknown ") + Names<E>::noun + " '" + s + "': must be " + names_text<E>());
  }
  static E from_json(const nlohmann::json& v, const std::string& key, const std::string& subject) {
    if (!v.is_string()) bad(subject, "field '" + key + "' has the wrong type");
    return parse(v.get<std::string>(), subject + ": " + key);
  }
  static std::string text(E v) { return name_of(v); }
  static void check(E v, const Range&, const std::string& where) {
    if (std::string(name_of(v)) == "?") bad(where, "is not a valid " + std::string(Names<E>::noun));
  }
};

using Seed = std::optional<std::uint64_t>;
template <>
struct Codec<Seed> {
  static constexpr FieldInfo::Type type = FieldInfo::Type::Seed;
  static nlohmann::json to_json(const Seed& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); }
  static Seed from_json(const nlohmann::json& v, const std::string&, const std::string& subject) {
    if (v.is_null()) return std::nullopt;
    if (v.is_number_integer() && !v.is_number_unsigned() && v.get<std::int64_t>() == -1) return std::nullopt;  // random
    if (!v.is_number_unsigned())
      bad(subject, "field 'seed' must be an integer from 0 to 18446744073709551615, or -1 or null for a random one");
    return v.get<std::uint64_t>();
  }
  // -1 means random, as in A1111 and stable-diffusion.cpp; other negatives are refused.
  static Seed parse(const std::string& s, const std::string& subject) {
    if (s == "-1") return std::nullopt;
    errno = 0;
    char* end = nullptr;
    const unsigned long long v = std::strtoull(s.c_str(), &end, 10);
    if (s.empty() || *end || errno == ERANGE || s[0] == '-' || s[0] == '+' || std::isspace(static_cast<unsigned char>(s[0])))
      bad(subject, "'" + s + "' is not a seed (0 to 18446744073709551615, or -1 for a random one)");
    return static_cast<std::uint64_t>(v);
  }
  static std::string text(const Seed& v) { return v ? std::to_string(*v) : ""; }
  static void check(const Seed&, const Range&, const std::string&) {}
};

template <class E>
std::vector<std::string> choices_of() {
  std::vector<std::string> out;
  if constexpr (std::is_enum_v<E>)
    for (const auto& [v, n] : Names<E>::table) out.push_back(n);
  return out;
}

template <class S, class T>
Field<S> row(T S::*member, const char* name, const T& def, const char* cli, const char* help, const char* infotext,
             double lo, double hi, int multiple) {
  using C = Codec<T>;
  Field<S> f;
  f.info.name = name;
  f.info.type = C::type;
  f.info.cli = cli;
  f.info.help = help;
  f.info.infotext = infotext;
  f.info.min = lo;
  f.info.max = hi;
  f.info.multiple = multiple;
  f.info.choices = choices_of<T>();
  f.info.default_text = C::text(def);
  const Range range{lo, hi, multiple};
  const std::string key = name;
  f.to_json = [member](const S& s) { return C::to_json(s.*member); };
  f.from_json = [member, key](S& s, const nlohmann::json& v, const std::string& subject) {
    s.*member = C::from_json(v, key, subject);
  };
  f.parse = [member, key](S& s, const std::string& text, const std::string& subject) {
    s.*member = C::parse(text, subject.empty() ? key : subject);
  };
  f.check = [member, range](const S& s, const std::string& where) { C::check(s.*member, range, where); };
  f.text = [member](const S& s) { return C::text(s.*member); };
  return f;
}

}  // namespace

#define GEN_REQUEST_ROW(type, name, def, cli, help, infotext, range) \
  row<Request, type>(&Request::name, #name, type(def), cli, help, infotext, range),
#define GEN_CONTROL_ROW(type, name, def, cli, help, infotext, range) \
  row<ControlRequest, type>(&ControlRequest::name, #name, type(def), cli, help, infotext, range),

const std::vector<Field<Request>>& request_table() {
  static const std::vector<Field<Request>> table{GEN_REQUEST_FIELDS(GEN_REQUEST_ROW)};
  return table;
}

const std::vector<Field<ControlRequest>>& control_table() {
  static const std::vector<Field<ControlRequest>> table{GEN_CONTROL_FIELDS(GEN_CONTROL_ROW)};
  return table;
}

#define GEN_ADAPTER_ROW(type, name, def, cli, help, infotext, range) \
  row<AdapterRequest, type>(&AdapterRequest::name, #name, type(def), cli, help, infotext, range),

const std::vector<Field<AdapterRequest>>& adapter_table() {
  static const std::vector<Field<AdapterRequest>> table{GEN_ADAPTER_FIELDS(GEN_ADAPTER_ROW)};
  return table;
}

#undef GEN_ADAPTER_ROW
#undef GEN_REQUEST_ROW
#undef GEN_CONTROL_ROW

}  // namespace gen::request
