// `gen convert`: a torch.save checkpoint (read without executing it, see
// torch_checkpoint.hpp) or a .safetensors file → a .safetensors file, keeping only
// tensors, optionally only those under a name prefix, optionally cast to fp16/bf16.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "gen/safetensors.hpp"
#include "io/torch_checkpoint.hpp"

namespace gen::io {

enum class TargetDType { Keep, F16, BF16 };

struct ConvertOptions {
  std::string prefix;         // keep only tensors whose name starts with this (plain string prefix)
  bool strip_prefix = false;  // and remove it from their names
  TargetDType dtype = TargetDType::Keep;  // cast floating tensors (F16, BF16, F32, F64) to this
};

struct ConvertSummary {
  std::string input_format;    // "torch zip" or "safetensors"
  std::string root;            // wrapper key descended into ("state_dict"), or ""
  std::size_t tensors = 0;     // written
  std::size_t outside_prefix = 0;  // tensors left out by the prefix
  std::size_t cast = 0;        // tensors whose dtype changed
  std::uint64_t overflowed = 0;  // finite values that became ±inf when cast to fp16
  std::uint64_t bytes_in = 0;  // tensor bytes kept, before casting
  std::uint64_t bytes_out = 0; // tensor bytes written
  std::map<DType, std::size_t> dtypes;   // tensors written, by output dtype
  std::vector<DroppedEntry> dropped;     // non-tensor entries left out
};

// Throws gen::Error: InvalidArgument (output not *.safetensors, output is the
// input, a prefix that matches nothing, a stripped name that becomes empty),
// NotFound (no tensors at all), and whatever reading the input raises.
// The output is written atomically: on failure nothing is left at `out_path`.
ConvertSummary convert_checkpoint(const std::string& in_path, const std::string& out_path,
                                  const ConvertOptions& options);

// Element conversions (round to nearest, ties to even, as PyTorch does; ±inf kept;
// a NaN becomes the quiet NaN with its sign: fp16 0x7E00, bf16 0x7FC0).
std::uint16_t f32_to_f16(float value) noexcept;
std::uint16_t f32_to_bf16(float value) noexcept;
float f16_to_f32(std::uint16_t bits) noexcept;
float bf16_to_f32(std::uint16_t bits) noexcept;

// Casts `count` elements of a floating dtype (F16, BF16, F32, F64) to F16 or BF16,
// writing 2 bytes per element to `out`. Returns how many finite inputs overflowed to
// ±inf. Unaligned pointers are fine.
std::uint64_t cast_floats(DType from, const void* in, std::size_t count, DType to, void* out) noexcept;

}  // namespace gen::io
