// gen inspect: what a weight file or folder is, from its tensor names and shapes.
// Torch-free. `classify` (arch/classify.hpp) looks at names + shapes only; `inspect_path`
// opens a .safetensors file, a sharded index, a diffusers model or pipeline folder,
// classifies each set of weights it finds, and says whether gen's loaders accept it
// (judge_load, io/model_plan.hpp: the loaders' own rules). See docs/inspect.md for the
// JSON schema.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "arch/classify.hpp"
#include "gen/safetensors.hpp"
#include "io/model_plan.hpp"

namespace gen::io {

struct TensorEntry {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  std::uint64_t numel = 0;
  std::uint64_t nbytes = 0;
};

// Tensors summed per top-level prefix ("model.diffusion_model", "lora_unet", ...).
struct TensorGroup {
  std::string prefix;
  std::uint64_t tensors = 0, parameters = 0, bytes = 0;
};

struct InspectReport {
  std::string path;
  // "safetensors", "safetensors-sharded", "torch-pickle", "diffusers-model",
  // "diffusers-pipeline", "config-only" (a pipeline component without weights, e.g.
  // the scheduler) or "none" (a component without a folder).
  std::string format;
  std::string name;        // component name inside a pipeline ("unet"), else empty
  std::string library;     // from model_index.json: "diffusers", "transformers"
  std::string class_name;  // from model_index.json / config.json: "UNet2DConditionModel"
  std::string status = "ok";  // pipeline components: "ok", "missing", "not-included"
  ModelReport model;
  std::vector<std::string> files;         // weight files read
  std::vector<TensorEntry> tensors;       // sorted by name
  std::vector<TensorGroup> groups;        // sorted by prefix
  std::map<std::string, std::string> metadata;
  std::map<std::string, std::uint64_t> dtypes;  // dtype name → tensor count
  std::uint64_t tensor_count = 0;  // tensors (components included)
  std::uint64_t parameters = 0;  // elements of all tensors (components included)
  std::uint64_t bytes = 0;       // bytes of tensor data (components included)
  std::vector<InspectReport> components;  // pipeline folders
  LoadVerdict load;  // whether gen loads `path` (empty `as` in pipeline components: not judged)
};

// Inspects a file or folder (torch.save files through the non-executing reader).
// Throws gen::Error: NotFound (missing path, folder without weights), InvalidFormat
// (corrupt file or JSON), Unsupported (bare / legacy pickle, GGUF), UnsafeContent.
InspectReport inspect_path(const std::string& path);

// Builds a report from tensor entries (exposed for tests): sorts, sums, groups, classifies.
InspectReport make_report(const std::string& path, std::vector<TensorEntry> tensors,
                          std::map<std::string, std::string> metadata = {});

// The JSON document of docs/inspect.md ("schema": "gen.inspect/1"); with_tensors adds
// the per-tensor list. `indent` < 0 writes one line.
std::string inspect_json(const InspectReport& report, bool with_tensors, int indent = 2);

}  // namespace gen::io
