#include "commands.hpp"
namespace gen::cli {
Command register_inspect(CLI::App& app) {
  auto* sub = app.add_subcommand("inspect", "List the tensors of a weight file and say what it is");
  return {sub, [] { return 0; }};
}
}  // namespace gen::cli
