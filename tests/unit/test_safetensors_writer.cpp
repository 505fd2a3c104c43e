// write_safetensors: round trips, input validation, atomic replacement.
#include <gtest/gtest.h>

#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "gen/error.hpp"
#include "gen/safetensors.hpp"
#include "unit/safetensors_test_util.hpp"

using gen::DType;
using gen::ErrorCode;
using gen::TensorData;
using gen_test::test_dir;
using gen_test::throws_error;

namespace {

// Bytes 0, 1, 2, ... as the data of a tensor of `nbytes`.
std::vector<std::uint8_t> pattern(std::size_t nbytes, std::uint8_t start = 0) {
  std::vector<std::uint8_t> v(nbytes);
  std::iota(v.begin(), v.end(), start);
  return v;
}

std::vector<std::string> listing(const std::string& dir) { return gen_test::list_dir(dir); }

}  // namespace

TEST(SafetensorsWriter, RoundTripEveryDtype) {
  const std::string path = test_dir() + "/all.safetensors";
  struct Case { DType d; std::vector<std::int64_t> shape; std::size_t bytes; };
  const std::vector<Case> cases = {
      {DType::BOOL, {3}, 3},     {DType::U8, {5}, 5},          {DType::I8, {1, 3}, 3},
      {DType::I16, {3}, 6},      {DType::U16, {1}, 2},         {DType::I32, {3}, 12},
      {DType::U32, {2}, 8},      {DType::I64, {3}, 24},        {DType::U64, {1}, 8},
      {DType::F16, {3}, 6},      {DType::BF16, {2, 3}, 12},    {DType::F32, {}, 4},
      {DType::F64, {3}, 24},     {DType::F8_E4M3, {3}, 3},     {DType::F8_E5M2, {3}, 3},
      {DType::F8_E8M0, {1}, 1},  {DType::F6_E2M3, {4}, 3},     {DType::F6_E3M2, {8}, 6},
      {DType::F4, {6}, 3},       {DType::C64, {1}, 8},         {DType::F8_E4M3FNUZ, {2}, 2},
      {DType::F8_E5M2FNUZ, {2}, 2},
  };
  std::vector<std::vector<std::uint8_t>> store;
  std::vector<TensorData> tensors;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    store.push_back(pattern(cases[i].bytes, static_cast<std::uint8_t>(i * 10)));
    tensors.push_back({std::string("t") + gen::dtype_name(cases[i].d), cases[i].d, cases[i].shape,
                       store.back().data(), store.back().size()});
  }
  const std::map<std::string, std::string> meta = {{"format", "pt"}, {"quote\"d", "caf\xc3\xa9\n"}};
  gen::write_safetensors(path, tensors, meta);

  const auto f = gen::SafetensorsFile::open(path);
  EXPECT_EQ(f.metadata(), meta);
  EXPECT_EQ(f.header().header_size % 8, 0u);
  ASSERT_EQ(f.tensors().size(), cases.size());
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const gen::TensorInfo& t = f.info(tensors[i].name);
    EXPECT_EQ(t.dtype, cases[i].d);
    EXPECT_EQ(t.shape, cases[i].shape);
    ASSERT_EQ(t.nbytes(), cases[i].bytes);
    EXPECT_EQ(std::memcmp(f.data(t), store[i].data(), t.nbytes()), 0) << t.name;
    // Every tensor starts aligned to its element size within the file.
    const std::size_t elem = std::max<std::size_t>(1, gen::dtype_bits(t.dtype) / 8);
    EXPECT_EQ((8 + f.header().header_size + t.begin) % elem, 0u) << t.name;
  }
  // Larger elements come first, then names in order.
  for (std::size_t i = 1; i < f.tensors().size(); ++i) {
    const auto& a = f.tensors()[i - 1];
    const auto& b = f.tensors()[i];
    EXPECT_TRUE(gen::dtype_bits(a.dtype) > gen::dtype_bits(b.dtype) ||
                (gen::dtype_bits(a.dtype) == gen::dtype_bits(b.dtype) && a.name < b.name));
  }
}

TEST(SafetensorsWriter, NoTensorsNoMetadata) {
  const std::string path = test_dir() + "/empty.safetensors";
  gen::write_safetensors(path, {});
  const std::string bytes = gen_test::read_file(path);
  EXPECT_EQ(bytes, gen_test::st_bytes("{}      "));
  EXPECT_TRUE(gen::SafetensorsFile::open(path).tensors().empty());
}

TEST(SafetensorsWriter, ZeroSizeTensors) {
  const std::string path = test_dir() + "/zero.safetensors";
  const float one = 1.0f;
  gen::write_safetensors(path, {{"e", DType::F32, {0, 4}, nullptr, 0},
                                {"one", DType::F32, {1}, &one, 4},
                                {"e2", DType::F16, {2, 0}, nullptr, 0}});
  const auto f = gen::SafetensorsFile::open(path);
  EXPECT_EQ(f.tensors().size(), 3u);
  EXPECT_EQ(f.info("e").nbytes(), 0u);
  EXPECT_EQ(*static_cast<float*>(f.data("one")), 1.0f);
}

