// gen — textual-inversion embedding files (docs/embeddings.md): the learned token vectors a
// prompt word stands for. One reader for the layouts in use, as A1111's
// textual_inversion.py (EmbeddingDatabase.load_from_file) and diffusers' load_textual_inversion
// tell them apart:
//   a1111      torch.save {'string_to_param': {'*': [n, C]}, 'string_to_token', 'name', 'step', ...}
//              (A1111's own training; the entries that are no tensors are dropped)
//   sdxl       {'clip_l': [n, 768], 'clip_g': [n, 1280]} (.safetensors)
//   single     one tensor and nothing else: kohya / A1111 `.safetensors` {'emb_params': [n, C]},
//              diffusers' learned_embeds.safetensors / .bin {'<token>': [C] or [n, C]}
// .safetensors files are read by the strict reader, .pt / .bin only by the non-executing
// pickle reader (tensor/tensor_file.hpp). Vectors are float32 on the CPU.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>

namespace gen::adapters {

struct EmbeddingFile {
  std::string path;
  std::string name;    // the file name without its extension: the word a prompt uses (A1111)
  std::string layout;  // "a1111", "sdxl" or "single"
  // The vectors per text encoder, each [n, C] float32: "" for the one encoder of SD 1.x / 2.x
  // files; "clip_l" and "clip_g" for SDXL files.
  std::map<std::string, at::Tensor> vectors;
  std::int64_t count = 0;  // n, the prompt positions the embedding takes
  // The width A1111 compares with the model's: C, or the sum of the SDXL pair's (768 + 1280).
  std::int64_t width() const;
};

// Reads an embedding file. Errors (gen::Error naming the file): NotFound / Io; InvalidFormat (a
// corrupt file, no embedding tensor, several candidates, a tensor that is not [C] / [n, C] or
// not floating point, NaN or infinite values, an SDXL pair of different lengths);
// UnsafeContent (a pickle holding more than tensors and plain values, e.g. a pickled
// nn.ParameterDict); Unsupported (a dtype libtorch cannot hold, the legacy torch.save format).
EmbeddingFile read_embedding_file(const std::string& path);

// The same from tensors already in memory (`path` names them in messages and gives the name).
EmbeddingFile parse_embedding_tensors(const std::string& path, const std::map<std::string, at::Tensor>& tensors);

// The [n, C] vectors for a text encoder of `width` (SD 1.x: 768, SD 2.x: 1024). ModelMismatch
// naming the file, its width and the model's when they differ (A1111 skips such files).
const at::Tensor& vectors_for(const EmbeddingFile& file, std::int64_t width, const std::string& model);

// SDXL: the [n, C] vectors for each text encoder, {clip_l, clip_g}, from an SDXL file
// (A1111's and diffusers' one vector set per encoder). `width1` is the first encoder's width
// (0: the model has none, a refiner; clip_l is then undefined), `width2` the second's.
// ModelMismatch naming the file and both widths for a file of one vector set (SD 1.x / 2.x)
// or of other widths.
std::pair<at::Tensor, at::Tensor> sdxl_vectors_for(const EmbeddingFile& file, std::int64_t width1, std::int64_t width2,
                                                   const std::string& model);

// A1111's short hash of an embedding file (the `TI hashes` infotext field): the first 12 hex
// digits of the SHA-256 of the whole file. Cached by path, size and modification time.
std::string embedding_short_hash(const std::string& path);

}  // namespace gen::adapters
