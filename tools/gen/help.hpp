// gen CLI: how the command line talks back — --help in groups (generation, model files,
// ControlNet and adapters, editing, output, performance) wrapped to the terminal's width, and
// the parse errors reworded as "<option>: <problem>": a missing value says what the option
// takes, a near-miss option gets "did you mean --steps?".
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace gen::cli {

// The formatter of `app` and the subcommands added after this call.
void use_help_format(CLI::App& app);

// Puts the generate options of the root command into their --help groups.
void group_generate_options(CLI::App& app);

// Before parsing: an option that takes a value given without one — last on the command line,
// or followed by another option of the command ("--steps --seed 1", which CLI11 would read as
// steps = "--seed") — as "--steps needs a value (a number)"; "" when there is none.
std::string missing_value(const CLI::App& app, int argc, const char* const* argv);

// A CLI11 parse error as one gen error text ("--steps needs a value (a number)").
std::string parse_error_text(CLI::App& app, const CLI::ParseError& e);

// The option of `app` (or of the subcommand parsed) closest to `word` ("--stpes" → "--steps"),
// or "" when none is close (Levenshtein distance at most 2, or a third of the word).
std::string closest_option(const CLI::App& app, const std::string& word);

}  // namespace gen::cli
