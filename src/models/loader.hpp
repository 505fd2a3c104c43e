// gen — fills a module's parameters from a checkpoint by name.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <functional>
#include <map>
#include <string>

#include "gen/safetensors.hpp"
#include "models/module.hpp"

namespace gen::models {

struct LoadOptions {
  std::string prefix;  // checkpoint name = prefix + parameter name
  at::ScalarType dtype = at::kFloat;
  // With `dtype` F32: keep F16 and BF16 tensors as they are stored, half the memory;
  // the layers widen them to the activations' dtype on use (models::as_dtype_of),
  // which is exact, so the results are those of F32 weights.
  bool keep_16bit = false;
  c10::Device device = c10::Device(c10::kCPU);
  // Maps a parameter's (LDM) name to the checkpoint's name; identity when empty.
  std::function<std::string(const std::string&)> rename;
  // Checkpoint names under `prefix` that no parameter consumes are an error
  // unless this is false (e.g. a single file holding several models).
  bool strict_unexpected = true;
  // Checkpoint names never reported as unexpected (buffers such as position_ids).
  std::function<bool(const std::string&)> ignore;
  // Accept a stored tensor whose shape is the parameter's without its trailing
  // 1-sized dimensions, and reshape it (diffusers stores the VAE attention's 1×1
  // convolutions as [C, C] linear weights).
  bool reshape_trailing_ones = false;
};

// Loads every parameter straight to the target dtype and device (no f32 copy of
// the whole model). Every missing, mis-shaped, unexpected and non-floating-point
// (integer, boolean, complex) tensor is listed in one ModelMismatch error naming
// `subject`.
void load_weights(Module& module, const SafetensorsCheckpoint& checkpoint, const LoadOptions& options,
                  const std::string& subject);
// The same from tensors already in memory (a small file read whole, tensor/tensor_file.hpp),
// with the same checks and messages.
void load_weights(Module& module, const std::map<std::string, at::Tensor>& tensors, const LoadOptions& options,
                  const std::string& subject);

}  // namespace gen::models
