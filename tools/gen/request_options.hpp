// gen CLI: the request's options, made from the request tables (gen/request.hpp): one
// option per field that has a CLI spelling, with its help, default and choices. Values are
// kept as given and applied after parsing, so a request read with --from is overridden
// only by the options given. ControlNet groups: each --control starts one; the group
// options after it (in command-line order) set that group's fields, and a group option
// before any --control sets that field of every group (--control-resize crop). T2I-Adapter
// groups the same way: each --adapter starts one, --adapter-image / --adapter-scale fill it.
#pragma once

#include <CLI/CLI.hpp>

#include <map>
#include <string>
#include <vector>

#include "gen/engine.hpp"
#include "gen/error.hpp"
#include "gen/metadata.hpp"
#include "gen/request.hpp"

namespace gen::cli {

class RequestOptions {
 public:
  // Adds the options to `app`. `skip`: fields left out (a command that sets them itself).
  void add(CLI::App& app, const std::vector<std::string>& skip = {});

  // Whether any option of field `name` was given.
  bool given(const std::string& name) const;
  bool controls_given() const;
  bool adapters_given() const;

  // `base` with every given field set; ControlNet groups replace base's when any --control
  // was given. Throws InvalidArgument naming the option for a malformed value.
  Request apply(Request base) const;

 private:
  CLI::App* app_ = nullptr;
  std::map<std::string, CLI::Option*> fields_;    // request field → option
  std::map<std::string, CLI::Option*> controls_;  // control field → option
  std::map<std::string, CLI::Option*> adapters_;  // T2I-Adapter field → option (--adapter groups)
  CLI::Option* lora_ = nullptr;                   // --lora FILE[:WEIGHT[:TE_WEIGHT]], repeatable
  CLI::Option* embedding_ = nullptr;              // --embedding FILE, repeatable
 public:
  // --upscaler-dir: an engine option (EngineOptions::upscaler_dir), not a request field.
  std::string upscaler_dir;
};

// "FILE[:WEIGHT[:TE_WEIGHT]]" (trailing numbers taken from the right, so a path may hold ':').
// Throws InvalidArgument naming `subject` for a weight that is not a finite number.
LoraRequest parse_lora_option(const std::string& text, const std::string& subject);

// The CLI's environment defaults: $GEN_LORA_DIR, $GEN_EMBEDDINGS_DIR, $GEN_ANNOTATOR_DIR and
// $GEN_UPSCALER_DIR become the engine's lora_dir / embeddings_dir / annotator_dir / upscaler_dir
// when those are empty (the library reads no environment). Throws NotFound naming the variable
// when it names no folder. The fallback CLIP vocabulary is $GEN_VOCAB, else gen's own copy in
// ../share/gen/clip/ from the executable.
void environment_defaults(EngineOptions& o);
// $VAR as a folder ("" when unset or empty); NotFound naming VAR and `what` when it is no folder.
std::string folder_from_env(const char* var, const char* what);
// Where an A1111 text's files are looked up by name: $GEN_MODEL_DIR (checkpoints, VAEs) and
// $GEN_CONTROLNET_DIR (docs/metadata.md).
A1111Lookup a1111_lookup();

// Sets `target` from its name, or throws InvalidArgument naming `subject`.
template <class E>
void set_choice(E& target, const std::string& text, const std::string& subject) {
  const auto v = enum_from_name<E>(text);
  if (!v) throw Error(ErrorCode::InvalidArgument, subject + ": unknown " + Names<E>::noun + " '" + text + "': must be " +
                                                      names_text<E>());
  target = *v;
}

// A choice option (device, dtype, weights…) of a command that is not a request field:
// its value checked against the enumeration's name table as it is parsed.
template <class E>
CLI::Option* add_choice(CLI::App& app, const std::string& spelling, E& target, const std::string& help) {
  const std::string name = spelling.substr(spelling.rfind(',') == std::string::npos ? 0 : spelling.rfind(',') + 1);
  return app
      .add_option_function<std::string>(
          spelling, [&target, name](const std::string& s) { set_choice(target, s, name); },
          help + " [default: " + name_of(target) + "]")
      ->type_name("CHOICE");
}

}  // namespace gen::cli
