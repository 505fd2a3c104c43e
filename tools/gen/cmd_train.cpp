// gen train controlnet --model M --controlnet CN --data DATA -o OUT [--steps N] [--batch-size B]
//   [--accumulation A] [--learning-rate LR] [--max-grad-norm G] [--prediction P]
//   [--empty-prompts F] [--checkpoint-every K] [--seed S] [--resume] [--vocab FILE]
#include <cstdio>
#include <memory>
#include <string>

#include "commands.hpp"
#include "gen/training.hpp"

namespace gen::cli {

Command register_train(CLI::App& app) {
  auto o = std::make_shared<TrainControlNetOptions>();
  auto* sub = app.add_subcommand("train", "Train models (docs/training.md)");
  sub->require_subcommand(1);
  auto* cn = sub->add_subcommand("controlnet", "Train a ControlNet as diffusers' train_controlnet.py does");
  cn->add_option("-m,--model", o->model, "the base model (LDM file or diffusers folder)")->required();
  cn->add_option("--controlnet", o->controlnet, "the ControlNet to start from (e.g. made by gen controlnet init)")
      ->required();
  cn->add_option("--data", o->data, "a JSONL file or a folder with metadata.jsonl: image, conditioning_image, text")
      ->required();
  cn->add_option("-o,--output", o->output, "folder for checkpoint-<step>/ and the final controlnet/")->required();
  cn->add_option("--vocab", o->vocab, "CLIP vocabulary (when the model has no tokenizer folder)");
  cn->add_option("--steps", o->steps, "optimizer steps in all (default 100)");
  cn->add_option("--batch-size", o->batch_size, "samples per micro-batch (default 1)");
  cn->add_option("--accumulation", o->accumulation, "micro-batches per optimizer step (default 1)");
  cn->add_option("--learning-rate", o->learning_rate, "AdamW learning rate (default 5e-6)");
  cn->add_option("--max-grad-norm", o->max_grad_norm, "gradient clipping norm (default 1; 0: none)");
  cn->add_option("--prediction", o->prediction, "epsilon or v_prediction (default: the model's)")
      ->check(CLI::IsMember({"epsilon", "v_prediction"}));
  cn->add_option("--empty-prompts", o->empty_prompts, "fraction of captions replaced by the empty prompt (default 0)");
  cn->add_option("--checkpoint-every", o->checkpoint_every, "steps between checkpoints (default 0: only the last)");
  cn->add_option("--seed", o->seed, "seed of the data order, noise, timesteps and caption dropout (default 0)");
  cn->add_option("--threads", o->threads, "CPU threads (0: one for small work, else one per core)");
  cn->add_flag("--resume", o->resume, "continue from the newest checkpoint in the output folder (same settings)");
  return {sub, [o] {
            train_controlnet(*o, [](const TrainProgress& p) {
              std::printf("step %d/%d  loss %.6f  %.2f steps/s  ETA %.0f s%s%s\n", p.step, p.steps, p.loss,
                          p.steps_per_second, p.eta_seconds, p.checkpoint.empty() ? "" : "  checkpoint ",
                          p.checkpoint.c_str());
              std::fflush(stdout);
            });
            std::printf("wrote %s/controlnet\n", o->output.c_str());
            return 0;
          }};
}

}  // namespace gen::cli
