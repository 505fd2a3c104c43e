// SafetensorsFile (mapping, file-system errors) and SafetensorsCheckpoint (shards).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "gen/error.hpp"
#include "gen/safetensors.hpp"
#include "io/mapped_file.hpp"
#include "unit/safetensors_test_util.hpp"

using gen::ErrorCode;
using gen::SafetensorsCheckpoint;
using gen::SafetensorsFile;
using gen_test::st_bytes;
using gen_test::test_dir;
using gen_test::throws_error;
using gen_test::write_file;

namespace {

// A valid file: tensors "a" (F32 [2] = 1.5, -2) and "b" (U8 [3] = 7, 8, 9).
std::string good_file() {
  const float a[2] = {1.5f, -2.0f};
  std::string data(reinterpret_cast<const char*>(a), sizeof a);
  data += std::string("\x07\x08\x09", 3);
  // Header padded with spaces to a multiple of 8 bytes (as the reference writer does), so
  // the tests may read "a" as floats in place: the data must be aligned for that.
  std::string header = R"({"__metadata__":{"format":"pt"},)"
                       R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                       R"("b":{"dtype":"U8","shape":[3],"data_offsets":[8,11]}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  return st_bytes(header, data);
}

// A one-tensor U8 file holding `values`, for shards.
std::string u8_file(const std::string& name, const std::string& values) {
  return st_bytes("{\"" + name + "\":{\"dtype\":\"U8\",\"shape\":[" + std::to_string(values.size()) +
                      "],\"data_offsets\":[0," + std::to_string(values.size()) + "]}}",
                  values);
}

std::string two_u8_file(const std::string& n1, const std::string& n2) {
  return st_bytes("{\"" + n1 + "\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},\"" + n2 +
                      "\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
                  "xy");
}

}  // namespace

// ---- SafetensorsFile ------------------------------------------------------------------

TEST(SafetensorsFile, OpensAndPointsIntoTheMapping) {
  const std::string path = test_dir() + "/good.safetensors";
  write_file(path, good_file());
  const SafetensorsFile f = SafetensorsFile::open(path);
  EXPECT_EQ(f.path(), path);
  ASSERT_EQ(f.tensors().size(), 2u);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_TRUE(f.contains("a"));
  EXPECT_FALSE(f.contains("c"));
  const float* a = static_cast<const float*>(f.data("a"));
  EXPECT_EQ(a[0], 1.5f);
  EXPECT_EQ(a[1], -2.0f);
  const auto* b = static_cast<const std::uint8_t*>(f.data(f.info("b")));
  EXPECT_EQ(b[2], 9);
  const auto base = f.mapping()->data();
  EXPECT_EQ(static_cast<std::uint8_t*>(f.data("a")), base + 8 + f.header().header_size);
  EXPECT_TRUE(throws_error([&] { f.info("c"); }, ErrorCode::NotFound, "no tensor named 'c'"));
  EXPECT_TRUE(throws_error([&] { f.data("c"); }, ErrorCode::NotFound, "no tensor named 'c'"));
}

TEST(SafetensorsFile, WritesThroughTheMappingNeverReachTheFile) {
  const std::string path = test_dir() + "/cow.safetensors";
  const std::string bytes = good_file();
  write_file(path, bytes);
  {
    const SafetensorsFile f = SafetensorsFile::open(path);
    auto* a = static_cast<float*>(f.data("a"));
    a[0] = 42.0f;
    EXPECT_EQ(a[0], 42.0f);
    // Another mapping of the same file does not see the write either.
    const SafetensorsFile g = SafetensorsFile::open(path);
    EXPECT_EQ(static_cast<float*>(g.data("a"))[0], 1.5f);
  }
  EXPECT_EQ(gen_test::read_file(path), bytes);
}

TEST(SafetensorsFile, MappingOutlivesTheFileObject) {
  const std::string path = test_dir() + "/keep.safetensors";
  write_file(path, good_file());
  std::shared_ptr<gen::io::MappedFile> keep;
  void* p = nullptr;
  {
    const SafetensorsFile f = SafetensorsFile::open(path);
    keep = f.mapping();
    p = f.data("a");
  }
  ::unlink(path.c_str());
  EXPECT_EQ(static_cast<float*>(p)[1], -2.0f);
  EXPECT_EQ(keep.use_count(), 1);
}

TEST(SafetensorsFile, MissingFile) {
  const std::string path = test_dir() + "/nope.safetensors";
  EXPECT_TRUE(throws_error([&] { SafetensorsFile::open(path); }, ErrorCode::NotFound,
                           path + ": no such file"));
}

