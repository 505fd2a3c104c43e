#include "help.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>
#include <memory>
#include <sstream>
#include <vector>

#include "gen/request.hpp"

namespace gen::cli {
namespace {

constexpr const char* kGeneration = "Generation";
constexpr const char* kModels = "Model files";
constexpr const char* kControl = "ControlNet and adapters";
constexpr const char* kEditing = "Editing (image-to-image, inpainting, outpainting, hires fix)";
constexpr const char* kOutput = "Output";
constexpr const char* kPerformance = "Performance";
// The order of the groups in `gen --help`; other groups (help, version) come first.
const std::vector<std::string> kGroupOrder{kGeneration, kModels, kControl, kEditing, kOutput, kPerformance};

// The group of each generate option by its first long name; the others are kGeneration.
const std::map<std::string, const char*>& group_table() {
  static const std::map<std::string, const char*> table{
      {"--model", kModels}, {"--vae", kModels}, {"--config", kModels}, {"--vocab", kModels},
      {"--lora-dir", kModels}, {"--annotator-dir", kModels}, {"--embeddings-dir", kModels},
      {"--lora-mode", kModels}, {"--lora-lenient", kModels}, {"--lora", kModels}, {"--embedding", kModels},
      {"--upscaler-dir", kModels}, {"--refiner", kModels},
      {"--guess-mode", kControl}, {"--control-mode", kControl}, {"--preprocess", kControl},
      {"--preprocess-resolution", kControl}, {"--adapter", kControl}, {"--adapter-image", kControl},
      {"--adapter-scale", kControl},
      {"--init-image", kEditing}, {"--strength", kEditing}, {"--strength-steps", kEditing},
      {"--init-resize", kEditing}, {"--mask", kEditing}, {"--mask-from-alpha", kEditing},
      {"--invert-mask", kEditing}, {"--mask-blur", kEditing}, {"--overlay", kEditing},
      {"--inpaint-area", kEditing}, {"--mask-padding", kEditing}, {"--inpaint-fill", kEditing},
      {"--inpaint-blend", kEditing}, {"--outpaint", kEditing}, {"--outpaint-fill", kEditing},
      {"--output", kOutput}, {"--from", kOutput}, {"--metadata", kOutput}, {"--progress", kOutput},
      {"--quiet", kOutput}, {"--overwrite", kOutput},
      {"--device", kPerformance}, {"--dtype", kPerformance}, {"--vae-tiling", kPerformance},
      {"--threads", kPerformance}, {"--weights", kPerformance}, {"--no-memory-guard", kPerformance},
      {"--memory-limit", kPerformance},
  };
  return table;
}

const char* group_of(const std::string& long_name) {
  const auto& t = group_table();
  if (const auto it = t.find(long_name); it != t.end()) return it->second;
  if (long_name.rfind("--control", 0) == 0) return kControl;  // --control, --control-image, ...
  if (long_name.rfind("--hires", 0) == 0) return kEditing;
  return kGeneration;
}

std::size_t terminal_width() {
  winsize ws{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  if (const char* c = std::getenv("COLUMNS")) {
    const long n = std::strtol(c, nullptr, 10);
    if (n > 0) return static_cast<std::size_t>(n);
  }
  return 80;
}

// `text` wrapped at word boundaries into lines of at most `width` characters (a longer word
// stands alone); its own newlines are kept.
std::vector<std::string> wrap(const std::string& text, std::size_t width) {
  std::vector<std::string> lines;
  std::istringstream paragraphs(text);
  for (std::string paragraph; std::getline(paragraphs, paragraph);) {
    std::istringstream words(paragraph);
    std::string line;
    for (std::string w; words >> w;) {
      if (!line.empty() && line.size() + 1 + w.size() > width) {
        lines.push_back(line);
        line.clear();
      }
      line += (line.empty() ? "" : " ") + w;
    }
    lines.push_back(line);
  }
  return lines;
}

// CLI11's layout (a name column, the description beside it) wrapped to the terminal.
class HelpFormatter : public CLI::Formatter {
 public:
  HelpFormatter() { column_width(32); }

  std::string make_help(const CLI::App* app, std::string name, CLI::AppFormatMode mode) const override {
    if (mode == CLI::AppFormatMode::Sub) return make_expanded(app);
    std::ostringstream out;
    out << make_description(app) << make_usage(app, name) << make_positionals(app);
    auto groups = app->get_groups();
    std::stable_sort(groups.begin(), groups.end(), [](const std::string& a, const std::string& b) {
      auto rank = [](const std::string& g) {
        const auto it = std::find(kGroupOrder.begin(), kGroupOrder.end(), g);
        return it == kGroupOrder.end() ? -1 : static_cast<int>(it - kGroupOrder.begin());
      };
      return rank(a) < rank(b);
    });
    for (const auto& group : groups) {
      const auto opts = app->get_options([&](const CLI::Option* o) { return o->get_group() == group && o->nonpositional(); });
      if (!group.empty() && !opts.empty()) out << make_group(group, false, opts);
    }
    out << make_subcommands(app, mode) << '\n' << make_footer(app);
    return out.str();
  }

  std::string make_option(const CLI::Option* opt, bool is_positional) const override {
    return row(make_option_name(opt, is_positional) + make_option_opts(opt), make_option_desc(opt));
  }

  std::string make_subcommand(const CLI::App* sub) const override {
    return row(sub->get_display_name(true), sub->get_description());
  }

 private:
  std::string row(const std::string& name, const std::string& description) const {
    const std::size_t col = get_column_width();
    std::string out = "  " + name;
    const std::size_t room = std::max<std::size_t>(30, terminal_width() > col + 1 ? terminal_width() - col - 1 : 0);
    const auto lines = wrap(description, room);
    for (std::size_t i = 0; i < lines.size(); ++i) {
      if (i == 0 && out.size() < col) out += std::string(col - out.size(), ' ');
      else out += "\n" + std::string(col, ' ');
      out += lines[i];
    }
    return out + "\n";
  }
};

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// Every name of every option of `app`: "-s", "--seed", ...
std::vector<std::string> option_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::Option* o : app.get_options()) {
    for (const auto& s : o->get_snames()) names.push_back("-" + s);
    for (const auto& l : o->get_lnames()) names.push_back("--" + l);
  }
  return names;
}

// What an option whose value is missing takes, from its type name.
std::string value_kind(const std::string& name, const std::string& type) {
  if (type == "NUMBER" || type == "INT" || type == "UINT" || type == "FLOAT") return "a number";
  if (type == "CHOICE") {
    // A request field's choices from the field table.
    for (const auto* fields : {&request_fields(), &control_fields(), &adapter_fields()})
      for (const auto& f : *fields) {
        if (f.choices.empty() || ("," + f.cli + ",").find("," + name + ",") == std::string::npos) continue;
        std::string all;
        for (std::size_t i = 0; i < f.choices.size(); ++i)
          all += (i ? (i + 1 == f.choices.size() ? " or " : ", ") : "") + (f.choices[i].empty() ? "\"\"" : f.choices[i]);
        return "one of " + all;
      }
    return "a choice (see --help)";
  }
  if (type == "TEXT") return "text";
  if (type == "FILE") return "a file";
  if (type == "DIR") return "a folder";
  return type.empty() ? "a value" : type;
}

}  // namespace

