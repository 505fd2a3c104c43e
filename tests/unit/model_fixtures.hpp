// Helpers for the parity tests against the reference fixtures in tests/data/models
// (made by tools/make_model_fixtures.py from diffusers / transformers).
#pragma once

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <string>

#include "gen/safetensors.hpp"
#include "tensor/from_safetensors.hpp"

namespace gen::test {

inline std::string model_fixture(const std::string& name) {
  return std::string(GEN_TEST_DATA_DIR) + "/models/" + name;
}

inline nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

// Reference tensors of one fixture, as owned f32 CPU tensors.
struct Io {
  explicit Io(const std::string& name) : ckpt(SafetensorsCheckpoint::open(model_fixture(name + "_io.safetensors"))) {}
  at::Tensor operator[](const std::string& key) const {
    return load_tensor(ckpt, key, ckpt.info(key).dtype == DType::I64 ? at::kLong : at::kFloat, at::kCPU);
  }
  SafetensorsCheckpoint ckpt;
};

// max |got - want| / max |want|: the relative error the parity tests bound.
inline double relative_error(const at::Tensor& got, const at::Tensor& want) {
  EXPECT_EQ(got.sizes(), want.sizes());
  if (got.sizes() != want.sizes()) return 1e30;
  const double scale = want.abs().max().item<double>();
  return (got.to(at::kFloat) - want).abs().max().item<double>() / (scale > 0 ? scale : 1.0);
}

}  // namespace gen::test