TEST(SafetensorsFile, PathThroughAFile) {
  const std::string dir = test_dir();
  write_file(dir + "/plain", "x");
  EXPECT_TRUE(throws_error([&] { SafetensorsFile::open(dir + "/plain/a.safetensors"); },
                           ErrorCode::NotFound, "plain/a.safetensors"));
}

TEST(SafetensorsFile, Directory) {
  const std::string dir = test_dir();
  EXPECT_TRUE(throws_error([&] { SafetensorsFile::open(dir); }, ErrorCode::InvalidArgument,
                           "is a folder, not a file"));
}

TEST(SafetensorsFile, FifoIsRefusedWithoutBlocking) {
  const std::string path = test_dir() + "/fifo.safetensors";
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  EXPECT_TRUE(throws_error([&] { SafetensorsFile::open(path); }, ErrorCode::InvalidArgument,
                           "not a regular file"));
}

TEST(SafetensorsFile, PermissionDenied) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads files whatever their mode";
  const std::string path = test_dir() + "/secret.safetensors";
  write_file(path, good_file());
  ASSERT_EQ(::chmod(path.c_str(), 0), 0);
  EXPECT_TRUE(throws_error([&] { SafetensorsFile::open(path); }, ErrorCode::Io, "Permission denied"));
  ::chmod(path.c_str(), 0600);
}

TEST(SafetensorsFile, EmptyAndTooShortFiles) {
  const std::string dir = test_dir();
  write_file(dir + "/empty.safetensors", "");
  EXPECT_TRUE(throws_error([&] { SafetensorsFile::open(dir + "/empty.safetensors"); },
                           ErrorCode::InvalidFormat, "empty.safetensors: file is empty"));
  write_file(dir + "/short.safetensors", "abcde");
  EXPECT_TRUE(throws_error([&] { SafetensorsFile::open(dir + "/short.safetensors"); },
                           ErrorCode::InvalidFormat, "file is 5 bytes, too short"));
}

TEST(SafetensorsFile, EveryTruncatedFileThrows) {
  const std::string dir = test_dir();
  const std::string bytes = good_file();
  const std::string path = dir + "/cut.safetensors";
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    write_file(path, bytes.substr(0, n));
    try {
      SafetensorsFile::open(path);
      ADD_FAILURE() << "a " << n << "-byte prefix was accepted";
    } catch (const gen::Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::InvalidFormat) << n << ": " << e.what();
    }
  }
}

TEST(SafetensorsFile, InvalidFileNamesThePath) {
  const std::string path = test_dir() + "/bad.safetensors";
  write_file(path, st_bytes(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,10]}})", "0123456789"));
  EXPECT_TRUE(throws_error([&] { SafetensorsFile::open(path); }, ErrorCode::InvalidFormat,
                           path + ": tensor 'a': data_offsets [0, 10] hold 10 bytes but F32 shape [3] needs 12"));
}

// ---- SafetensorsCheckpoint: one file ---------------------------------------------------

