// The dtypes of the safetensors format: names and element sizes.
#include <cstddef>
#include <string>

#include "gen/safetensors.hpp"
#include "io/safetensors_internal.hpp"

namespace gen {
namespace {

struct DTypeEntry {
  DType dtype;
  const char* name;
  std::size_t bits;
};

constexpr DTypeEntry kDTypes[] = {
    {DType::BOOL, "BOOL", 8},       {DType::U8, "U8", 8},
    {DType::I8, "I8", 8},           {DType::I16, "I16", 16},
    {DType::U16, "U16", 16},        {DType::I32, "I32", 32},
    {DType::U32, "U32", 32},        {DType::I64, "I64", 64},
    {DType::U64, "U64", 64},        {DType::F16, "F16", 16},
    {DType::BF16, "BF16", 16},      {DType::F32, "F32", 32},
    {DType::F64, "F64", 64},        {DType::F8_E4M3, "F8_E4M3", 8},
    {DType::F8_E5M2, "F8_E5M2", 8}, {DType::F8_E8M0, "F8_E8M0", 8},
    {DType::F6_E2M3, "F6_E2M3", 6}, {DType::F6_E3M2, "F6_E3M2", 6},
    {DType::F4, "F4", 4},           {DType::C64, "C64", 64},
    {DType::F8_E4M3FNUZ, "F8_E4M3FNUZ", 8},
    {DType::F8_E5M2FNUZ, "F8_E5M2FNUZ", 8},
};

const DTypeEntry* find(DType dtype) noexcept {
  for (const auto& e : kDTypes)
    if (e.dtype == dtype) return &e;
  return nullptr;
}

}  // namespace

const char* dtype_name(DType dtype) noexcept {
  const DTypeEntry* e = find(dtype);
  return e ? e->name : "?";
}

bool dtype_from_name(const std::string& name, DType& out) noexcept {
  for (const auto& e : kDTypes) {
    if (name == e.name) {
      out = e.dtype;
      return true;
    }
  }
  return false;
}

std::size_t dtype_bits(DType dtype) noexcept {
  const DTypeEntry* e = find(dtype);
  return e ? e->bits : 0;
}

std::string io::st::dtype_names_list() {
  std::string out;
  for (const auto& e : kDTypes) {
    if (!out.empty()) out += ", ";
    out += e.name;
  }
  return out;
}

}  // namespace gen
