// gen — one generation request: every setting with its default. The same schema is
// used by the CLI options, job files (`gen batch`, one request per line) and the
// metadata gen writes into its PNGs; its JSON form is versioned ("gen.request/1").
//
// ONE TABLE: every field of a request is one row of GEN_REQUEST_FIELDS (or of
// GEN_CONTROL_FIELDS for a ControlNet group) below: C++ type, name (= JSON key), default,
// CLI spelling, help text, A1111 infotext key and range. The struct members, validation,
// JSON in and out, the CLI's options and the infotext are all made from these rows, so a
// new field is one new row (docs/architecture.md shows one being added). Enumerations are
// enums, each with one name table (gen::Names<E>).
//
// No libtorch or JSON library types: this header is part of the public API.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <iterator>
#include <utility>
#include <vector>

#include "gen/export.hpp"
#include "gen/image.hpp"

namespace gen {

// ---------------------------------------------------------------- enumerations

enum class Sampler { Ddim, Euler, EulerA, Heun, Lms, Pndm, DpmPP2M, DpmPP2MSde, UniPC, Lcm };
// The sigma/timestep spacing: auto = what the model folder's scheduler config says
// (use_karras_sigmas: true → karras; normal for a single file or a sampler that does not read
// the key); normal and karras override the folder.
enum class Schedule { Auto, Normal, Karras };
enum class PromptSyntax { A1111, Plain };                    // a1111: (word:1.2), [word], BREAK; plain: as diffusers
// Tokenizer text clean-up: auto (a diffusers tokenizer folder: NFC as transformers 5 does;
// the bare CLIP vocabulary: ftfy + whitespace, as A1111 / original CLIP), ftfy, nfc.
enum class TextCleanup { Auto, Ftfy, Nfc };
enum class PredictionType { FromModel, Epsilon, VPrediction };  // "" = what the model files say
enum class Device { Auto, Cpu, Cuda };                       // auto: CUDA when present
enum class Precision { Auto, Fp32, Fp16, Bf16 };             // auto: fp16 on CUDA, fp32 on the CPU
enum class Rng { Cpu };                                      // the noise stream: torch's CPU generator
// The A1111 extension's control modes: balanced (residuals × scale on both CFG halves),
// prompt ("My prompt is more important": × scale × 0.825^(12−i)), control ("ControlNet is
// more important": those soft weights, on the conditional half only).
enum class ControlMode { Balanced, Prompt, Control, PromptImportant = Prompt, ControlImportant = Control };
// VAE decode in tiles: auto (only when the whole image would not fit in memory), on, off,
// exact or blended (on, with that method; on picks exact when it fits). Exact tiles give
// the untiled image to rounding; blended tiles need the least memory (docs/cli.md).
enum class TilingMode { Auto, On, Off, Exact, Blended };
enum class ResizeMode { Just, Crop, Fill };                  // how a control image meets the size
enum class WeightsMode { Auto, Wide, Offload };              // EngineOptions::weights
// How many steps an image-to-image run takes for a strength S of N steps (docs/editing.md):
// diffusers (the last min(int(N·S), N) steps of the N-step schedule), a1111 (A1111's
// k-diffusion path: t_enc = int(min(S, 0.999)·N), the last t_enc + 1 steps) or a1111_fixed
// (A1111's img2img_fix_steps: a schedule of int(N / min(S, 0.999)) steps, its last N run).
enum class StrengthSteps { Diffusers, A1111, A1111Fixed };
// Inpainting: what is denoised ("whole" picture at the request size, or only the "masked"
// area's box plus mask_padding, rendered at the request size and pasted back) and how the
// repainted area starts ("original": the init image as is; "fill": A1111's colours smeared in
// from around the mask; "latent_noise" / "latent_nothing": the masked latents replaced by
// noise / zeros). docs/editing.md.
enum class InpaintArea { Whole, Masked };
enum class InpaintFill { Original, Fill, LatentNoise, LatentNothing };
// How the kept area is held during inpainting: diffusers (the init latents, noised to the next
// call's level, put back after every call; a 9-channel UNet: nothing) or a1111 (the denoised
// prediction blended with the clean init latents on every call, and the final latents too).
enum class InpaintBlend { Diffusers, A1111 };
// Hires fix's upscaler (A1111's names in docs/editing.md): the latents interpolated as
// torch.nn.functional.interpolate (bilinear, bicubic or nearest, antialiased or not), or the
// decoded image resized with Lanczos and encoded again.
// How LoRA / LyCORIS files are applied (docs/adapters.md): merged into the weights (restored
// bit for bit when the set changes) or on the fly beside each layer; auto picks per device.
enum class LoraMode { Auto, Merge, OnTheFly };
enum class HiresUpscaler {
  Latent, LatentAntialiased, LatentBicubic, LatentBicubicAntialiased, LatentNearest, LatentNearestExact, Lanczos
};

// The one name table of each enumeration: {value, name}, the names as JSON, the CLI and
// the docs spell them. `noun` names the kind in errors ("unknown sampler 'x'").
template <class E>
struct Names;
#define GEN_NAMES(E, NOUN, ...)                                   \
  template <>                                                     \
  struct Names<E> {                                               \
    static constexpr const char* noun = NOUN;                     \
    static constexpr std::pair<E, const char*> table[] = {__VA_ARGS__}; \
  };
GEN_NAMES(Sampler, "sampler", {Sampler::Ddim, "ddim"}, {Sampler::Euler, "euler"}, {Sampler::EulerA, "euler_a"},
          {Sampler::Heun, "heun"}, {Sampler::Lms, "lms"}, {Sampler::Pndm, "pndm"}, {Sampler::DpmPP2M, "dpmpp_2m"},
          {Sampler::DpmPP2MSde, "dpmpp_2m_sde"}, {Sampler::UniPC, "unipc"}, {Sampler::Lcm, "lcm"})
GEN_NAMES(Schedule, "scheduler", {Schedule::Auto, "auto"}, {Schedule::Normal, "normal"}, {Schedule::Karras, "karras"})
GEN_NAMES(PromptSyntax, "prompt syntax", {PromptSyntax::A1111, "a1111"}, {PromptSyntax::Plain, "plain"})
GEN_NAMES(TextCleanup, "text clean-up", {TextCleanup::Auto, "auto"}, {TextCleanup::Ftfy, "ftfy"},
          {TextCleanup::Nfc, "nfc"})
GEN_NAMES(PredictionType, "prediction type", {PredictionType::FromModel, ""}, {PredictionType::Epsilon, "epsilon"},
          {PredictionType::VPrediction, "v_prediction"})
GEN_NAMES(Device, "device", {Device::Auto, "auto"}, {Device::Cpu, "cpu"}, {Device::Cuda, "cuda"})
GEN_NAMES(Precision, "dtype", {Precision::Auto, "auto"}, {Precision::Fp32, "fp32"}, {Precision::Fp16, "fp16"},
          {Precision::Bf16, "bf16"})
GEN_NAMES(Rng, "noise stream", {Rng::Cpu, "cpu"})
GEN_NAMES(ControlMode, "control mode", {ControlMode::Balanced, "balanced"}, {ControlMode::Prompt, "prompt"},
          {ControlMode::Control, "control"})
GEN_NAMES(TilingMode, "VAE tiling", {TilingMode::Auto, "auto"}, {TilingMode::On, "on"}, {TilingMode::Off, "off"},
          {TilingMode::Exact, "exact"}, {TilingMode::Blended, "blended"})
GEN_NAMES(ResizeMode, "resize mode", {ResizeMode::Just, "just"}, {ResizeMode::Crop, "crop"},
          {ResizeMode::Fill, "fill"})
GEN_NAMES(StrengthSteps, "strength step convention", {StrengthSteps::Diffusers, "diffusers"},
          {StrengthSteps::A1111, "a1111"}, {StrengthSteps::A1111Fixed, "a1111_fixed"})
GEN_NAMES(InpaintArea, "inpaint area", {InpaintArea::Whole, "whole"}, {InpaintArea::Masked, "masked"})
GEN_NAMES(InpaintFill, "masked content", {InpaintFill::Original, "original"}, {InpaintFill::Fill, "fill"},
          {InpaintFill::LatentNoise, "latent_noise"}, {InpaintFill::LatentNothing, "latent_nothing"})
GEN_NAMES(HiresUpscaler, "hires upscaler", {HiresUpscaler::Latent, "latent"},
          {HiresUpscaler::LatentAntialiased, "latent_antialiased"}, {HiresUpscaler::LatentBicubic, "latent_bicubic"},
          {HiresUpscaler::LatentBicubicAntialiased, "latent_bicubic_antialiased"},
          {HiresUpscaler::LatentNearest, "latent_nearest"}, {HiresUpscaler::LatentNearestExact, "latent_nearest_exact"},
          {HiresUpscaler::Lanczos, "lanczos"})
GEN_NAMES(InpaintBlend, "inpaint blend", {InpaintBlend::Diffusers, "diffusers"}, {InpaintBlend::A1111, "a1111"})
GEN_NAMES(LoraMode, "LoRA mode", {LoraMode::Auto, "auto"}, {LoraMode::Merge, "merge"},
          {LoraMode::OnTheFly, "on_the_fly"})
GEN_NAMES(WeightsMode, "weights mode", {WeightsMode::Auto, "auto"}, {WeightsMode::Wide, "wide"},
          {WeightsMode::Offload, "offload"})
#undef GEN_NAMES

// The name of `value` ("euler_a").
template <class E>
constexpr const char* name_of(E value) noexcept {
  for (const auto& [v, n] : Names<E>::table)
    if (v == value) return n;
  return "?";
}
// The value named `name`, or nullopt.
template <class E>
constexpr std::optional<E> enum_from_name(std::string_view name) noexcept {
  for (const auto& [v, n] : Names<E>::table)
    if (name == n) return v;
  return std::nullopt;
}
// "a, b or c" (the empty name shown as "\"\"").
template <class E>
std::string names_text() {
  std::string out;
  const std::size_t count = std::size(Names<E>::table);
  for (std::size_t i = 0; i < count; ++i) {
    const std::string n = Names<E>::table[i].second;
    out += (i == 0 ? "" : i + 1 == count ? " or " : ", ") + (n.empty() ? std::string("\"\"") : n);
  }
  return out;
}

// ---------------------------------------------------------------- the fields

// A closed range (and step) of a numeric field. GEN_ANY: no range.
#define GEN_RANGE(lo, hi, multiple) (lo), (hi), (multiple)
#define GEN_ANY 0, 0, 0

// X(type, name, default, CLI spelling, help, A1111 infotext key, range).
// CLI spelling "": not a command-line option. Infotext "": not in the A1111 text.
#define GEN_REQUEST_FIELDS(X)                                                                                   \
  X(std::string, prompt, "", "-p,--prompt", "What to draw (A1111 syntax: (word:1.2), [word], BREAK)", "", GEN_ANY) \
  X(std::string, negative_prompt, "", "-n,--negative-prompt", "What to avoid", "Negative prompt", GEN_ANY)      \
  X(PromptSyntax, prompt_syntax, PromptSyntax::A1111, "--prompt-syntax",                                       \
    "a1111 (emphasis, BREAK) or plain (the text as is, as diffusers)", "", GEN_ANY)                             \
  X(TextCleanup, text_cleanup, TextCleanup::Auto, "--text-cleanup",                                            \
    "auto (diffusers folder: NFC as transformers 5; CLIP vocabulary: ftfy as A1111), ftfy or nfc", "", GEN_ANY) \
  X(int, steps, 20, "--steps", "Sampling steps", "Steps", GEN_RANGE(1, 1000, 0))                                \
  X(Sampler, sampler, Sampler::Euler, "--sampler,--sampling-method",                                          \
    "The sampler (also as A1111 and stable-diffusion.cpp name it: \"DPM++ 2M Karras\", dpm++2m)", "Sampler", GEN_ANY) \
  X(Schedule, scheduler, Schedule::Auto, "--scheduler",                                                       \
    "Noise schedule: auto (the model folder's scheduler config), normal or karras", "", GEN_ANY)               \
  X(double, cfg_scale, 7.5, "--cfg-scale,--cfg", "Classifier-free guidance scale (1 turns guidance off)", "CFG scale", \
    GEN_RANGE(0, 100, 0))                                                                                       \
  X(std::optional<std::uint64_t>, seed, std::nullopt, "-s,--seed",                                                 \
    "Seed (random when omitted or -1; image i of a batch uses seed + i)", "Seed", GEN_ANY)                      \
  X(int, width, 512, "-W,--width", "Image width, a multiple of 8", "Size", GEN_RANGE(8, 16384, 8))              \
  X(int, height, 512, "-H,--height", "Image height, a multiple of 8", "", GEN_RANGE(8, 16384, 8))               \
  X(int, batch_size, 1, "--batch-size", "Images per batch (denoised together)", "Batch size", GEN_RANGE(1, 64, 0)) \
  X(int, batch_count, 1, "-b,--batch-count", "Batches, one after the other", "", GEN_RANGE(1, 100000, 0))          \
  X(int, clip_skip, 0, "--clip-skip", "A1111 clip skip (1 = last layer; 0 = the model's default)", "Clip skip", \
    GEN_RANGE(0, 12, 0))                                                                                        \
  X(double, eta, 0.0, "--eta", "DDIM eta", "Eta", GEN_RANGE(0, 1, 0))                                           \
  X(std::string, model, "", "-m,--model", "Checkpoint (.safetensors) or diffusers folder", "", GEN_ANY)         \
  X(std::string, vae, "", "--vae", "A VAE replacing the model's", "", GEN_ANY)                                  \
  X(std::string, model_config, "", "--config",                                                                 \
    "The LDM model config (.yaml) of a single-file model (default: the .yaml beside it)", "", GEN_ANY)           \
  X(std::string, vocab, "", "--vocab", "CLIP vocabulary: bpe_simple_vocab_16e6.txt.gz or a tokenizer/ folder", \
    "", GEN_ANY)                                                                                                \
  X(std::string, lora_dir, "", "--lora-dir",                                                                   \
    "Where <lora:NAME:...> prompt tags and --lora NAME find files (default: $GEN_LORA_DIR)", "", GEN_ANY)        \
  X(std::string, annotator_dir, "", "--annotator-dir",                                                         \
    "Where annotators (--preprocess hed, pidinet, lineart, ...) find their weights (default: $GEN_ANNOTATOR_DIR)", \
    "", GEN_ANY)                                                                                                \
  X(std::string, embeddings_dir, "", "--embeddings-dir",                                                       \
    "Where prompt words find textual-inversion embeddings by file name (default: $GEN_EMBEDDINGS_DIR)", "",      \
    GEN_ANY)                                                                                                    \
  X(LoraMode, lora_mode, LoraMode::Auto, "--lora-mode",                                                        \
    "How LoRAs are applied: auto, merge (into the weights) or on_the_fly (beside each layer)", "", GEN_ANY)     \
  X(bool, lora_lenient, false, "--lora-lenient",                                                               \
    "Skip LoRA modules that match no layer (one warning line) instead of refusing the file", "", GEN_ANY)       \
  X(PredictionType, prediction, PredictionType::FromModel, "--prediction",                                     \
    "epsilon or v_prediction (default: from the model)", "", GEN_ANY)                                           \
  X(Device, device, Device::Auto, "--device", "auto, cpu or cuda", "", GEN_ANY)                                 \
  X(Precision, dtype, Precision::Auto, "--dtype", "auto (fp16 on CUDA, fp32 on the CPU), fp32, fp16 or bf16",   \
    "", GEN_ANY)                                                                                                \
  X(Rng, rng, Rng::Cpu, "--rng", "Noise stream: cpu (torch's CPU generator, as diffusers)", "", GEN_ANY)        \
  X(bool, guess_mode, false, "--guess-mode", "ControlNets see only the conditional half (diffusers guess mode)", \
    "", GEN_ANY)                                                                                                \
  X(ControlMode, control_mode, ControlMode::Balanced, "--control-mode", "balanced, prompt or control (A1111)",  \
    "", GEN_ANY)                                                                                                \
  X(TilingMode, vae_tiling, TilingMode::Auto, "--vae-tiling",                                                  \
    "VAE decode in tiles: auto (when it would not fit), on, off, exact, blended", "", GEN_ANY)                   \
  X(std::string, init_image, "", "-i,--init-image,--init-img",                                                 \
    "Start from this image: image-to-image, or inpainting with --mask (docs/editing.md)", "", GEN_ANY)            \
  X(double, strength, 0.75, "--strength",                                                                        \
    "How much of the init image is repainted, 0 < S <= 1 (1: from noise)", "Denoising strength",                 \
    GEN_RANGE(0, 1, 0))                                                                                         \
  X(StrengthSteps, strength_steps, StrengthSteps::Diffusers, "--strength-steps",                               \
    "Steps run for a strength: diffusers (int(N*S) of N), a1111 (int(N*S)+1 of N) or a1111_fixed (N)", "",      \
    GEN_ANY)                                                                                                    \
  X(ResizeMode, init_resize, ResizeMode::Just, "--init-resize",                                                \
    "How the init image and mask meet the size: just, crop or fill", "", GEN_ANY)                               \
  X(std::string, mask, "", "--mask", "Inpainting mask: white = repaint (grey is binarised at 50%)", "", GEN_ANY) \
  X(bool, mask_from_alpha, false, "--mask-from-alpha",                                                         \
    "The mask is the init image's transparency (transparent = repaint)", "", GEN_ANY)                           \
  X(bool, invert_mask, false, "--invert-mask", "Repaint the black part of the mask instead", "Mask mode", GEN_ANY)        \
  X(int, mask_blur, 0, "--mask-blur", "A1111 mask blur (pixels) of the final overlay", "Mask blur",               \
    GEN_RANGE(0, 64, 0))                                                                                        \
  X(bool, overlay, false, "--overlay",                                                                         \
    "Paste the init image back over the result outside the (blurred) mask, as A1111 does", "", GEN_ANY)         \
  X(InpaintArea, inpaint_area, InpaintArea::Whole, "--inpaint-area",                                           \
    "whole (the picture) or masked (the mask's box + --mask-padding, pasted back)", "Inpaint area", GEN_ANY)                 \
  X(int, mask_padding, 32, "--mask-padding", "Pixels around the mask's box with --inpaint-area masked",         \
    "Masked area padding",                                                                                      \
    GEN_RANGE(0, 4096, 0))                                                                                      \
  X(InpaintFill, inpaint_fill, InpaintFill::Original, "--inpaint-fill",                                        \
    "How the masked area starts: original, fill, latent_noise or latent_nothing", "Masked content", GEN_ANY)                   \
  X(InpaintBlend, inpaint_blend, InpaintBlend::Diffusers, "--inpaint-blend",                                  \
    "How the kept area is held: diffusers (noised init latents after each step) or a1111 (denoised blend)", "",  \
    GEN_ANY)                                                                                                    \
  X(std::string, outpaint, "", "--outpaint",                                                                     \
    "Extend the init image and paint the new area: left:L,right:R,top:T,bottom:B (pixels)", "", GEN_ANY)         \
  X(std::string, outpaint_fill, "edge", "--outpaint-fill",                                                      \
    "The new pixels before painting: edge, mirror, matched[:Q[:C]] (A1111 mk2 noise) or #rrggbb", "", GEN_ANY)  \
  X(double, hires_scale, 0.0, "--hires-scale",                                                                  \
    "Hires fix: render, upscale by this factor, then denoise again (0: off)", "Hires upscale",                   \
    GEN_RANGE(0, 8, 0))                                                                                         \
  X(int, hires_width, 0, "--hires-width", "Hires fix: the target width instead of a scale (0: from the height)", \
    "", GEN_RANGE(0, 16384, 0))                                                                                 \
  X(int, hires_height, 0, "--hires-height", "Hires fix: the target height (0: from the width)", "",              \
    GEN_RANGE(0, 16384, 0))                                                                                     \
  X(HiresUpscaler, hires_upscaler, HiresUpscaler::Latent, "--hires-upscaler",                                  \
    "latent, latent_antialiased, latent_bicubic(_antialiased), latent_nearest(_exact) or lanczos",               \
    "Hires upscaler", GEN_ANY)                                                                                  \
  X(std::string, hires_upscaler_model, "", "--hires-upscaler-model",                                           \
    "Hires fix: an ESRGAN-family upscaler (.pth / .safetensors, or its name in --upscaler-dir) instead of "      \
    "--hires-upscaler (docs/upscalers.md)", "", GEN_ANY)                                                         \
  X(int, hires_steps, 0, "--hires-steps", "Hires fix: steps of the second pass (0: --steps)", "Hires steps",    \
    GEN_RANGE(0, 1000, 0))                                                                                      \
  X(double, hires_strength, 0.7, "--hires-strength", "Hires fix: the second pass's denoising strength", "",    \
    GEN_RANGE(0, 1, 0))                                                                                         \
  X(std::string, hires_sampler, "", "--hires-sampler", "Hires fix: the second pass's sampler (default: --sampler)", \
    "", GEN_ANY)                                                                                                \
  X(std::string, hires_prompt, "", "--hires-prompt", "Hires fix: the second pass's prompt (default: --prompt)", \
    "", GEN_ANY)                                                                                                \
  X(std::string, hires_negative_prompt, "", "--hires-negative-prompt",                                         \
    "Hires fix: the second pass's negative prompt (default: --negative-prompt)", "", GEN_ANY)                    \
  X(std::string, original_size, "", "--original-size",                                                          \
    "SDXL: the original image size the UNet is told, WIDTHxHEIGHT (default: the output size)", "", GEN_ANY)     \
  X(std::string, crop, "", "--crop",                                                                            \
    "SDXL: the crop's top-left corner the UNet is told, TOP,LEFT in pixels (default: 0,0)", "", GEN_ANY)        \
  X(std::string, target_size, "", "--target-size",                                                              \
    "SDXL: the target size the UNet is told, WIDTHxHEIGHT (default: the output size)", "", GEN_ANY)             \
  X(std::string, negative_original_size, "", "--negative-original-size",                                        \
    "SDXL: --original-size of the negative half (default: --original-size)", "", GEN_ANY)                        \
  X(std::string, negative_crop, "", "--negative-crop", "SDXL: --crop of the negative half (default: --crop)", "", \
    GEN_ANY)                                                                                                    \
  X(std::string, negative_target_size, "", "--negative-target-size",                                            \
    "SDXL: --target-size of the negative half (default: --target-size)", "", GEN_ANY)                            \
  X(double, aesthetic_score, 6.0, "--aesthetic-score",                                                          \
    "SDXL refiner: the aesthetic score the UNet is told (diffusers' aesthetic_score)", "", GEN_RANGE(0, 10, 0))  \
  X(double, negative_aesthetic_score, 2.5, "--negative-aesthetic-score",                                        \
    "SDXL refiner: the negative half's aesthetic score", "", GEN_RANGE(0, 10, 0))                                \
  X(std::string, refiner, "", "--refiner",                                                                      \
    "SDXL: a refiner (or any SDXL model) that takes over the base's latents at --refiner-switch "               \
    "(docs/sdxl.md)", "Refiner", GEN_ANY)                                                                       \
  X(double, refiner_switch, 0.8, "--refiner-switch",                                                            \
    "The fraction of the denoising the base does before the refiner takes over, 0 < F < 1 (diffusers' "         \
    "denoising_end / denoising_start)", "Refiner switch at", GEN_RANGE(0, 1, 0))

// One ControlNet group: X(...) as above. The CLI's --control starts a group; the options
// after it set that group's fields.
#define GEN_CONTROL_FIELDS(X)                                                                                  \
  X(std::string, model, "", "--control,--control-net", "ControlNet weights; starts a ControlNet group (repeatable)", "Model",  \
    GEN_ANY)                                                                                                    \
  X(std::string, image, "", "--control-image", "The group's control image (PNG/JPEG)", "", GEN_ANY)             \
  X(double, scale, 1.0, "--control-scale,--control-strength", "The group's conditioning scale", "Weight", GEN_RANGE(0, 10, 0))     \
  X(double, start, 0.0, "--control-start", "Fraction of the steps where the group starts", "Guidance Start",    \
    GEN_RANGE(0, 1, 0))                                                                                         \
  X(double, end, 1.0, "--control-end", "Fraction of the steps where the group stops", "Guidance End",           \
    GEN_RANGE(0, 1, 0))                                                                                         \
  X(std::string, preprocess, "none", "--preprocess",                                                           \
    "The group's preprocessor: none, canny:LOW:HIGH, invert, threshold:T, tile_resample:R, or an annotator "    \
    "(hed[:safe][:scribble], pidinet, lineart, lineart_coarse, lineart_anime, lineart_standard, mlsd, "        \
    "openpose[_hand|_face|_full], depth_anything, shuffle, color; docs/preprocessors.md)", "Module", GEN_ANY)     \
  X(ResizeMode, resize, ResizeMode::Just, "--control-resize",                                                  \
    "just, crop or fill (before any --control: every group's)", "Resize Mode", GEN_ANY)                         \
  X(bool, global_pool, false, "--control-pool",                                                                \
    "Shuffle model as an LDM file: residuals averaged over the image, conditional half only", \
    "", GEN_ANY)                                                                                                \
  X(int, preprocess_resolution, 512, "--preprocess-resolution",                                               \
    "The group's annotator resolution: the photo's short side for detection and the map's (64-4096)", "",      \
    GEN_RANGE(64, 4096, 0))                                                                                     \
  X(std::string, task, "", "--control-task",                                                                   \
    "A UniControl group's task (hed, canny, seg, depth, normal, openpose, hedsketch, bbox, outpainting, "       \
    "grayscale, blur, inpainting) or a mix NAME:W,NAME:W (docs/unicontrol.md)", "UniControl Task", GEN_ANY)    \
  X(std::string, type, "", "--control-type",                                                                   \
    "A ControlNet Union group's control type: openpose, depth, hed/pidi/scribble/ted, "                          \
    "canny/lineart/anime_lineart/mlsd, normal, segment, tile, repaint (or the index); repeated in a group, the "  \
    "n-th --control-type, --control-image, --preprocess and --preprocess-resolution form the n-th condition "    \
    "(docs/controlnet.md)", "", GEN_ANY)

// One T2I-Adapter group (docs/t2i_adapter.md): X(...) as above. The CLI's --adapter starts a
// group; --adapter-image and --adapter-scale after it set that group's fields.
#define GEN_ADAPTER_FIELDS(X)                                                                                  \
  X(std::string, model, "", "--adapter",                                                                       \
    "T2I-Adapter weights (TencentARC .pth / .safetensors or a diffusers T2IAdapter folder); starts an adapter " \
    "group (repeatable)", "Model", GEN_ANY)                                                                     \
  X(std::string, image, "", "--adapter-image", "The adapter group's control image (PNG/JPEG)", "", GEN_ANY)    \
  X(double, scale, 1.0, "--adapter-scale", "The adapter group's conditioning scale", "Weight", GEN_RANGE(0, 10, 0))

#define GEN_FIELD_MEMBER(type, name, def, ...) type name = def;

// One LoRA / LyCORIS file applied to the request's models (docs/adapters.md). The CLI's
// --lora FILE[:WEIGHT[:TE_WEIGHT]]; prompt tags <lora:NAME:TE[:UNET]> add more.
struct LoraRequest {
  std::string file;                 // a path, or a name (file stem) looked up in lora_dir
  double weight = 1.0;              // the UNet's (and ControlNets') multiplier
  std::optional<double> te_weight;  // the text encoder's (default: weight)
};

struct ControlRequest {
  GEN_CONTROL_FIELDS(GEN_FIELD_MEMBER)
  // The control image in memory, used instead of the `image` file when not empty (any
  // channels and depth gen::to_rgb8 takes). Not part of the JSON form.
  Image pixels;
  // A ControlNet Union group's further conditions, after the group's own (type, image): each
  // sets type, image (or pixels), preprocess and preprocess_resolution only; the group's
  // model, scale, start, end and resize hold for all (JSON key "conditions").
  std::vector<ControlRequest> conditions;
};

struct AdapterRequest {
  GEN_ADAPTER_FIELDS(GEN_FIELD_MEMBER)
  // The control image in memory, used instead of the `image` file when not empty. Not part of
  // the JSON form.
  Image pixels;
};

struct Request {
  // 1.1 added the editing fields (init_image, strength, mask, ...), 1.2 the adapters (loras,
  // lora_dir, embeddings, embeddings_dir, ...) and hires_upscaler_model, 1.3 SDXL's (the
  // micro-conditioning sizes, aesthetic scores, refiner, refiner_switch), the T2I-Adapter
  // groups ("adapters"), UniControl's controls[].task and the ControlNet Union's controls[].type
  // and controls[].conditions; "gen.request/1", "/1.1" and "/1.2"
  // files are still read (a field a file lacks has its default).
  static constexpr const char* kSchema = "gen.request/1.3";
  GEN_REQUEST_FIELDS(GEN_FIELD_MEMBER)
  std::vector<ControlRequest> controls;
  std::vector<AdapterRequest> adapters;  // T2I-Adapters (JSON key "adapters")
  std::vector<LoraRequest> loras;
  // Textual-inversion embedding files the prompts may name by file name (besides those of
  // embeddings_dir; docs/embeddings.md). The CLI's --embedding FILE.
  std::vector<std::string> embeddings;
  // The init image and the mask in memory, used instead of the `init_image` / `mask` files
  // when not empty (any channels and depth). Not part of the JSON form.
  Image init_pixels;
  Image mask_pixels;

