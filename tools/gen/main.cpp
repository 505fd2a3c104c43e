// gen — command-line entry point. Every failure ends in one line on stderr,
// "gen: error [<code>]: <subject>: <problem>", and the exit code of docs/errors.md.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>
#include <sstream>
#include <string>
#include <vector>

#include "commands.hpp"
#include "help.hpp"
#include "gen/engine.hpp"
#include "gen/error.hpp"
#include "gen/version.hpp"

// OpenMP threads that finish a parallel region wait for the next one; libgomp (the OpenMP
// runtime of PyPI's torch) spins a long while before it sleeps. On a machine shared with
// other work (CI, a render farm, two gen processes) the spinning thread takes the CPU from the
// thread it waits for, and a batch of tiny jobs went from 1.5 s to over 60 s with 2 threads
// on 2 busy cores (docs/performance.md#threads). libgomp reads its wait policy once, when it
// is loaded, before main(): so gen sets OMP_WAIT_POLICY=PASSIVE (sleep at once) from the
// executable's preinit array, which runs before any shared library's initialiser. A policy
// the user set is kept.
extern "C" void gen_preinit(int, char**, char**) { ::setenv("OMP_WAIT_POLICY", "PASSIVE", 0); }
__attribute__((section(".preinit_array"), used)) static void (*const gen_preinit_entry)(int, char**, char**) =
    gen_preinit;

namespace {

int report(gen::ErrorCode code, const char* what) {
  std::fprintf(stderr, "gen: error [%s]: %s\n", gen::code_name(code), what);
  return static_cast<int>(code);
}

}  // namespace

int main(int argc, char** argv) {
  gen::retain_freed_host_memory();
  try {
    CLI::App app{"gen — controllable image generation (Stable Diffusion + ControlNet)", "gen"};
    app.set_version_flag("--version", std::string("gen ") + gen::version_string());
    app.require_subcommand(0, 1);
    gen::cli::use_help_format(app);  // before the subcommands, which take it over
    std::vector<gen::cli::Command> commands;
    commands.push_back(gen::cli::register_inspect(app));
    commands.push_back(gen::cli::register_convert(app));
    commands.push_back(gen::cli::register_info(app));
    commands.push_back(gen::cli::register_preprocess(app));
    commands.push_back(gen::cli::register_upscale(app));
    commands.push_back(gen::cli::register_batch(app));
    commands.push_back(gen::cli::register_bench(app));
    commands.push_back(gen::cli::register_pose(app));
    commands.push_back(gen::cli::register_controlnet(app));
    commands.push_back(gen::cli::register_train(app));
    auto generate = gen::cli::register_generate(app);
    gen::cli::group_generate_options(app);
    if (const auto missing = gen::cli::missing_value(app, argc, argv); !missing.empty())
      return report(gen::ErrorCode::InvalidArgument, missing.c_str());
    try {
      app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
      return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
      return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
      return app.exit(e);
    } catch (const CLI::ParseError& e) {
      return report(gen::ErrorCode::InvalidArgument, gen::cli::parse_error_text(app, e).c_str());
    }
    for (auto& c : commands)
      if (c.app->parsed()) return c.run();
    if (argc > 1) return generate.run();
    std::fputs(app.help().c_str(), stdout);
    return 0;
  } catch (const gen::Error& e) {
    return report(e.code(), e.what());
  } catch (const std::bad_alloc&) {
    return report(gen::ErrorCode::OutOfMemory, "out of host memory");
  } catch (const std::exception& e) {
    return report(gen::ErrorCode::Internal, e.what());
  } catch (...) {
    return report(gen::ErrorCode::Internal, "unknown exception");
  }
}
