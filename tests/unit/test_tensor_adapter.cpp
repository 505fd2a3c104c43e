// view_tensor / load_tensor: torch tensors on top of safetensors mappings.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cstring>
#include <string>
#include <vector>

#include "gen/error.hpp"
#include "gen/safetensors.hpp"
#include "io/mapped_file.hpp"
#include "tensor/from_safetensors.hpp"
#include "unit/safetensors_test_util.hpp"

using gen::DType;
using gen::ErrorCode;
using gen::SafetensorsCheckpoint;
using gen_test::test_dir;
using gen_test::throws_error;

namespace {

// F32 "w" [2, 3] = 0..5, F16 "h" [2] = 1.5, -2, BF16 "b" [2] = 1, 0.5, I64 "i" [2],
// BOOL "m" [3], U16 "u" [1], F4 "q" [2].
std::string write_sample(const std::string& dir) {
  const float w[6] = {0, 1, 2, 3, 4, 5};
  const std::uint16_t h[2] = {0x3E00, 0xC000};  // 1.5, -2 in IEEE half
  const std::uint16_t b[2] = {0x3F80, 0x3F00};  // 1, 0.5 in bfloat16
  const std::int64_t i[2] = {-7, 1LL << 40};
  const std::uint8_t m[3] = {1, 0, 1};
  const std::uint16_t u = 7;
  const std::uint8_t q = 0x21;
  const std::string path = dir + "/sample.safetensors";
  gen::write_safetensors(path, {{"w", DType::F32, {2, 3}, w, sizeof w},
                                {"h", DType::F16, {2}, h, sizeof h},
                                {"b", DType::BF16, {2}, b, sizeof b},
                                {"i", DType::I64, {2}, i, sizeof i},
                                {"m", DType::BOOL, {3}, m, sizeof m},
                                {"u", DType::U16, {1}, &u, sizeof u},
                                {"q", DType::F4, {2}, &q, 1},
                                {"empty", DType::F32, {0, 3}, nullptr, 0}});
  return path;
}

}  // namespace

TEST(TensorAdapter, ViewIsZeroCopy) {
  const auto c = SafetensorsCheckpoint::open(write_sample(test_dir()));
  const at::Tensor w = gen::view_tensor(c, "w");
  EXPECT_EQ(w.data_ptr(), c.data("w"));
  EXPECT_EQ(w.scalar_type(), at::kFloat);
  EXPECT_EQ(w.sizes(), at::IntArrayRef({2, 3}));
  EXPECT_TRUE(w.is_contiguous());
  EXPECT_TRUE(w.device().is_cpu());
  EXPECT_TRUE(at::equal(w, at::arange(6, at::kFloat).reshape({2, 3})));
}

TEST(TensorAdapter, ValuesOfEachDtype) {
  const auto c = SafetensorsCheckpoint::open(write_sample(test_dir()));
  const at::Tensor h = gen::view_tensor(c, "h");
  EXPECT_EQ(h.scalar_type(), at::kHalf);
  EXPECT_EQ(h.data_ptr(), c.data("h"));
  EXPECT_TRUE(at::equal(h.to(at::kFloat), at::tensor({1.5f, -2.0f})));
  const at::Tensor b = gen::view_tensor(c, "b");
  EXPECT_EQ(b.scalar_type(), at::kBFloat16);
  EXPECT_TRUE(at::equal(b.to(at::kFloat), at::tensor({1.0f, 0.5f})));
  const at::Tensor i = gen::view_tensor(c, "i");
  EXPECT_EQ(i.scalar_type(), at::kLong);
  EXPECT_EQ(i[1].item<std::int64_t>(), 1LL << 40);
  const at::Tensor m = gen::view_tensor(c, "m");
  EXPECT_EQ(m.scalar_type(), at::kBool);
  EXPECT_EQ(m.sum().item<std::int64_t>(), 2);
  const at::Tensor e = gen::view_tensor(c, "empty");
  EXPECT_EQ(e.numel(), 0);
  EXPECT_EQ(e.sizes(), at::IntArrayRef({0, 3}));
}

TEST(TensorAdapter, ViewKeepsTheMappingAlive) {
  at::Tensor w;
  std::weak_ptr<gen::io::MappedFile> weak;
  {
    const auto c = SafetensorsCheckpoint::open(write_sample(test_dir()));
    w = gen::view_tensor(c, "w");
    weak = c.mapping("w");
  }
  EXPECT_FALSE(weak.expired());
  EXPECT_EQ(w[1][2].item<float>(), 5.0f);
  w = at::Tensor();
  EXPECT_TRUE(weak.expired());
}