TEST(SafetensorsWriter, HeaderIsPaddedWithSpaces) {
  const std::string path = test_dir() + "/pad.safetensors";
  const std::uint8_t b = 1;
  gen::write_safetensors(path, {{"a", DType::U8, {1}, &b, 1}});
  const std::string bytes = gen_test::read_file(path);
  const auto f = gen::SafetensorsFile::open(path);
  const std::size_t n = f.header().header_size;
  ASSERT_EQ(n % 8, 0u);
  const std::string header = bytes.substr(8, n);
  const std::string json = R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})";
  EXPECT_EQ(header.substr(0, json.size()), json);
  EXPECT_EQ(header.substr(json.size()), std::string(n - json.size(), ' '));
}

TEST(SafetensorsWriter, RejectsBadInputs) {
  const std::string dir = test_dir();
  const std::string path = dir + "/bad.safetensors";
  const float v[3] = {1, 2, 3};
  struct Case { std::vector<TensorData> t; const char* part; };
  const std::vector<Case> cases = {
      {{{"", DType::F32, {3}, v, 12}}, "a tensor has an empty name"},
      {{{"a", DType::F32, {3}, v, 12}, {"a", DType::F32, {3}, v, 12}}, "tensor name 'a' given twice"},
      {{{"__metadata__", DType::F32, {3}, v, 12}}, "'__metadata__' is reserved"},
      {{{"a", DType::F32, {3}, v, 10}}, "tensor 'a': 10 bytes given but F32 shape [3] needs 12"},
      {{{"a", DType::F32, {3}, nullptr, 12}}, "tensor 'a': no data pointer"},
      {{{"a", DType::F32, {-3}, v, 12}}, "negative dimension"},
      {{{"a", DType::F4, {3}, v, 2}}, "F4 shape [3] is 12 bits, not a whole number of bytes"},
      {{{"a", DType::F64, {1LL << 31, 1LL << 30}, v, 12}}, "larger than 2^64 bits"},
      {{{"bad\xff", DType::F32, {3}, v, 12}}, "is not valid UTF-8"},
      {{{"a", static_cast<DType>(999), {3}, v, 12}}, "invalid dtype"},
  };
  for (const auto& c : cases) {
    EXPECT_TRUE(throws_error([&] { gen::write_safetensors(path, c.t); }, ErrorCode::InvalidArgument,
                             c.part)) << c.part;
  }
  EXPECT_TRUE(throws_error([&] { gen::write_safetensors(path, {}, {{"k", "\xc3"}}); },
                           ErrorCode::InvalidArgument, "not valid UTF-8"));
  EXPECT_TRUE(listing(dir).empty());  // nothing written, no temp files left
}

TEST(SafetensorsWriter, ReplacesAtomically) {
  const std::string dir = test_dir();
  const std::string path = dir + "/m.safetensors";
  const float a[2] = {1, 2}, b[2] = {3, 4};
  gen::write_safetensors(path, {{"w", DType::F32, {2}, a, 8}});
  // Readers of the old file keep their data while it is replaced.
  const auto old = gen::SafetensorsFile::open(path);
  gen::write_safetensors(path, {{"w", DType::F32, {2}, b, 8}});
  EXPECT_EQ(static_cast<float*>(old.data("w"))[0], 1.0f);
  EXPECT_EQ(static_cast<float*>(gen::SafetensorsFile::open(path).data("w"))[0], 3.0f);
  // A failed write leaves the previous file as it was.
  const std::string before = gen_test::read_file(path);
  EXPECT_THROW(gen::write_safetensors(path, {{"w", DType::F32, {2}, a, 7}}), gen::Error);
  EXPECT_EQ(gen_test::read_file(path), before);
  EXPECT_EQ(listing(dir), std::vector<std::string>{"m.safetensors"});
}

TEST(SafetensorsWriter, MissingFolder) {
  const std::string path = test_dir() + "/no/such/dir/m.safetensors";
  EXPECT_TRUE(throws_error([&] { gen::write_safetensors(path, {}); }, ErrorCode::NotFound,
                           "/no/such/dir does not exist"));
}

TEST(SafetensorsWriter, TargetIsAFolder) {
  const std::string dir = test_dir();
  gen_test::make_dirs(dir + "/taken/sub");
  // Refused before anything is written (one atomic writer for every output: core/atomic_file).
  EXPECT_TRUE(throws_error([&] { gen::write_safetensors(dir + "/taken", {}); }, ErrorCode::InvalidArgument,
                           "is a folder"));
  EXPECT_EQ(listing(dir), std::vector<std::string>{"taken"});  // temp file removed
}

TEST(SafetensorsWriter, RelativePathInCurrentFolder) {
  const std::string dir = test_dir();
  {
    gen_test::ScopedCwd cwd(dir);
    gen::write_safetensors("rel.safetensors", {});
  }
  EXPECT_TRUE(gen_test::path_exists(dir + "/rel.safetensors"));
}
