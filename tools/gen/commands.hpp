// gen CLI: each subcommand registers its options on the app and returns how to run it.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace gen::cli {

// --weights, shared by generate, batch and bench.
inline constexpr const char* kWeightsHelp =
    "How weights are held: auto (16-bit files stay 16-bit on the CPU in fp32, half the memory), wide (converted at "
    "load) or offload (CUDA: in host memory, copied to the GPU layer by layer, for small GPUs)";

struct Command {
  CLI::App* app = nullptr;       // the subcommand
  std::function<int()> run;      // called when the subcommand was given; returns the exit code
};

Command register_inspect(CLI::App& app);   // cmd_inspect.cpp
Command register_convert(CLI::App& app);   // cmd_convert.cpp
Command register_info(CLI::App& app);      // cmd_info.cpp
Command register_preprocess(CLI::App& app);  // cmd_preprocess.cpp
Command register_upscale(CLI::App& app);     // cmd_upscale.cpp
Command register_batch(CLI::App& app);       // cmd_batch.cpp
Command register_bench(CLI::App& app);       // cmd_bench.cpp
Command register_pose(CLI::App& app);        // cmd_pose.cpp
Command register_controlnet(CLI::App& app);  // cmd_controlnet.cpp
Command register_train(CLI::App& app);       // cmd_train.cpp
// Options on the root command: plain `gen -p …` generates (cmd_generate.cpp).
Command register_generate(CLI::App& app);

}  // namespace gen::cli
