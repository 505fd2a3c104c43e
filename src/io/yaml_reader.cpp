// The block-YAML reader (rules in yaml_reader.hpp).
#include "io/yaml_reader.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <regex>
#include <vector>

#include "core/fail.hpp"
#include "core/files.hpp"
#include "core/json.hpp"

namespace gen::io {
namespace {

using nlohmann::json;

struct Line {
  int indent = 0;
  std::string text;  // without indentation, comment and trailing spaces
  int no = 0;        // 1-based
};

class Parser {
 public:
  Parser(std::vector<Line> lines, std::string subject) : lines_(std::move(lines)), subject_(std::move(subject)) {}

  json document() {
    if (lines_.empty()) return nullptr;
    json v = block(lines_[0].indent, 0);
    if (i_ < lines_.size()) error(lines_[i_].no, "unexpected indentation");
    return v;
  }

 private:
  std::vector<Line> lines_;
  std::string subject_;
  std::size_t i_ = 0;

  [[noreturn]] void error(int line, const std::string& what) const {
    fail(ErrorCode::InvalidFormat, subject_ + ":" + std::to_string(line), what);
  }
  void check_depth(int depth, int line) const {
    if (depth > core::kMaxJsonDepth)
      error(line, "nested deeper than " + std::to_string(core::kMaxJsonDepth) + " levels");
  }

  static bool is_item(const std::string& t) { return t == "-" || (t.size() > 1 && t[0] == '-' && t[1] == ' '); }

  // The block starting at line i_, whose lines are indented by `indent`.
  json block(int indent, int depth) {
    check_depth(depth, lines_[i_].no);
    if (is_item(lines_[i_].text)) return sequence(indent, depth);
    const auto colon = key_end(lines_[i_].text);
    if (colon == std::string::npos) {  // a lone scalar (only as a whole document)
      const Line& l = lines_[i_++];
      if (depth > 0 || i_ < lines_.size()) error(l.no, "expected 'key: value' or '- item'");
      return inline_value(l.text, l.no, depth);
    }
    return mapping(indent, depth);
  }

  // The value after "key:" or "-" when it is written on the following lines (or is null).
  json nested(int indent, int line, bool allow_same_indent_sequence, int depth) {
    if (i_ < lines_.size()) {
      const Line& n = lines_[i_];
      if (n.indent > indent) return block(n.indent, depth + 1);
      if (allow_same_indent_sequence && n.indent == indent && is_item(n.text)) return sequence(indent, depth + 1);
    }
    (void)line;
    return nullptr;
  }

  // A value on the same line as its key or dash; a more indented line after it would continue
  // it (a multi-line scalar), which is refused.
  json same_line_value(const std::string& text, int indent, int line, int depth) {
    json v = inline_value(text, line, depth);
    if (i_ < lines_.size() && lines_[i_].indent > indent)
      error(lines_[i_].no, "a value continued on the next line (multi-line scalars are not supported)");
    return v;
  }

  json mapping(int indent, int depth) {
    json m = json::object();
    while (i_ < lines_.size() && lines_[i_].indent == indent && !is_item(lines_[i_].text)) {
      const Line l = lines_[i_++];
      const auto colon = key_end(l.text);
      if (colon == std::string::npos) error(l.no, "expected 'key: value'");
      const json key = inline_value(l.text.substr(0, colon), l.no, depth);
      if (!key.is_string()) error(l.no, "a key that is not a string (" + key.dump() + ")");
      const auto k = key.get<std::string>();
      if (m.contains(k)) error(l.no, "the key '" + k + "' is given twice");
      std::string rest = trim(l.text.substr(colon + 1));
      m[k] = rest.empty() ? nested(indent, l.no, true, depth) : same_line_value(rest, indent, l.no, depth);
    }
    if (i_ < lines_.size() && lines_[i_].indent > indent) error(lines_[i_].no, "unexpected indentation");
    return m;
  }

