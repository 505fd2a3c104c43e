// gen controlnet init BASE OUT [--layout diffusers|ldm] [--hint-channels 16,32,96,256] [--seed N]
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "gen/training.hpp"

namespace gen::cli {

Command register_controlnet(CLI::App& app) {
  auto opt = std::make_shared<ControlNetInitOptions>();
  auto* sub = app.add_subcommand("controlnet", "Make ControlNets (docs/training.md)");
  sub->require_subcommand(1);
  auto* init = sub->add_subcommand(
      "init",
      "A new ControlNet from an SD 1.x/2.x base: the UNet encoder copied, the hint encoder initialised, "
      "every zero-convolution zero (as diffusers' ControlNetModel.from_unet and tool_add_control.py)");
  init->add_option("base", opt->base, "the base model: LDM .safetensors file or diffusers pipeline folder")->required();
  init->add_option("output", opt->output, "the new ControlNet: a folder (diffusers) or a .safetensors file (ldm)")
      ->required();
  init->add_option("--layout", opt->layout,
                   "diffusers (default: config.json + diffusion_pytorch_model.safetensors) or ldm (control_model.* names)")
      ->check(CLI::IsMember({"diffusers", "ldm"}));
  init->add_option("--hint-channels", opt->hint_channels, "the hint encoder's widths (default 16,32,96,256)")
      ->delimiter(',');
  init->add_option("--seed", opt->seed, "seed of the hint encoder's random initialisation (default 0)");
  return {sub, [opt] {
            const auto s = init_controlnet(*opt);
            std::printf("%s -> %s (%s layout, %s base)\n", opt->base.c_str(), opt->output.c_str(), opt->layout.c_str(),
                        s.family.c_str());
            std::printf("  %lld parameters in %zu tensors: %zu copied from the UNet, %zu zero, %zu random (seed %llu)\n",
                        static_cast<long long>(s.parameters), s.copied + s.zeroed + s.random, s.copied, s.zeroed,
                        s.random, static_cast<unsigned long long>(opt->seed));
            return 0;
          }};
}

}  // namespace gen::cli
