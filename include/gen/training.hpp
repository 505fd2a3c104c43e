// gen — making and training ControlNets (docs/training.md).
// `gen controlnet init` is init_controlnet: a new ControlNet from a Stable Diffusion 1.x / 2.x
// base, as diffusers' ControlNetModel.from_unet and lllyasviel/ControlNet's tool_add_control.py
// make one: the UNet encoder's weights (time embedding, input blocks, middle block) copied, the
// hint encoder initialised as torch.nn.Conv2d does, every zero-convolution (and the hint
// encoder's last convolution) zero.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "gen/export.hpp"

namespace gen {

struct ControlNetInitOptions {
  std::string base;     // an SD 1.x / 2.x model: LDM single file or diffusers pipeline folder
  std::string output;   // "diffusers": a folder (config.json + diffusion_pytorch_model.safetensors);
                        // "ldm": a .safetensors file with control_model.* names
  std::string layout = "diffusers";
  std::vector<std::int64_t> hint_channels = {16, 32, 96, 256};  // the hint encoder's widths
  std::uint64_t seed = 0;  // the hint encoder's random initialisation (a CPU generator)
};

struct ControlNetInitSummary {
  std::string family;          // "sd1" or "sd2"
  std::size_t copied = 0;      // tensors copied from the base UNet
  std::size_t zeroed = 0;      // zero-convolutions and the hint encoder's output convolution
  std::size_t random = 0;      // the rest of the hint encoder
  std::int64_t parameters = 0; // in all
};

// Writes the new ControlNet atomically (a folder appears whole or not at all). Throws gen::Error:
// the base's errors (NotFound, InvalidFormat, Unsupported, ModelMismatch, naming it), NotFound
// when the base holds no UNet whose encoder can be copied, InvalidArgument for an unknown
// layout, an empty hint encoder, or an output that exists already.
GEN_API ControlNetInitSummary init_controlnet(const ControlNetInitOptions& options);

// `gen train controlnet`: trains a ControlNet (e.g. from init_controlnet) for a base model on a
// data set of (image, control image, caption) triples, as diffusers' train_controlnet.py does
// (docs/training.md). Data: a JSONL file, or a folder holding metadata.jsonl, one object a line
// with "image", "conditioning_image" (paths relative to the file's folder) and "text".
struct TrainControlNetOptions {
  std::string model;       // the base (LDM file or diffusers folder)
  std::string controlnet;  // the ControlNet to start from (any layout --control loads)
  std::string data;
  std::string output;      // folder: checkpoint-<step>/ and, at the end, controlnet/
  std::string vocab;       // CLIP vocabulary when the model has no tokenizer folder
  int steps = 100;         // optimizer steps in all
  int batch_size = 1;
  int accumulation = 1;
  double learning_rate = 5e-6;
  double max_grad_norm = 1.0;
  std::string prediction;  // "epsilon", "v_prediction"; "" = the model's
  double empty_prompts = 0;  // the fraction of captions replaced by "" (train_controlnet.py's option)
  int checkpoint_every = 0;  // optimizer steps between checkpoints (0: only the final one)
  std::uint64_t seed = 0;
  bool resume = false;       // continue from the newest checkpoint in `output` (same settings)
  int threads = 0;           // CPU threads (0: as generation chooses, docs/performance.md#threads)
  // Images: 0 = used at their size (sides multiples of 8); else resized (shorter side, bilinear)
  // and centre-cropped to resolution² as train_controlnet.py does, or cropped at random with
  // random_crop (the crop a function of (seed, sample index)).
  int resolution = 0;
  bool random_crop = false;
  // Control images made from the training images by a preprocessor (the --preprocess names of
  // `gen preprocess`: canny:100:200, lineart_standard, hed, ...) for samples without
  // "conditioning_image", or for every sample with preprocess_always; made once, kept in memory.
  std::string preprocess;
  bool preprocess_always = false;
  std::string annotator_dir;       // where annotator networks find their weights
  int preprocess_resolution = 512;  // annotators' detection resolution
  // Every validation_every steps: each (prompt, control image) pair drawn with the ControlNet of
  // that step into output/validation/step-<N>-<k>.png (UniPC, CFG 7.5, `validation_steps` steps, `seed`).
  int validation_every = 0;
  std::vector<std::string> validation_prompts, validation_images;
  int validation_steps = 20;
  bool gradient_checkpointing = false;  // recompute UNet / ControlNet blocks in backward (less memory)
  std::string mixed_precision = "no";   // "no" or "bf16" (CPU autocast; fp32 master weights)
};

struct TrainProgress {
  int step = 0, steps = 0;
  double loss = 0;           // mean of the step's micro-batches
  double steps_per_second = 0;
  double eta_seconds = 0;
  std::string checkpoint;    // written after this step ("" if none)
  std::vector<std::string> validation;  // validation images written after this step
};

// Throws gen::Error: the model's, ControlNet's and images' errors (naming them); NotFound /
// InvalidFormat / InvalidArgument for a missing, empty or malformed data set (file and line), a
// sample whose image and control image sizes differ; InvalidArgument for a resume whose
// checkpoint was made with other settings (naming the first difference); OutOfMemory (the last
// checkpoint stays intact: checkpoints are written whole under a temporary name, then renamed).
GEN_API void train_controlnet(const TrainControlNetOptions& options,
                              const std::function<void(const TrainProgress&)>& progress = {});


// `gen train unet` / `gen train vae`: train a model's UNet (the text-to-image noise-prediction
// loss of diffusers' train_text_to_image.py, the text encoder and the VAE frozen) or its VAE
// (L1 reconstruction + kl_weight · KL of the posterior, as LDM's autoencoder loss without its
// perceptual and adversarial terms) on a data set of images and captions: the JSONL format of
// train_controlnet ("image", "text"; a "conditioning_image" is not needed). `model` is a diffusers
// pipeline folder (e.g. made by init_model). Output: checkpoint-<step>/ and, at the end, unet/
// or vae/ (a diffusers component folder; the VAE's config gets the scaling factor that gives its
// latents unit variance on the data, as LDM chose 0.18215).
struct TrainModelOptions {
  std::string model;
  std::string data;
  std::string output;
  int steps = 100;
  int batch_size = 1;
  int accumulation = 1;
  double learning_rate = 1e-4;
  double max_grad_norm = 1.0;
  std::string prediction;    // UNet: "epsilon", "v_prediction"; "" = the model's
  double empty_prompts = 0;  // UNet: the fraction of captions replaced by "" (for guidance)
  double kl_weight = 1e-6;   // VAE
  int checkpoint_every = 0;
  std::uint64_t seed = 0;
  bool resume = false;
  int threads = 0;
  bool gradient_checkpointing = false;  // UNet: recompute its blocks in backward
  std::string mixed_precision = "no";   // "no" or "bf16"
};
GEN_API void train_unet(const TrainModelOptions& options, const std::function<void(const TrainProgress&)>& progress = {});
GEN_API void train_vae(const TrainModelOptions& options, const std::function<void(const TrainProgress&)>& progress = {});

// `gen train init CONFIG OUT`: a new model with random weights. CONFIG is a diffusers pipeline
// folder without weights (model_index.json, unet/, vae/, text_encoder/ config.json,
// scheduler/, tokenizer/); OUT (new) gets the same with weights, written whole or not at all.
// Layers start as torch.nn starts them (convolutions and linears uniform(±1/√fan_in) for weight
// and bias, norms 1 and 0, embedding tables normal(0, 0.02)), drawn from one CPU generator.
struct InitModelSummary {
  std::int64_t unet = 0, vae = 0, text_encoder = 0;  // parameters
};
GEN_API InitModelSummary init_model(const std::string& config_dir, const std::string& output, std::uint64_t seed = 0);

// `gen train shapes OUT`: the demo model's synthetic data set (docs/training.md#the-demo-model):
// `count` images of `size`² pixels, each one coloured shape (circle, square, triangle) on a
// plain background, with its caption ("a red circle on a blue background"), outline (the control
// image) and filled mask; a function of (seed, index) only. OUT must not exist.
GEN_API void write_shapes_dataset(const std::string& output, int count, int size, std::uint64_t seed = 0);

}  // namespace gen