  json sequence(int indent, int depth) {
    json s = json::array();
    while (i_ < lines_.size() && lines_[i_].indent == indent && is_item(lines_[i_].text)) {
      Line& l = lines_[i_];
      std::size_t off = 1;
      while (off < l.text.size() && l.text[off] == ' ') ++off;
      if (off >= l.text.size()) {
        ++i_;
        s.push_back(nested(indent, l.no, false, depth));
        continue;
      }
      // "- key: value" or "- - x": the rest is a block at the column where it starts.
      const std::string rest = l.text.substr(off);
      if (is_item(rest) || key_end(rest) != std::string::npos) {
        l.indent += static_cast<int>(off);
        l.text = rest;
        s.push_back(block(l.indent, depth + 1));
        continue;
      }
      const int no = l.no;
      ++i_;
      s.push_back(same_line_value(rest, indent, no, depth));
    }
    if (i_ < lines_.size() && lines_[i_].indent > indent) error(lines_[i_].no, "unexpected indentation");
    return s;
  }

  static std::string trim(const std::string& s) {
    const auto b = s.find_first_not_of(' ');
    if (b == std::string::npos) return "";
    return s.substr(b, s.find_last_not_of(' ') - b + 1);
  }

  // Where a mapping key ends: the first ':' followed by a space or the end of the line,
  // outside quotes and flow brackets; npos when there is none.
  static std::size_t key_end(const std::string& t) {
    char quote = 0;
    int flow = 0;
    for (std::size_t i = 0; i < t.size(); ++i) {
      const char c = t[i];
      if (quote) {
        if (c == quote) {
          if (quote == '\'' && i + 1 < t.size() && t[i + 1] == '\'') ++i;
          else quote = 0;
        } else if (c == '\\' && quote == '"') {
          ++i;
        }
        continue;
      }
      if ((c == '"' || c == '\'') && (i == 0)) quote = c;
      else if (c == '[' || c == '{') ++flow;
      else if (c == ']' || c == '}') --flow;
      else if (c == ':' && flow == 0 && (i + 1 == t.size() || t[i + 1] == ' ')) return i;
    }
    return std::string::npos;
  }

  // ---- flow values and scalars ----
  json inline_value(const std::string& text, int line, int depth) {
    std::size_t p = 0;
    json v = flow_value(text, p, line, depth, false);
    while (p < text.size() && text[p] == ' ') ++p;
    if (p != text.size()) error(line, "unexpected text after a value: '" + text.substr(p, 20) + "'");
    return v;
  }

  json flow_value(const std::string& t, std::size_t& p, int line, int depth, bool in_flow) {
    check_depth(depth, line);
    while (p < t.size() && t[p] == ' ') ++p;
    if (p >= t.size()) return nullptr;
    const char c = t[p];
    if (c == '&' || c == '*') error(line, "anchors and aliases are not supported");
    if (c == '!') error(line, "tags are not supported");
    if ((c == '|' || c == '>') && !in_flow) error(line, "block scalars (| and >) are not supported");
    if (c == '[') return flow_sequence(t, p, line, depth);
    if (c == '{') return flow_mapping(t, p, line, depth);
    if (c == '"' || c == '\'') return quoted(t, p, line);
    const std::size_t b = p;
    while (p < t.size()) {
      const char d = t[p];
      if (in_flow && (d == ',' || d == ']' || d == '}')) break;
      if (in_flow && d == ':' && (p + 1 == t.size() || t[p + 1] == ' ' || t[p + 1] == ',')) break;
      ++p;
    }
    return resolve(trim(t.substr(b, p - b)), line);
  }

  json flow_sequence(const std::string& t, std::size_t& p, int line, int depth) {
    json s = json::array();
    ++p;  // '['
    for (;;) {
      while (p < t.size() && t[p] == ' ') ++p;
      if (p >= t.size()) error(line, "an unterminated [ (flow collections must end on their line)");
      if (t[p] == ']') { ++p; return s; }
      s.push_back(flow_value(t, p, line, depth + 1, true));
      while (p < t.size() && t[p] == ' ') ++p;
      if (p < t.size() && t[p] == ',') ++p;
      else if (p < t.size() && t[p] != ']') error(line, "expected ',' or ']' in a flow sequence");
    }
  }