void use_help_format(CLI::App& app) { app.formatter(std::make_shared<HelpFormatter>()); }

void group_generate_options(CLI::App& app) {
  for (CLI::Option* o : app.get_options()) {
    if (o == app.get_help_ptr() || o->get_lnames().empty() || o->get_group().empty()) continue;
    const std::string name = "--" + o->get_lnames().front();
    if (name == "--version") continue;
    o->group(group_of(name));
  }
}

std::string closest_option(const CLI::App& app, const std::string& word) {
  const std::string w = word.substr(0, word.find('='));
  const CLI::App* where = &app;
  for (const auto* sub : app.get_subcommands()) where = sub;
  std::string best;
  std::size_t best_d = std::max<std::size_t>(2, w.size() / 3) + 1;
  for (const auto& n : option_names(*where)) {
    const auto d = edit_distance(w, n);
    if (d < best_d) {
      best_d = d;
      best = n;
    }
  }
  return best;
}

std::string missing_value(const CLI::App& app, int argc, const char* const* argv) {
  const CLI::App* where = &app;
  auto option_named = [&](const std::string& token) -> const CLI::Option* {
    if (token.size() < 2 || token[0] != '-' || token.find('=') != std::string::npos) return nullptr;
    for (const CLI::Option* o : where->get_options())
      if (o->check_name(token)) return o;
    return nullptr;
  };
  for (int i = 1; i < argc; ++i) {
    const std::string token = argv[i];
    if (token == "--") return "";
    if (where == &app && token[0] != '-') {  // the subcommand (gen batch …) brings its own options
      for (const CLI::App* sub : app.get_subcommands({}))
        if (sub->check_name(token)) where = sub;
      continue;
    }
    const CLI::Option* o = option_named(token);
    if (!o || o->get_items_expected_min() < 1) continue;
    if (i + 1 == argc || option_named(argv[i + 1]))
      return token + " needs a value (" + value_kind("--" + (o->get_lnames().empty() ? o->get_snames().front() : o->get_lnames().front()), o->get_type_name()) + ")";
    ++i;  // its value
  }
  return "";
}

