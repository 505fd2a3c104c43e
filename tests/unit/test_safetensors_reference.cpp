// Compatibility with the reference implementation (the Python `safetensors`
// package of the project venv), in both directions, in one test so that no
// ordering between tests matters:
//   1. gen writes files; the reference must read them byte for byte;
//   2. gen writes malformed files it rejects; the reference must reject them too;
//   3. the reference writes files (every dtype, torch and numpy writers); gen must
//      read them byte for byte.
// The Python is $GEN_PYTHON, else GEN_PYTHON from the build's CMakeCache.txt;
// without one the test is skipped.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "test_python.hpp"
#include "gen/error.hpp"
#include "gen/safetensors.hpp"
#include "unit/safetensors_test_util.hpp"

using gen::DType;
using gen::TensorData;
using nlohmann::json;

namespace {

std::string hex(const void* p, std::size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  const auto* b = static_cast<const std::uint8_t*>(p);
  for (std::size_t i = 0; i < n; ++i) {
    out += digits[b[i] >> 4];
    out += digits[b[i] & 15];
  }
  return out;
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs a command, returning its exit status and combined output.
int run(const std::string& cmd, std::string& output) {
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return -1;
  std::array<char, 4096> buf;
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) output.append(buf.data(), n);
  return ::pclose(p);
}

// Writes `tensors` with gen and describes them for the Python side.
json write_ours(const std::string& dir, const std::string& file, const std::vector<TensorData>& tensors,
                const std::map<std::string, std::string>& meta) {
  gen::write_safetensors(dir + "/" + file, tensors, meta);
  json t = json::object();
  for (const auto& x : tensors)
    t[x.name] = {{"dtype", gen::dtype_name(x.dtype)}, {"shape", x.shape}, {"hex", hex(x.data, x.nbytes)}};
  return {{"file", file}, {"metadata", meta}, {"tensors", t}};
}

}  // namespace