  json flow_mapping(const std::string& t, std::size_t& p, int line, int depth) {
    json m = json::object();
    ++p;  // '{'
    for (;;) {
      while (p < t.size() && t[p] == ' ') ++p;
      if (p >= t.size()) error(line, "an unterminated { (flow collections must end on their line)");
      if (t[p] == '}') { ++p; return m; }
      const json key = flow_value(t, p, line, depth + 1, true);
      if (!key.is_string()) error(line, "a key that is not a string (" + key.dump() + ")");
      const auto k = key.get<std::string>();
      if (m.contains(k)) error(line, "the key '" + k + "' is given twice");
      json value = nullptr;
      if (p < t.size() && t[p] == ':') {
        ++p;
        value = flow_value(t, p, line, depth + 1, true);
      }
      m[k] = std::move(value);
      while (p < t.size() && t[p] == ' ') ++p;
      if (p < t.size() && t[p] == ',') ++p;
      else if (p < t.size() && t[p] != '}') error(line, "expected ',' or '}' in a flow mapping");
    }
  }

  json quoted(const std::string& t, std::size_t& p, int line) {
    const char q = t[p++];
    std::string out;
    while (p < t.size()) {
      const char c = t[p++];
      if (c == q) {
        if (q == '\'' && p < t.size() && t[p] == '\'') { out += '\''; ++p; continue; }
        return out;
      }
      if (c == '\\' && q == '"') {
        if (p >= t.size()) break;
        const char e = t[p++];
        switch (e) {
          case '\\': out += '\\'; break;
          case '"': out += '"'; break;
          case '/': out += '/'; break;
          case 'n': out += '\n'; break;
          case 't': out += '\t'; break;
          case 'r': out += '\r'; break;
          case '0': out += '\0'; break;
          default: error(line, std::string("the escape \\") + e + " is not supported");
        }
        continue;
      }
      out += c;
    }
    error(line, "an unterminated quoted string (multi-line strings are not supported)");
  }

