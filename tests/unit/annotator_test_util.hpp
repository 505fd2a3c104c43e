// What the annotator tests share: the devices they run on (the CPU always; CUDA where a GPU is
// there, in true fp32), and the comparison of an 8-bit map with the reference's.
#pragma once

#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/Context.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "gen/image.hpp"

namespace gen::test {

// The reference fixtures were made in fp32 on the CPU, and the tolerances are fp32's (1e-4
// relative). On CUDA, torch's default runs cuDNN convolutions in TF32 (10-bit mantissa), as it
// does for controlnet-aux: gen keeps that default (see docs/preprocessors.md, "On the GPU").
// The CUDA tests set fp32 for their scope, so a difference they find is gen's, not TF32's.
class StrictFp32 {
 public:
  StrictFp32()
      : cudnn_(at::globalContext().allowTF32CuDNN()), cublas_(at::globalContext().allowTF32CuBLAS()) {
    at::globalContext().setAllowTF32CuDNN(false);
    at::globalContext().setAllowTF32CuBLAS(false);
  }
  ~StrictFp32() {
    at::globalContext().setAllowTF32CuDNN(cudnn_);
    at::globalContext().setAllowTF32CuBLAS(cublas_);
  }
  StrictFp32(const StrictFp32&) = delete;
  StrictFp32& operator=(const StrictFp32&) = delete;

 private:
  bool cudnn_, cublas_;
};

// The GPU tests skip where there is none (this machine's CI); scripts/gpu_run.sh annotators runs them.
#define GEN_REQUIRE_CUDA()                                   \
  do {                                                       \
    if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device";    \
  } while (0)

inline c10::Device cuda_device() { return c10::Device(c10::kCUDA, 0); }

// TEST(suite, name) runs check(CPU); TEST(suite, Cuda##name) runs check(CUDA) in true fp32, and
// skips where there is no GPU. The EXPECT_ / ASSERT_ checks are check's; a fatal one inside it
// ends the test too (ASSERT_NO_FATAL_FAILURE), not only the helper.
#define GEN_TEST_CPU_AND_CUDA(suite, name, check)                        \
  TEST(suite, name) { ASSERT_NO_FATAL_FAILURE(check(c10::Device(c10::kCPU))); } \
  TEST(suite, Cuda##name) {                                             \
    GEN_REQUIRE_CUDA();                                                 \
    gen::test::StrictFp32 fp32;                                         \
    ASSERT_NO_FATAL_FAILURE(check(gen::test::cuda_device()));           \
  }

// max |got - want| over the values of two 8-bit images, and how many values differ by more than
// `slack` levels.
struct MapDiff {
  int worst = 0;
  std::size_t over = 0;
  std::size_t values = 0;
};

inline MapDiff map_diff(const gen::Image& got, const gen::Image& want, int slack) {
  MapDiff d;
  d.values = std::min(got.data8.size(), want.data8.size());
  for (std::size_t i = 0; i < d.values; ++i) {
    const int v = std::abs(static_cast<int>(got.data8[i]) - static_cast<int>(want.data8[i]));
    d.worst = std::max(d.worst, v);
    d.over += v > slack;
  }
  return d;
}

}  // namespace gen::test