TEST(SafetensorsReference, BothDirections) {
  const std::string python = gen::test::find_python();
  if (python.empty()) FAIL() << "no GEN_PYTHON (env or CMakeCache.txt)";
  const std::string script = GEN_TEST_DATA_DIR "/../unit/safetensors_reference.py";
  const std::string dir = gen_test::test_dir();

  // 1. Files written by gen.
  std::vector<std::vector<std::uint8_t>> store;
  auto bytes = [&](std::size_t n) {
    std::vector<std::uint8_t> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>(i * 37 + store.size() * 11 + 1);
    store.push_back(v);
    return static_cast<const void*>(store.back().data());
  };
  store.reserve(64);
  const std::uint8_t bools[3] = {1, 0, 1};
  json ours = json::array();
  ours.push_back(write_ours(dir, "ours_all.safetensors",
      {{"b", DType::BOOL, {3}, bools, 3},           {"u8", DType::U8, {2, 2}, bytes(4), 4},
       {"i8", DType::I8, {3}, bytes(3), 3},         {"i16", DType::I16, {3}, bytes(6), 6},
       {"u16", DType::U16, {1}, bytes(2), 2},       {"i32", DType::I32, {2}, bytes(8), 8},
       {"u32", DType::U32, {1}, bytes(4), 4},       {"i64", DType::I64, {2}, bytes(16), 16},
       {"u64", DType::U64, {1}, bytes(8), 8},       {"f16", DType::F16, {5}, bytes(10), 10},
       {"bf16", DType::BF16, {2, 3}, bytes(12), 12}, {"f32", DType::F32, {}, bytes(4), 4},
       {"f64", DType::F64, {2}, bytes(16), 16},     {"f8a", DType::F8_E4M3, {3}, bytes(3), 3},
       {"f8b", DType::F8_E5M2, {3}, bytes(3), 3},   {"f8c", DType::F8_E8M0, {1}, bytes(1), 1},
       {"f6a", DType::F6_E2M3, {4}, bytes(3), 3},   {"f6b", DType::F6_E3M2, {4}, bytes(3), 3},
       {"f4", DType::F4, {2, 2}, bytes(2), 2},      {"c64", DType::C64, {1}, bytes(8), 8},
       {"empty", DType::F32, {0, 7}, nullptr, 0},   {"caf\xc3\xa9.\"q\"", DType::U8, {1}, bytes(1), 1}},
      {{"format", "pt"}, {"note", "line\nbreak \xe2\x9c\x93"}}));
  ours.push_back(write_ours(dir, "ours_empty.safetensors", {}, {}));
  ours.push_back(write_ours(dir, "ours_odd.safetensors", {{"x", DType::F16, {1}, bytes(2), 2}}, {}));
  std::ofstream(dir + "/ours.json") << ours.dump();

  // 2. Malformed files gen rejects; the reference must reject them too.
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"size", gen_test::st_bytes(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,10]}})", std::string(10, 'x'))},
      {"hole", gen_test::st_bytes(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})", "xy")},
      {"overlap", gen_test::st_bytes(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}})", "xyz")},
      {"trailing", gen_test::st_bytes(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", "xy")},
      {"short", gen_test::st_bytes(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})", "x")},
      {"dtype", gen_test::st_bytes(R"({"a":{"dtype":"F17","shape":[1],"data_offsets":[0,1]}})", "x")},
      {"f4", gen_test::st_bytes(R"({"a":{"dtype":"F4","shape":[3],"data_offsets":[0,1]}})", "x")},
      {"negative", gen_test::st_bytes(R"({"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}})", "x")},
      {"float", gen_test::st_bytes(R"({"a":{"dtype":"U8","shape":[1.0],"data_offsets":[0,1]}})", "x")},
      {"offsets3", gen_test::st_bytes(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1,1]}})", "x")},
      {"utf8", gen_test::st_bytes("{\"a\xff\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", "x")},
      {"nul", gen_test::st_bytes(std::string("{}\0\0", 4), "")},
      {"meta", gen_test::st_bytes(R"({"__metadata__":{"k":1}})", "")},
      {"array", gen_test::st_bytes("[]", "")},
      {"toolong", gen_test::st_bytes_n(100000001, "{}")},
      {"pastend", gen_test::st_bytes_n(50, "{}")},
      {"tiny", "abc"},
  };
  json bad_list = json::array();
  for (const auto& b : bad) {
    const std::string name = "bad_" + b.first + ".safetensors";
    gen_test::write_file(dir + "/" + name, b.second);
    EXPECT_THROW(gen::SafetensorsFile::open(dir + "/" + name), gen::Error) << name;
    bad_list.push_back(name);
  }
  std::ofstream(dir + "/bad.json") << bad_list.dump();

  std::string output;
  const int status = run(shell_quote(python) + " " + shell_quote(script) + " " + shell_quote(dir), output);
  ASSERT_EQ(status, 0) << output;

  // 3. Files written by the reference.
  std::ifstream in(dir + "/ref.json");
  const json ref = json::parse(in);
  ASSERT_GE(ref.size(), 4u);
  for (const auto& entry : ref) {
    const std::string path = dir + "/" + entry["file"].get<std::string>();
    SCOPED_TRACE(path);
    const auto f = gen::SafetensorsFile::open(path);
    using Meta = std::map<std::string, std::string>;
    EXPECT_EQ(f.metadata(), entry["metadata"].get<Meta>());
    ASSERT_EQ(f.tensors().size(), entry["tensors"].size());
    for (const auto& [name, want] : entry["tensors"].items()) {
      ASSERT_TRUE(f.contains(name)) << name;
      const gen::TensorInfo& t = f.info(name);
      EXPECT_STREQ(gen::dtype_name(t.dtype), want["dtype"].get<std::string>().c_str()) << name;
      EXPECT_EQ(t.shape, want["shape"].get<std::vector<std::int64_t>>()) << name;
      EXPECT_EQ(hex(f.data(t), t.nbytes()), want["hex"].get<std::string>()) << name;
    }
  }
}