TEST(SafetensorsCheckpoint, SingleFile) {
  const std::string path = test_dir() + "/m.safetensors";
  write_file(path, good_file());
  const auto c = SafetensorsCheckpoint::open(path);
  EXPECT_EQ(c.names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(c.files().size(), 1u);
  EXPECT_EQ(c.metadata().at("format"), "pt");
  EXPECT_EQ(c.info("b").shape, std::vector<std::int64_t>{3});
  EXPECT_EQ(static_cast<float*>(c.data("a"))[0], 1.5f);
  EXPECT_EQ(c.mapping("a"), c.files()[0].mapping());
  EXPECT_TRUE(throws_error([&] { c.info("zz"); }, ErrorCode::NotFound, "no tensor named 'zz'"));
  EXPECT_TRUE(throws_error([&] { c.data("zz"); }, ErrorCode::NotFound, "'zz'"));
  EXPECT_TRUE(throws_error([&] { c.mapping("zz"); }, ErrorCode::NotFound, "'zz'"));
}

TEST(SafetensorsCheckpoint, FolderWithOneFile) {
  const std::string dir = test_dir();
  write_file(dir + "/model.safetensors", good_file());
  write_file(dir + "/config.json", "{}");
  const auto c = SafetensorsCheckpoint::open(dir);
  EXPECT_EQ(c.names().size(), 2u);
}

TEST(SafetensorsCheckpoint, FolderWithoutWeights) {
  const std::string dir = test_dir();
  EXPECT_TRUE(throws_error([&] { SafetensorsCheckpoint::open(dir); }, ErrorCode::NotFound,
                           "holds no .safetensors file"));
}

TEST(SafetensorsCheckpoint, FolderWithTwoFilesIsAmbiguous) {
  const std::string dir = test_dir();
  write_file(dir + "/a.safetensors", good_file());
  write_file(dir + "/b.safetensors", good_file());
  EXPECT_TRUE(throws_error([&] { SafetensorsCheckpoint::open(dir); }, ErrorCode::InvalidArgument,
                           "holds 2 .safetensors files and no index"));
}

TEST(SafetensorsCheckpoint, MissingPath) {
  const std::string dir = test_dir();
  EXPECT_TRUE(throws_error([&] { SafetensorsCheckpoint::open(dir + "/x.safetensors"); },
                           ErrorCode::NotFound, "no such file"));
  EXPECT_TRUE(throws_error([&] { SafetensorsCheckpoint::open(dir + "/x.safetensors.index.json"); },
                           ErrorCode::NotFound, "no such file"));
}

// ---- SafetensorsCheckpoint: shards --------------------------------------------------------

namespace {

const char* kIndex = R"({"metadata":{"total_size":5},"weight_map":{
  "x.a":"model-00001-of-00002.safetensors","x.b":"model-00001-of-00002.safetensors",
  "y":"model-00002-of-00002.safetensors"}})";

std::string make_shards(const std::string& dir) {
  write_file(dir + "/model-00001-of-00002.safetensors", two_u8_file("x.a", "x.b"));
  write_file(dir + "/model-00002-of-00002.safetensors", u8_file("y", "abc"));
  return dir + "/model.safetensors.index.json";
}

}  // namespace

TEST(SafetensorsCheckpoint, ShardedFromIndexAndFromFolder) {
  const std::string dir = test_dir();
  const std::string index = make_shards(dir);
  write_file(index, kIndex);
  for (const std::string& p : {index, dir}) {
    const auto c = SafetensorsCheckpoint::open(p);
    EXPECT_EQ(c.path(), p);
    EXPECT_EQ(c.names(), (std::vector<std::string>{"x.a", "x.b", "y"}));
    EXPECT_EQ(c.files().size(), 2u);
    EXPECT_EQ(*static_cast<char*>(c.data("x.b")), 'y');
    EXPECT_EQ(std::string(static_cast<char*>(c.data("y")), 3), "abc");
    EXPECT_EQ(c.info("y").shape, std::vector<std::int64_t>{3});
    EXPECT_NE(c.mapping("x.a"), c.mapping("y"));
    EXPECT_TRUE(c.contains("x.a"));
    EXPECT_FALSE(c.contains("z"));
  }
}

TEST(SafetensorsCheckpoint, ShardsResolvedRelativeToTheIndex) {
  const std::string dir = test_dir();
  const std::string index = make_shards(dir);
  write_file(index, kIndex);
  // Opened by a relative path from another folder, the shards are still found.
  const auto slash = dir.find_last_of('/');
  gen_test::ScopedCwd cwd(dir.substr(0, slash));
  EXPECT_NO_THROW(SafetensorsCheckpoint::open(dir.substr(slash + 1) + "/model.safetensors.index.json"));
}

TEST(SafetensorsCheckpoint, TensorListedButAbsentFromItsShard) {
  const std::string dir = test_dir();
  const std::string index = make_shards(dir);
  write_file(index, R"({"weight_map":{"x.a":"model-00001-of-00002.safetensors",
    "x.b":"model-00001-of-00002.safetensors","y":"model-00002-of-00002.safetensors",
    "ghost":"model-00002-of-00002.safetensors"}})");
  EXPECT_TRUE(throws_error([&] { SafetensorsCheckpoint::open(index); }, ErrorCode::InvalidFormat,
                           "tensor 'ghost' is listed in weight_map but missing from shard "
                           "'model-00002-of-00002.safetensors'"));
}

TEST(SafetensorsCheckpoint, TensorInTwoShards) {
  const std::string dir = test_dir();
  const std::string index = make_shards(dir);
  write_file(dir + "/model-00002-of-00002.safetensors", two_u8_file("x.a", "y"));
  write_file(index, kIndex);
  EXPECT_TRUE(throws_error([&] { SafetensorsCheckpoint::open(index); }, ErrorCode::InvalidFormat,
                           "tensor 'x.a' is in two shards"));
}