  // A plain scalar's type, as PyYAML's YAML 1.1 resolver gives it.
  json resolve(const std::string& s, int line) const {
    static const std::regex null_re("^(?:~|null|Null|NULL|)$");
    static const std::regex bool_re("^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$");
    static const std::regex int_re("^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$");
    static const std::regex float_re(
        "^(?:[-+]?(?:[0-9][0-9_]*)\\.[0-9_]*(?:[eE][-+][0-9]+)?|\\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?"
        "|[-+]?\\.(?:inf|Inf|INF)|\\.(?:nan|NaN|NAN))$");
    static const std::regex sexagesimal_re("^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\\.[0-9_]*)?$");
    if (s.empty() || std::regex_match(s, null_re)) return nullptr;
    if (std::regex_match(s, bool_re)) {
      const char c = s[0];
      return c == 'y' || c == 'Y' || c == 't' || c == 'T' || (s.size() == 2 && (s[1] == 'n' || s[1] == 'N'));
    }
    if (std::regex_match(s, sexagesimal_re))
      error(line, "'" + s + "': base-60 numbers are not supported (quote it if it is a string)");
    std::string d;
    for (char c : s)
      if (c != '_') d += c;
    if (std::regex_match(s, int_re)) {
      bool neg = false;
      std::size_t b = 0;
      if (d[0] == '-' || d[0] == '+') { neg = d[0] == '-'; b = 1; }
      int base = 10;
      if (d.compare(b, 2, "0b") == 0) { base = 2; b += 2; }
      else if (d.compare(b, 2, "0x") == 0) { base = 16; b += 2; }
      else if (d.size() > b + 1 && d[b] == '0') { base = 8; b += 1; }
      errno = 0;
      const unsigned long long u = b < d.size() ? std::strtoull(d.c_str() + b, nullptr, base) : 0;
      const unsigned long long lim = static_cast<unsigned long long>(std::numeric_limits<std::int64_t>::max());
      if (errno == ERANGE || u > lim + (neg ? 1 : 0)) error(line, "'" + s + "': an integer beyond 64 bits");
      if (neg) return u == lim + 1 ? std::numeric_limits<std::int64_t>::min() : -static_cast<std::int64_t>(u);
      return static_cast<std::int64_t>(u);
    }
    if (std::regex_match(s, float_re)) {
      std::string lower;
      for (char c : d) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (lower.find(".inf") != std::string::npos)
        return lower[0] == '-' ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
      if (lower == ".nan") return std::numeric_limits<double>::quiet_NaN();
      return std::strtod(lower.c_str(), nullptr);
    }
    return s;
  }
};

// Lines without comments, blank lines, directives and document markers.
std::vector<Line> split_lines(const std::string& text, const std::string& subject) {
  std::vector<Line> out;
  int no = 0;
  std::size_t pos = 0;
  bool body = false, ended = false;
  while (pos <= text.size()) {
    auto end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string raw = text.substr(pos, end - pos);
    pos = end + 1;
    ++no;
    if (!raw.empty() && raw.back() == '\r') raw.pop_back();
    std::size_t ind = 0;
    while (ind < raw.size() && raw[ind] == ' ') ++ind;
    if (ind < raw.size() && raw[ind] == '\t')
      fail(ErrorCode::InvalidFormat, subject + ":" + std::to_string(no), "a tab in the indentation");
    // Cut a comment: '#' at the start or after a space, outside quotes.
    char quote = 0;
    std::size_t cut = raw.size();
    for (std::size_t i = ind; i < raw.size(); ++i) {
      const char c = raw[i];
      if (quote) {
        if (c == '\\' && quote == '"') ++i;
        else if (c == quote) quote = 0;
        continue;
      }
      if (c == '#' && (i == ind || raw[i - 1] == ' ' || raw[i - 1] == '\t')) { cut = i; break; }
      if ((c == '"' || c == '\'')) {
        std::size_t j = i;
        while (j > ind && raw[j - 1] == ' ') --j;
        const char prev = j == ind ? 0 : raw[j - 1];
        if (prev == 0 || prev == ':' || prev == '-' || prev == '[' || prev == '{' || prev == ',') quote = c;
      }
    }
    std::string t = raw.substr(ind, cut - ind);
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.pop_back();
    if (t.empty()) continue;
    if (ind == 0 && !body && t[0] == '%') continue;  // a directive
    if (ind == 0 && (t == "---" || t.rfind("--- ", 0) == 0)) {
      if (body) fail(ErrorCode::InvalidFormat, subject + ":" + std::to_string(no), "a second YAML document");
      body = true;
      t = t.size() > 4 ? t.substr(4) : "";
      if (t.empty()) continue;
    }
    if (ended) fail(ErrorCode::InvalidFormat, subject + ":" + std::to_string(no), "text after the document's end (...)");
    if (ind == 0 && t == "...") {
      ended = true;
      continue;
    }
    body = true;
    out.push_back({static_cast<int>(ind), t, no});
  }
  return out;
}

}  // namespace

nlohmann::json parse_yaml(const std::string& text, const std::string& subject) {
  if (text.size() > kMaxYamlFile)
    fail(ErrorCode::InvalidFormat, subject, "larger than " + std::to_string(kMaxYamlFile >> 20) + " MiB: not a model config");
  if (text.find('\0') != std::string::npos) fail(ErrorCode::InvalidFormat, subject, "binary data, not YAML text");
  Parser p(split_lines(text, subject), subject);
  return p.document();
}

nlohmann::json read_yaml_file(const std::string& path) {
  return parse_yaml(core::read_input(path, kMaxYamlFile, "YAML config"), path);
}

}  // namespace gen::io