TEST(TensorAdapter, LoadingReleasesTheMappedPagesWhichReadBackFromTheFile) {
  // load_tensor drops the source pages from this process once copied (MADV_DONTNEED on a
  // private read-only-in-practice mapping); a view over the same bytes still reads them.
  const auto dir = test_dir();
  std::vector<float> big(300000);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<float>(i % 1000) * 0.5f;
  const auto path = dir + "/big.safetensors";
  gen::write_safetensors(path, {{"big", gen::DType::F32, {300, 1000}, big.data(), big.size() * sizeof(float)}});
  const auto c = SafetensorsCheckpoint::open(path);
  const at::Tensor view = gen::view_tensor(c, "big");
  const double before = view.sum().item<double>();
  const at::Tensor a = gen::load_tensor(c, "big", at::kFloat, at::kCPU);
  EXPECT_EQ(view.sum().item<double>(), before);
  EXPECT_TRUE(at::equal(a, view));
  EXPECT_TRUE(at::equal(gen::load_tensor(c, "big", at::kFloat, at::kCPU), a));
  EXPECT_EQ(a[299][999].item<float>(), 499.5f);
}

TEST(TensorAdapter, WritingToAViewDoesNotTouchTheFile) {
  const std::string path = write_sample(test_dir());
  const std::string before = gen_test::read_file(path);
  {
    const auto c = SafetensorsCheckpoint::open(path);
    gen::view_tensor(c, "w").fill_(9.0f);
  }
  EXPECT_EQ(gen_test::read_file(path), before);
}

TEST(TensorAdapter, UnsupportedDtypesAndMissingNames) {
  const auto c = SafetensorsCheckpoint::open(write_sample(test_dir()));
  EXPECT_TRUE(throws_error([&] { gen::view_tensor(c, "u"); }, ErrorCode::Unsupported,
                           "tensor 'u' has dtype U16"));
  EXPECT_TRUE(throws_error([&] { gen::view_tensor(c, "q"); }, ErrorCode::Unsupported,
                           "tensor 'q' has dtype F4"));
  EXPECT_TRUE(throws_error([&] { gen::load_tensor(c, "q", at::kFloat, at::kCPU); },
                           ErrorCode::Unsupported, "F4"));
  EXPECT_TRUE(throws_error([&] { gen::view_tensor(c, "nope"); }, ErrorCode::NotFound, "'nope'"));
}

TEST(TensorAdapter, BoolBytesMustBeZeroOrOne) {
  const std::string path = test_dir() + "/bool.safetensors";
  gen_test::write_file(path, gen_test::st_bytes(
      R"({"m":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}})", std::string("\x01\x02", 2)));
  const auto c = SafetensorsCheckpoint::open(path);
  EXPECT_TRUE(throws_error([&] { gen::view_tensor(c, "m"); }, ErrorCode::InvalidFormat,
                           "tensor 'm' is BOOL but holds the byte 2"));
}

TEST(TensorAdapter, MisalignedDataIsCopied) {
  // A 3-byte header puts the data at file offset 11: not aligned for F32.
  const float v[2] = {3.5f, -1.0f};
  const std::string hdr = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  std::string header = hdr;
  if ((8 + header.size()) % 4 == 0) header += " ";
  const std::string path = test_dir() + "/odd.safetensors";
  gen_test::write_file(path, gen_test::st_bytes(header, std::string(reinterpret_cast<const char*>(v), 8)));
  const auto c = SafetensorsCheckpoint::open(path);
  ASSERT_NE(reinterpret_cast<std::uintptr_t>(c.data("a")) % 4, 0u);
  const at::Tensor a = gen::view_tensor(c, "a");
  EXPECT_NE(a.data_ptr(), c.data("a"));
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(a.data_ptr()) % 4, 0u);
  EXPECT_TRUE(at::equal(a, at::tensor({3.5f, -1.0f})));
}

TEST(TensorAdapter, LoadConvertsAndOwnsItsMemory) {
  const auto c = SafetensorsCheckpoint::open(write_sample(test_dir()));
  const at::Tensor h = gen::load_tensor(c, "h", at::kFloat, at::kCPU);
  EXPECT_EQ(h.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(h, at::tensor({1.5f, -2.0f})));
  const at::Tensor w = gen::load_tensor(c, "w", at::kFloat, at::kCPU);  // same dtype: still a copy
  EXPECT_NE(w.data_ptr(), c.data("w"));
  EXPECT_TRUE(at::equal(w, gen::view_tensor(c, "w")));
  const at::Tensor wh = gen::load_tensor(c, "w", at::kHalf, at::kCPU);
  EXPECT_EQ(wh.scalar_type(), at::kHalf);
  EXPECT_EQ(wh[1][0].item<float>(), 3.0f);
}

TEST(TensorAdapter, LoadToCuda) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device";
  const auto c = SafetensorsCheckpoint::open(write_sample(test_dir()));
  const at::Tensor h = gen::load_tensor(c, "h", at::kFloat, at::Device(at::kCUDA, 0));
  EXPECT_TRUE(h.is_cuda());
  EXPECT_EQ(h.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(h.cpu(), at::tensor({1.5f, -2.0f})));
  const at::Tensor w = gen::load_tensor(c, "w", at::kFloat, at::Device(at::kCUDA, 0));
  EXPECT_TRUE(at::equal(w.cpu(), at::arange(6, at::kFloat).reshape({2, 3})));
}