TEST(SafetensorsCheckpoint, TensorInTheWrongShard) {
  const std::string dir = test_dir();
  const std::string index = make_shards(dir);
  write_file(index, R"({"weight_map":{"x.a":"model-00002-of-00002.safetensors",
    "x.b":"model-00001-of-00002.safetensors","y":"model-00002-of-00002.safetensors"}})");
  EXPECT_TRUE(throws_error([&] { SafetensorsCheckpoint::open(index); }, ErrorCode::InvalidFormat,
                           "tensor 'x.a' is listed in shard 'model-00002-of-00002.safetensors' but found in"));
}

TEST(SafetensorsCheckpoint, TensorInShardButNotListed) {
  const std::string dir = test_dir();
  const std::string index = make_shards(dir);
  write_file(index, R"({"weight_map":{"x.a":"model-00001-of-00002.safetensors",
    "y":"model-00002-of-00002.safetensors"}})");
  EXPECT_TRUE(throws_error([&] { SafetensorsCheckpoint::open(index); }, ErrorCode::InvalidFormat,
                           "tensor 'x.b' is in shard"));
}

TEST(SafetensorsCheckpoint, MissingShard) {
  const std::string dir = test_dir();
  const std::string index = make_shards(dir);
  ::unlink((dir + "/model-00002-of-00002.safetensors").c_str());
  write_file(index, kIndex);
  EXPECT_TRUE(throws_error([&] { SafetensorsCheckpoint::open(index); }, ErrorCode::NotFound,
                           "model-00002-of-00002.safetensors: no such file (shard listed in"));
}

TEST(SafetensorsCheckpoint, InvalidShardIsValidated) {
  const std::string dir = test_dir();
  const std::string index = make_shards(dir);
  write_file(dir + "/model-00002-of-00002.safetensors", u8_file("y", "abc") + "!");
  write_file(index, kIndex);
  EXPECT_TRUE(throws_error([&] { SafetensorsCheckpoint::open(index); }, ErrorCode::InvalidFormat,
                           "trailing bytes"));
}

TEST(SafetensorsCheckpoint, BadIndexFiles) {
  const std::string dir = test_dir();
  const std::string index = make_shards(dir);
  struct Case { const char* text; const char* part; };
  const Case cases[] = {
      {"{", "not valid JSON"},
      {"[]", "index is not a JSON object"},
      {R"({"metadata":{}})", "index has no weight_map"},
      {R"({"weight_map":[]})", "weight_map must be an object"},
      {R"({"weight_map":{}})", "weight_map lists no tensors"},
      {R"({"weight_map":{"y":3}})", "weight_map entry for tensor 'y' is not a string"},
      {R"({"weight_map":{"y":"model-00002-of-00002.safetensors","y":"model-00002-of-00002.safetensors"}})",
       "key 'y' appears twice"},
      {R"({"weight_map":{"y":"/etc/model-00002-of-00002.safetensors"}})", "relative paths inside"},
      {R"({"weight_map":{"y":"../model-00002-of-00002.safetensors"}})", "relative paths inside"},
      {R"({"weight_map":{"y":""}})", "relative paths inside"},
      {"{\"weight_map\":{\"y\":\"model-00002-of-00002.safetensors\"}}\0", "NUL byte"},
  };
  for (const auto& c : cases) {
    write_file(index, std::string(c.text, std::strlen(c.text) + (std::string(c.part) == "NUL byte")));
    EXPECT_TRUE(throws_error([&] { SafetensorsCheckpoint::open(index); }, ErrorCode::InvalidFormat,
                             c.part)) << c.text;
  }
  std::string deep = "{\"weight_map\":{\"y\":\"model-00002-of-00002.safetensors\"},\"x\":";
  deep += std::string(100, '[') + std::string(100, ']') + "}";
  write_file(index, deep);
  EXPECT_TRUE(throws_error([&] { SafetensorsCheckpoint::open(index); }, ErrorCode::InvalidFormat,
                           "nested deeper"));
}

TEST(SafetensorsCheckpoint, FolderWithTwoIndexes) {
  const std::string dir = test_dir();
  const std::string index = make_shards(dir);
  write_file(index, kIndex);
  write_file(dir + "/other.safetensors.index.json", kIndex);
  EXPECT_TRUE(throws_error([&] { SafetensorsCheckpoint::open(dir); }, ErrorCode::InvalidArgument,
                           "holds 2 *.safetensors.index.json files"));
}
