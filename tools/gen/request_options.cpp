#include "core/fail.hpp"
#include "request_options.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>

namespace gen::cli {
namespace {

std::string long_name(const std::string& spelling) {
  const auto comma = spelling.rfind(',');
  return comma == std::string::npos ? spelling : spelling.substr(comma + 1);
}

std::string help_of(const FieldInfo& f) {
  std::string h = f.help;
  if (f.type == FieldInfo::Type::Choice) {
    std::string all;
    for (std::size_t i = 0; i < f.choices.size(); ++i)
      all += (i ? (i + 1 == f.choices.size() ? " or " : ", ") : "") + (f.choices[i].empty() ? "\"\"" : f.choices[i]);
    if (h.find(f.choices.back()) == std::string::npos) h += ": " + all;
  }
  if (!f.default_text.empty() && f.type != FieldInfo::Type::Flag) h += " [default: " + f.default_text + "]";
  return h;
}

CLI::Option* add_field(CLI::App& app, const FieldInfo& f, bool repeatable) {
  if (f.type == FieldInfo::Type::Flag) return app.add_flag(f.cli)->description(help_of(f));
  auto* opt = app.add_option(f.cli)->description(help_of(f));
  if (repeatable) opt->allow_extra_args(false)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  opt->type_name(f.type == FieldInfo::Type::Integer || f.type == FieldInfo::Type::Number ? "NUMBER"
                 : f.type == FieldInfo::Type::Choice                                  ? "CHOICE"
                                                                                      : "TEXT");
  return opt;
}

}  // namespace

void RequestOptions::add(CLI::App& app, const std::vector<std::string>& skip) {
  app_ = &app;
  for (const auto& f : request_fields())
    if (!f.cli.empty() && std::find(skip.begin(), skip.end(), f.name) == skip.end())
      fields_[f.name] = add_field(app, f, false);
  for (const auto& f : control_fields())
    if (!f.cli.empty()) controls_[f.name] = add_field(app, f, true);
  if (std::find(skip.begin(), skip.end(), "adapters") == skip.end())
    for (const auto& f : adapter_fields())
      if (!f.cli.empty()) adapters_[f.name] = add_field(app, f, true);
  if (std::find(skip.begin(), skip.end(), "loras") == skip.end())
    lora_ = app.add_option("--lora")
                ->description("LoRA / LyCORIS file (or a name in --lora-dir) with its UNet and text-encoder "
                              "weights: FILE[:WEIGHT[:TE_WEIGHT]]; repeatable (docs/adapters.md)")
                ->type_name("FILE[:W[:TE]]")
                ->allow_extra_args(false)
                ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  if (std::find(skip.begin(), skip.end(), "upscaler_dir") == skip.end())
    app.add_option("--upscaler-dir", upscaler_dir,
                   "Where --hires-upscaler-model NAME finds NAME.pth / .safetensors (default: $GEN_UPSCALER_DIR)")
        ->type_name("DIR");
  if (std::find(skip.begin(), skip.end(), "embeddings") == skip.end())
    embedding_ = app.add_option("--embedding")
                     ->description("Textual-inversion embedding file a prompt names by its file name (besides "
                                   "--embeddings-dir); repeatable (docs/embeddings.md)")
                     ->type_name("FILE")
                     ->allow_extra_args(false)
                     ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
}

LoraRequest parse_lora_option(const std::string& text, const std::string& subject) {
  LoraRequest l;
  std::error_code ec;
  if (std::filesystem::exists(text, ec)) {  // a file whose name holds ':' is taken whole
    l.file = text;
    return l;
  }
  std::vector<std::string> parts(1);
  for (char c : text) {
    if (c == ':') parts.emplace_back();
    else parts.back().push_back(c);
  }
  const std::size_t numbers = parts.size() > 3 ? 2 : parts.size() - 1;
  std::vector<double> w;
  for (std::size_t i = parts.size() - numbers; i < parts.size(); ++i) {
    const std::string& t = parts[i];
    char* end = nullptr;
    const double v = t.empty() ? 0 : std::strtod(t.c_str(), &end);
    if (t.empty() || *end != '\0' || !std::isfinite(v))
      fail(ErrorCode::InvalidArgument, subject,
           "'" + t + "' in '" + text + "' is not a finite number (FILE[:WEIGHT[:TE_WEIGHT]])");
    w.push_back(v);
  }
  for (std::size_t i = 0; i + numbers < parts.size(); ++i) l.file += (i ? ":" : "") + parts[i];
  if (l.file.empty()) fail(ErrorCode::InvalidArgument, subject, "no file in '" + text + "' (FILE[:WEIGHT[:TE_WEIGHT]])");
  if (w.size() > 0) l.weight = w[0];
  if (w.size() > 1) l.te_weight = w[1];
  return l;
}

bool RequestOptions::given(const std::string& name) const {
  const auto it = fields_.find(name);
  return it != fields_.end() && it->second->count() > 0;
}

bool RequestOptions::controls_given() const {
  return std::any_of(controls_.begin(), controls_.end(), [](const auto& c) { return c.second->count() > 0; });
}

bool RequestOptions::adapters_given() const {
  return std::any_of(adapters_.begin(), adapters_.end(), [](const auto& c) { return c.second->count() > 0; });
}

namespace {

// Groups in command-line order: `starter` (e.g. --adapter) opens one, the other options of
// `options` fill the latest.
template <class G>
std::vector<G> groups_in_order(const CLI::App& app, const std::map<std::string, CLI::Option*>& options,
                               const std::string& starter) {
  std::map<const CLI::Option*, std::string> field_of;
  std::map<const CLI::Option*, std::size_t> used;
  for (const auto& [name, opt] : options) field_of[opt] = name;
  std::vector<G> groups;
  for (const CLI::Option* opt : app.parse_order()) {
    const auto it = field_of.find(opt);
    if (it == field_of.end()) continue;
    const std::string value = opt->results().at(used[opt]++);
    const std::string spelling = long_name(opt->get_name());
    if (it->second == "model") groups.emplace_back();
    else if (groups.empty())
      fail(ErrorCode::InvalidArgument, spelling, "comes before any " + starter + " (give " + starter + " FILE first)");
    set_field(groups.back(), it->second, value, spelling);
  }
  return groups;
}

}  // namespace

namespace {

// --sampler / --hires-sampler TEXT: gen's name, A1111's label ("DPM++ 2M Karras" also sets the
// schedule) or stable-diffusion.cpp's (gen::sampler_from_label). `scheduler`: --scheduler's
// value when given ("" otherwise).
void set_sampler(Request& r, const std::string& field, const std::string& text, const std::string& subject,
                 const std::string& scheduler) {
  if (field == "hires_sampler" && text.empty()) {  // "": the first pass's sampler
    r.hires_sampler.clear();
    return;
  }
  const auto label = sampler_from_label(text, subject);
  if (field == "hires_sampler") {
    if (label.schedule != Schedule::Auto)
      fail(ErrorCode::InvalidArgument, subject,
           "'" + text + "' names a schedule: the second pass uses --scheduler's; give the sampler alone ('" +
               a1111_sampler_name(label.sampler, Schedule::Normal) + "')");
    r.hires_sampler = name_of(label.sampler);
    return;
  }
  r.sampler = label.sampler;
  if (label.schedule == Schedule::Auto) return;
  if (!scheduler.empty() && enum_from_name<Schedule>(scheduler) != label.schedule)
    fail(ErrorCode::InvalidArgument, subject,
         "'" + text + "' names the " + name_of(label.schedule) + " schedule but --scheduler says '" + scheduler + "'");
  r.scheduler = label.schedule;
}

}  // namespace

Request RequestOptions::apply(Request r) const {
  auto value_of = [](const CLI::Option* opt, std::size_t i) {
    return opt->get_expected_min() == 0 ? std::string("true") : opt->results().at(i);
  };
  const std::string scheduler = given("scheduler") ? fields_.at("scheduler")->results().back() : "";
  for (const auto& [name, opt] : fields_) {
    if (!opt->count()) continue;
    const auto value = value_of(opt, opt->results().size() - 1);
    if (name == "sampler" || name == "hires_sampler") set_sampler(r, name, value, long_name(opt->get_name()), scheduler);
    else set_field(r, name, value, long_name(opt->get_name()));
  }
  if (lora_ && lora_->count()) {
    r.loras.clear();
    for (const auto& text : lora_->results()) r.loras.push_back(parse_lora_option(text, "--lora"));
  }
  if (embedding_ && embedding_->count()) r.embeddings = embedding_->results();
  if (adapters_given()) r.adapters = groups_in_order<AdapterRequest>(*app_, adapters_, "--adapter");
  if (!controls_given()) return r;
  // In command-line order: --control opens a group, the others fill the latest group; a
  // --control-resize before any --control is every group's default.
  std::map<const CLI::Option*, std::string> field_of;
  std::map<const CLI::Option*, std::size_t> used;
  for (const auto& [name, opt] : controls_) field_of[opt] = name;
  // No --control but groups in the request given (`gen --from IMG --control-scale 0.5`): the
  // options change those groups, the n-th use of an option the n-th group (a single
  // --control-resize: every group, as before a --control).
  const bool opens = controls_.count("model") && controls_.at("model")->count() > 0;
  if (!opens && !r.controls.empty()) {
    std::map<std::string, std::size_t> nth;
    for (const CLI::Option* opt : app_->parse_order()) {
      const auto it = field_of.find(opt);
      if (it == field_of.end()) continue;
      const std::string value = value_of(opt, used[opt]++);
      const std::string spelling = long_name(opt->get_name());
      if (it->second == "resize" && opt->count() == 1) {
        for (auto& g : r.controls) set_field(g, "resize", value, spelling);
        continue;
      }
      const std::size_t i = nth[it->second]++;
      if (i >= r.controls.size())
        fail(ErrorCode::InvalidArgument, spelling,
             "given " + std::to_string(i + 1) + " times, but the request has " + std::to_string(r.controls.size()) +
                 " ControlNet group" + (r.controls.size() == 1 ? "" : "s") + " (the n-th use changes the n-th group)");
      set_field(r.controls[i], it->second, value, spelling);
    }
    return r;
  }
  std::vector<ControlRequest> groups;
  std::vector<std::pair<std::string, std::string>> defaults;  // (field, value) before any --control
  // A ControlNet Union group's conditions: the n-th use of these in a group sets its n-th
  // condition (the group itself, then ControlRequest::conditions).
  static const std::set<std::string> per_condition = {"type", "image", "preprocess", "preprocess_resolution"};
  std::map<std::string, std::size_t> nth_in_group;
  for (const CLI::Option* opt : app_->parse_order()) {
    const auto it = field_of.find(opt);
    if (it == field_of.end()) continue;
    const std::string value = value_of(opt, used[opt]++);
    const std::string spelling = long_name(opt->get_name());
    if (it->second == "model") {
      groups.emplace_back();
      nth_in_group.clear();
      for (const auto& [field, v] : defaults) set_field(groups.back(), field, v, "--control-resize");
    } else if (groups.empty()) {
      if (it->second != "resize")
        fail(ErrorCode::InvalidArgument, spelling, "comes before any --control (give --control FILE first)");
      defaults.emplace_back(it->second, value);
      continue;
    }
    if (per_condition.count(it->second)) {
      const std::size_t n = nth_in_group[it->second]++;
      if (n > 0) {
        auto& more = groups.back().conditions;
        if (more.size() < n) more.resize(n);
        set_field(more[n - 1], it->second, value, spelling);
        continue;
      }
    }
    set_field(groups.back(), it->second, value, spelling);
  }
  r.controls = std::move(groups);
  return r;
}

std::string folder_from_env(const char* var, const char* what) {
  const char* v = std::getenv(var);
  if (!v || !*v) return "";
  std::error_code ec;
  if (!std::filesystem::is_directory(v, ec))
    fail(ErrorCode::NotFound, var, std::string(what) + " folder '" + v + "' does not exist");
  return v;
}

A1111Lookup a1111_lookup() {
  A1111Lookup lookup;
  if (const auto d = folder_from_env("GEN_MODEL_DIR", "model"); !d.empty()) lookup.model_dirs.push_back(d);
  if (const auto d = folder_from_env("GEN_CONTROLNET_DIR", "ControlNet"); !d.empty()) lookup.controlnet_dirs.push_back(d);
  return lookup;
}

void environment_defaults(EngineOptions& o) {
  const auto from_env = [](std::string& field, const char* var, const char* what) {
    if (field.empty()) field = folder_from_env(var, what);
  };
  from_env(o.lora_dir, "GEN_LORA_DIR", "LoRA");
  from_env(o.embeddings_dir, "GEN_EMBEDDINGS_DIR", "embeddings");
  from_env(o.annotator_dir, "GEN_ANNOTATOR_DIR", "annotator");
  from_env(o.upscaler_dir, "GEN_UPSCALER_DIR", "upscaler");
  // The last place a CLIP vocabulary is looked for: $GEN_VOCAB, else the copy set-up put
  // beside gen (share/gen/clip/ of the build tree or of the install prefix).
  if (o.fallback_vocab.empty()) {
    if (const char* v = std::getenv("GEN_VOCAB"); v && *v) {
      o.fallback_vocab = v;
    } else {
      std::error_code ec;
      const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
      const auto own = exe.parent_path().parent_path() / "share" / "gen" / "clip" / "bpe_simple_vocab_16e6.txt.gz";
      if (!ec && std::filesystem::is_regular_file(own, ec)) o.fallback_vocab = own.string();
    }
  }
}

}  // namespace gen::cli
