// gen — one generation request: every setting with its default. The same schema is
// used by the CLI options, job files (`gen batch`, one request per line) and the
// metadata gen writes into its PNGs; its JSON form is versioned ("gen.request/1").
// No libtorch or JSON library types: this header is part of the public API.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace gen {

struct ControlRequest {
  std::string model;                // ControlNet weights (file or folder)
  std::string image;                // control image (PNG/JPEG)
  double scale = 1.0;               // 0..10
  double start = 0.0;               // fraction of the steps where it starts acting, 0..1
  double end = 1.0;                 // … and stops (start <= end)
  std::string preprocess = "none";  // none | canny:LOW:HIGH | invert | threshold:T
  std::string resize = "just";      // just | crop | fill
  bool global_pool = false;         // average residuals over H×W (shuffle-style models)
};

struct Request {
  static constexpr const char* kSchema = "gen.request/1";
  std::string prompt;
  std::string negative_prompt;
  std::string prompt_syntax = "a1111";  // a1111: (word:1.2), [word], BREAK; plain: the text as is (as diffusers)
  // Tokenizer text clean-up: auto (a diffusers tokenizer folder: NFC as transformers 5 does;
  // the bare CLIP vocabulary: ftfy + whitespace, as A1111 / original CLIP), ftfy, nfc.
  std::string text_cleanup = "auto";
  int width = 512;                    // 8..16384, a multiple of 8
  int height = 512;
  int steps = 20;                     // 1..1000
  double cfg_scale = 7.5;             // 0..100; 1 (or 0) turns guidance off
  std::optional<std::uint64_t> seed;  // random when absent; image i of a batch uses seed + i
  std::string sampler = "euler";      // ddim, euler, euler_a, heun, lms, pndm, dpmpp_2m, dpmpp_2m_sde, unipc, lcm
  std::string scheduler = "normal";   // normal | karras
  double eta = 0.0;                   // DDIM, 0..1
  int batch_size = 1;                 // images denoised together, 1..64
  int batch_count = 1;                // batches one after the other
  int clip_skip = 0;                  // 0: the model's default; n: leave out n−1 final layers (A1111 numbering)
  std::string model;                  // checkpoint file or diffusers folder
  std::string vae;                    // optional VAE replacing the model's
  std::string vocab;                  // CLIP vocabulary (bpe_simple_vocab_16e6.txt.gz or a tokenizer/ folder)
  std::string prediction;             // "" (from the model), epsilon, v_prediction
  std::string device = "auto";        // auto | cpu | cuda
  std::string dtype = "auto";         // auto | fp32 | fp16 | bf16 (auto: fp16 on CUDA, fp32 on CPU)
  std::string rng = "cpu";            // the noise stream: cpu (torch CPU generator, as diffusers)
  // Output file pattern: {index}, {seed}, {batch}, {n} (and {job} in a job file).
  std::string output = "gen-{index}-{seed}.png";
  std::vector<ControlRequest> controls;
  bool guess_mode = false;
  std::string control_mode = "balanced";  // balanced | prompt | control
  // VAE decode in tiles: auto (only when the whole image would not fit in memory), on, off,
  // exact or blended (on, with that method; on picks exact when it fits). Exact tiles give
  // the untiled image to rounding; blended tiles need the least memory (docs/cli.md).
  std::string vae_tiling = "auto";

  // Throws gen::Error (InvalidArgument) naming the field for an impossible value.
  void validate() const;
  // The versioned JSON text of this request.
  std::string to_json() const;
  // Strict: unknown keys, wrong types and bad values are refused (gen::Error naming `subject`).
  static Request from_json(const std::string& text, const std::string& subject = "request");
  // The A1111 "parameters" text (prompt, negative, then "Steps: …, Sampler: …").
  std::string a1111_parameters(std::uint64_t seed, int index_in_batch) const;
};

// A random seed (32 bits, as A1111 draws them).
std::uint64_t random_seed();

// The A1111 sampler label of a gen sampler name ("euler_a" → "Euler a").
std::string a1111_sampler_name(const std::string& sampler, const std::string& scheduler);

// The output path for image `index` (0-based over the whole request) with its seed:
// {index}, {seed}, {batch} (batch number), {n} (index within the batch) and {job} are replaced.
std::string output_path(const std::string& pattern, int index, std::uint64_t seed, int batch, int n,
                        const std::string& job = "");

}  // namespace gen
