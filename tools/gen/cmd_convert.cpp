#include "commands.hpp"
namespace gen::cli {
Command register_convert(CLI::App& app) {
  auto* sub = app.add_subcommand("convert", "Convert a pickled checkpoint to safetensors, without executing it");
  return {sub, [] { return 0; }};
}
}  // namespace gen::cli
