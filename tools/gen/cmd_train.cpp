// gen train controlnet --model M --controlnet CN --data DATA -o OUT [--steps N] [--batch-size B]
//   [--accumulation A] [--learning-rate LR] [--max-grad-norm G] [--prediction P]
//   [--empty-prompts F] [--checkpoint-every K] [--seed S] [--resume] [--vocab FILE]
//   [--resolution R [--random-crop]] [--preprocess SPEC [--preprocess-always]]
//   [--validation-every N --validation-prompt P --validation-image IMG ...] [--gradient-checkpointing]
//   [--mixed-precision no|bf16]
// gen train unet|vae --model M --data DATA -o OUT [the same loop options]
// gen train init CONFIG OUT [--seed S];  gen train shapes OUT [--count N] [--size S] [--seed S]
#include <array>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "commands.hpp"
#include "gen/training.hpp"
#include "request_options.hpp"

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
  cn->add_option("-t,--threads", o->threads, "CPU threads (0: one for small work, else one per core)");
  cn->add_flag("--resume", o->resume, "continue from the newest checkpoint in the output folder (same settings)");
  cn->add_option("--resolution", o->resolution,
                 "resize (shorter side, bilinear) and centre-crop every image to this square side (default: as they are)");
  cn->add_flag("--random-crop", o->random_crop, "crop at a random place (per sample, from --seed) instead of the centre");
  cn->add_option("--preprocess", o->preprocess,
                 "make missing control images from the training images: a gen preprocess name (canny:100:200, "
                 "lineart_standard, hed, ...)");
  cn->add_flag("--preprocess-always", o->preprocess_always, "make every control image with --preprocess");
  cn->add_option("--preprocess-resolution", o->preprocess_resolution, "annotators' detection resolution (default 512)");
  cn->add_option("--annotator-dir", o->annotator_dir, "where annotators find their weights (default: $GEN_ANNOTATOR_DIR)");
  cn->add_option("--validation-every", o->validation_every, "steps between validation images (default 0: none)");
  cn->add_option("--validation-prompt", o->validation_prompts, "a validation prompt (repeatable, paired with the images)")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cn->add_option("--validation-image", o->validation_images, "a validation control image (repeatable)")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cn->add_option("--validation-steps", o->validation_steps, "sampling steps of a validation image (default 20)");
  cn->add_flag("--gradient-checkpointing", o->gradient_checkpointing,
               "recompute the UNet and ControlNet blocks in backward: less memory, about one more forward of time");
  cn->add_option("--mixed-precision", o->mixed_precision, "no or bf16 (CPU autocast; fp32 master weights)");

  // gen train unet | vae: the same loop for a model's own parts.
  auto m = std::make_shared<TrainModelOptions>();
  auto* unet = sub->add_subcommand("unet", "Train a model's UNet (text-to-image noise prediction, as train_text_to_image.py)");
  auto* vae = sub->add_subcommand("vae", "Train a model's VAE (L1 reconstruction + KL)");
  for (auto* c : {unet, vae}) {
    c->add_option("-m,--model", m->model, "the model (a diffusers folder, e.g. made by gen train init)")->required();
    c->add_option("--data", m->data, "a JSONL file or a folder with metadata.jsonl: image, text")->required();
    c->add_option("-o,--output", m->output, "folder for checkpoint-<step>/ and the finished unet/ or vae/")->required();
    c->add_option("--steps", m->steps, "optimizer steps in all (default 100)");
    c->add_option("--batch-size", m->batch_size, "samples per micro-batch (default 1)");
    c->add_option("--accumulation", m->accumulation, "micro-batches per optimizer step (default 1)");
    c->add_option("--learning-rate", m->learning_rate, "AdamW learning rate (default 1e-4)");
    c->add_option("--max-grad-norm", m->max_grad_norm, "gradient clipping norm (default 1; 0: none)");
    c->add_option("--checkpoint-every", m->checkpoint_every, "steps between checkpoints (default 0: only the last)");
    c->add_option("--seed", m->seed, "seed of the data order and noise (default 0)");
    c->add_option("-t,--threads", m->threads, "CPU threads (0: one for small work, else one per core)");
    c->add_flag("--resume", m->resume, "continue from the newest checkpoint in the output folder (same settings)");
  }
  unet->add_option("--prediction", m->prediction, "epsilon or v_prediction (default: the model's)")
      ->check(CLI::IsMember({"epsilon", "v_prediction"}));
  unet->add_option("--empty-prompts", m->empty_prompts, "fraction of captions replaced by the empty prompt (default 0)");
  unet->add_flag("--gradient-checkpointing", m->gradient_checkpointing, "recompute the UNet's blocks in backward: less memory");
  for (auto* c : {unet, vae})
    c->add_option("--mixed-precision", m->mixed_precision, "no or bf16 (CPU autocast; fp32 master weights)");
  vae->add_option("--kl-weight", m->kl_weight, "weight of the KL term (default 1e-6, LDM's)");

  auto init_dir = std::make_shared<std::array<std::string, 2>>();
  auto seed = std::make_shared<std::uint64_t>(0);
  auto* init = sub->add_subcommand("init", "A new model with random weights from a folder of configs");
  init->add_option("config", (*init_dir)[0], "a diffusers pipeline folder without weights (e.g. models/demo/config)")
      ->required();
  init->add_option("output", (*init_dir)[1], "the new model folder (must not exist)")->required();
  init->add_option("--seed", *seed, "seed of the initialisation (default 0)");

  auto shapes = std::make_shared<std::array<int, 2>>(std::array<int, 2>{1000, 64});
  auto shapes_out = std::make_shared<std::string>();
  auto* sh = sub->add_subcommand("shapes", "Write the demo model's synthetic data set (shapes, captions, outlines)");
  sh->add_option("output", *shapes_out, "the new data-set folder (must not exist)")->required();
  sh->add_option("--count", (*shapes)[0], "samples (default 1000)");
  sh->add_option("--size", (*shapes)[1], "image side in pixels (default 64)");
  sh->add_option("--seed", *seed, "seed of the data set (default 0)");

  return {sub, [=] {
            auto show = [](const TrainProgress& p) {
              std::string validation;
              for (const auto& f : p.validation) validation += "  validation " + f;
              std::printf("step %d/%d  loss %.6f  %.2f steps/s  ETA %.0f s%s%s%s\n", p.step, p.steps, p.loss,
                          p.steps_per_second, p.eta_seconds, p.checkpoint.empty() ? "" : "  checkpoint ",
                          p.checkpoint.c_str(), validation.c_str());
              std::fflush(stdout);
            };
            if (cn->parsed()) {
              if (o->annotator_dir.empty()) o->annotator_dir = folder_from_env("GEN_ANNOTATOR_DIR", "annotator");
              train_controlnet(*o, show);
              std::printf("wrote %s/controlnet\n", o->output.c_str());
            } else if (unet->parsed() || vae->parsed()) {
              (unet->parsed() ? train_unet : train_vae)(*m, show);
              std::printf("wrote %s/%s\n", m->output.c_str(), unet->parsed() ? "unet" : "vae");
            } else if (init->parsed()) {
              const auto s = init_model((*init_dir)[0], (*init_dir)[1], *seed);
              std::printf("wrote %s: UNet %lld, VAE %lld, text encoder %lld parameters\n", (*init_dir)[1].c_str(),
                          static_cast<long long>(s.unet), static_cast<long long>(s.vae),
                          static_cast<long long>(s.text_encoder));
            } else {
              write_shapes_dataset(*shapes_out, (*shapes)[0], (*shapes)[1], *seed);
              std::printf("wrote %d samples to %s\n", (*shapes)[0], shapes_out->c_str());
            }
            return 0;
          }};
}

}  // namespace gen::cli