std::string parse_error_text(CLI::App& app, const CLI::ParseError& e) {
  std::string what = e.what();
  auto after = [&](const std::string& prefix) -> std::string {
    return what.rfind(prefix, 0) == 0 ? what.substr(prefix.size()) : std::string();
  };
  if (dynamic_cast<const CLI::ConversionError*>(&e)) {  // "Could not convert: --width = abc"
    const auto rest = after("Could not convert: ");
    const auto eq = rest.find(" = ");
    if (eq != std::string::npos) return rest.substr(0, eq) + ": '" + rest.substr(eq + 3) + "' is not a valid number";
  }
  if (dynamic_cast<const CLI::ValidationError*>(&e)) {  // "--progress: bogus not in {auto,bar,json,none}"
    const auto colon = what.find(": ");
    const auto in = what.rfind(" not in {");
    if (colon != std::string::npos && in != std::string::npos && in > colon && what.back() == '}') {
      std::string all;
      for (const char c : what.substr(in + 9, what.size() - in - 10)) all += c == ',' ? std::string(", ") : std::string(1, c);
      return what.substr(0, colon) + ": '" + what.substr(colon + 2, in - colon - 2) + "' is not one of " + all;
    }
  }
  if (dynamic_cast<const CLI::ArgumentMismatch*>(&e)) {  // "--steps: 1 required NUMBER missing"
    const auto colon = what.find(": ");
    const auto req = what.find(" required ");
    const auto missing = what.rfind(" missing");
    if (colon != std::string::npos && req != std::string::npos && missing != std::string::npos && req < missing) {
      const std::string name = what.substr(0, colon);
      return name + " needs a value (" + value_kind(name, what.substr(req + 10, missing - req - 10)) + ")";
    }
  }
  if (dynamic_cast<const CLI::ExtrasError*>(&e)) {  // "The following argument(s) was/were not expected: --bogus"
    const auto colon = what.find(": ");
    if (colon != std::string::npos) {
      // CLI11 lists them last first: put them back in command-line order.
      std::vector<std::string> words;
      std::istringstream in(what.substr(colon + 2));
      for (std::string w; in >> w;) words.insert(words.begin(), w);
      std::string args;
      for (const auto& w : words) args += (args.empty() ? "" : " ") + w;
      const bool options = !words.empty() && words.front().rfind('-', 0) == 0;
      const char* kind = options ? (words.size() > 1 ? "unknown options" : "unknown option")
                                 : (words.size() > 1 ? "unexpected arguments" : "unexpected argument");
      std::string hints;
      for (const auto& w : words) {
        if (w.size() < 2 || w[0] != '-' || std::isdigit(static_cast<unsigned char>(w[1]))) continue;
        const auto near = closest_option(app, w);
        if (!near.empty()) hints += (hints.empty() ? "" : ", ") + near;
      }
      return args + ": " + kind + " (" + (hints.empty() ? "" : "did you mean " + hints + "? ") + "see gen --help)";
    }
  }
  std::string where = "gen";
  for (const auto* sub : app.get_subcommands()) where += " " + sub->get_name();
  return where + ": " + what;
}

}  // namespace gen::cli