  // An editing request: it starts from an init image (in memory or a file).
  bool has_init_image() const noexcept { return !init_image.empty() || !init_pixels.empty(); }
  // A hires-fix request (a second pass at a larger size).
  bool has_hires() const noexcept { return hires_scale > 0 || hires_width > 0 || hires_height > 0; }
  bool has_mask() const noexcept {
    return !mask.empty() || !mask_pixels.empty() || mask_from_alpha || !outpaint.empty();
  }

  // Throws gen::Error (InvalidArgument) naming the field for an impossible value.
  GEN_API void validate() const;
  // The versioned JSON text of this request.
  GEN_API std::string to_json() const;
  // Strict: unknown keys, wrong types and bad values are refused (gen::Error naming `subject`).
  // A legacy "output" key (gen 0.1 wrote one) is read and ignored: where images go is the
  // caller's choice, never the request's.
  GEN_API static Request from_json(const std::string& text, const std::string& subject = "request");
};
#undef GEN_FIELD_MEMBER

// What the tables say about one field, for programs that list, document or set fields
// by name (gen's CLI builds its options from these).
struct FieldInfo {
  enum class Type { Text, Integer, Number, Flag, Choice, Seed };
  std::string name;           // JSON key
  Type type = Type::Text;
  std::string cli;            // CLI11 spelling, e.g. "-W,--width" ("" when not an option)
  std::string help;
  std::string infotext;       // the A1111 infotext key ("" when not written)
  double min = 0, max = 0;    // Integer, Number (min == max: unbounded)
  int multiple = 0;           // Integer: must be a multiple of this (0: any)
  std::vector<std::string> choices;  // Choice: the names
  std::string default_text;   // the default, as text
};
GEN_API const std::vector<FieldInfo>& request_fields();
GEN_API const std::vector<FieldInfo>& control_fields();
GEN_API const std::vector<FieldInfo>& adapter_fields();

// Sets a field from text as the CLI spells values ("512", "euler_a", "true"); for the seed,
// "-1" means random. Throws InvalidArgument naming `subject` (default: the field) for an
// unknown field, a malformed value or one out of range.
GEN_API void set_field(Request& request, const std::string& name, const std::string& text,
                       const std::string& subject = "");
GEN_API void set_field(ControlRequest& control, const std::string& name, const std::string& text,
                       const std::string& subject = "");
// A field's value as text ("" for an unset seed).
GEN_API std::string field_text(const Request& request, const std::string& name);
GEN_API std::string field_text(const ControlRequest& control, const std::string& name);
GEN_API void set_field(AdapterRequest& adapter, const std::string& name, const std::string& text,
                       const std::string& subject = "");
GEN_API std::string field_text(const AdapterRequest& adapter, const std::string& name);

// A random seed (32 bits, as A1111 draws them).
GEN_API std::uint64_t random_seed();

}  // namespace gen
