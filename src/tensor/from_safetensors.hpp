// libtorch tensors on top of safetensors checkpoints.
#pragma once

#include <string>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "gen/safetensors.hpp"

namespace gen {

// The torch dtype of a safetensors dtype; false for those torch cannot hold
// (U16/U32/U64, F8_E8M0, F6_*, F4, the FNUZ F8s).
bool torch_dtype(DType dtype, c10::ScalarType& out) noexcept;

// A CPU tensor over the mapped bytes, without copying; it keeps the mapping alive.
// The mapping is copy-on-write, so writing to the tensor never changes the file.
// Data that is not aligned to its element size (a file from a writer that does
// not align) is copied instead. Throws NotFound (no such tensor), Unsupported
// (a dtype torch cannot hold), InvalidFormat (BOOL bytes other than 0 and 1).
at::Tensor view_tensor(const SafetensorsCheckpoint& checkpoint, const std::string& name);

// A tensor owning its memory, converted to `dtype` on `device`. Copies once from
// the mapping (to the device in the stored dtype, then converts there).
at::Tensor load_tensor(const SafetensorsCheckpoint& checkpoint, const std::string& name,
                       c10::ScalarType dtype, c10::Device device);

}  // namespace gen
