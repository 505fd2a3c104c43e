#include "tensor/from_safetensors.hpp"

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include <ATen/ATen.h>

#include "core/fail.hpp"
#include "io/mapped_file.hpp"
#include "io/safetensors_internal.hpp"

namespace gen {

bool torch_dtype(DType dtype, c10::ScalarType& out) noexcept {
  switch (dtype) {
    case DType::F32: out = c10::ScalarType::Float; return true;
    case DType::F16: out = c10::ScalarType::Half; return true;
    case DType::BF16: out = c10::ScalarType::BFloat16; return true;
    case DType::F64: out = c10::ScalarType::Double; return true;
    case DType::I64: out = c10::ScalarType::Long; return true;
    case DType::I32: out = c10::ScalarType::Int; return true;
    case DType::I16: out = c10::ScalarType::Short; return true;
    case DType::I8: out = c10::ScalarType::Char; return true;
    case DType::U8: out = c10::ScalarType::Byte; return true;
    case DType::BOOL: out = c10::ScalarType::Bool; return true;
    case DType::F8_E4M3: out = c10::ScalarType::Float8_e4m3fn; return true;
    case DType::F8_E5M2: out = c10::ScalarType::Float8_e5m2; return true;
    case DType::C64: out = c10::ScalarType::ComplexFloat; return true;
    default: return false;
  }
}

at::Tensor view_tensor(const SafetensorsCheckpoint& checkpoint, const std::string& name) {
  const TensorInfo& info = checkpoint.info(name);  // NotFound if absent
  c10::ScalarType type;
  if (!torch_dtype(info.dtype, type))
    fail(ErrorCode::Unsupported, checkpoint.path(),
         "tensor " + io::st::quote(name) + " has dtype " + dtype_name(info.dtype) + ", which torch cannot hold");
  void* data = checkpoint.data(name);
  const auto bytes = static_cast<std::size_t>(info.nbytes());
  if (info.dtype == DType::BOOL) {
    const auto* b = static_cast<const std::uint8_t*>(data);
    for (std::size_t i = 0; i < bytes; ++i)
      if (b[i] > 1)
        fail(ErrorCode::InvalidFormat, checkpoint.path(),
             "tensor " + io::st::quote(name) + " is BOOL but holds the byte " + std::to_string(b[i]) +
                 " (only 0 and 1 are booleans)");
  }
  const std::vector<std::int64_t> sizes(info.shape.begin(), info.shape.end());
  const auto options = at::TensorOptions().dtype(type).device(at::kCPU);
  const std::size_t elem = dtype_bits(info.dtype) / 8;
  if (elem > 1 && reinterpret_cast<std::uintptr_t>(data) % elem != 0) {
    at::Tensor copy = at::empty(sizes, options);
    if (bytes) std::memcpy(copy.data_ptr(), data, bytes);
    return copy;
  }
  std::shared_ptr<io::MappedFile> keep = checkpoint.mapping(name);
  return at::from_blob(data, sizes, [keep](void*) mutable { keep.reset(); }, options);
}

at::Tensor load_tensor(const SafetensorsCheckpoint& checkpoint, const std::string& name,
                       c10::ScalarType dtype, c10::Device device) {
  at::Tensor view = view_tensor(checkpoint, name);
  at::Tensor out;
  if (device.is_cpu()) {
    out = view.to(dtype, /*non_blocking=*/false, /*copy=*/true);
  } else {
    // Move the smaller stored form, then convert on the device.
    at::Tensor moved = view.to(device, view.scalar_type(), false, /*copy=*/true);
    out = moved.scalar_type() == dtype ? moved : moved.to(dtype);
  }
  // The copy is made: the mapped pages need not count in the resident memory beside it.
  checkpoint.mapping(name)->release(checkpoint.data(name), static_cast<std::size_t>(checkpoint.info(name).nbytes()));
  return out;
}

}  // namespace gen
