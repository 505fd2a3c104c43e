// The pure header parser: one test per rule, on hand-made bytes.
#include <gtest/gtest.h>

#include <limits>
#include <string>

#include "gen/error.hpp"
#include "gen/safetensors.hpp"
#include "unit/safetensors_test_util.hpp"

using gen::DType;
using gen::ErrorCode;
using gen_test::st_bytes;
using gen_test::st_bytes_n;
using gen_test::throws_error;

namespace {

gen::SafetensorsHeader parse(const std::string& file) {
  return gen::parse_safetensors_header(reinterpret_cast<const std::uint8_t*>(file.data()),
                                       file.size(), file.size(), "x.safetensors");
}

// A file whose header is `header` and whose data buffer is `data_size` zero bytes.
std::string file_with(const std::string& header, std::size_t data_size) {
  return st_bytes(header, std::string(data_size, '\0'));
}

::testing::AssertionResult rejects(const std::string& header, std::size_t data_size,
                                   const std::string& part,
                                   ErrorCode code = ErrorCode::InvalidFormat) {
  const std::string f = file_with(header, data_size);
  return throws_error([&] { parse(f); }, code, part);
}

const char* kOne = R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}})";

}  // namespace

// ---- happy paths -----------------------------------------------------------------

TEST(SafetensorsFormat, EmptyHeaderNoTensors) {
  const auto h = parse(st_bytes("{}"));  // N = 2: not a multiple of 8, still fine
  EXPECT_TRUE(h.tensors.empty());
  EXPECT_TRUE(h.metadata.empty());
  EXPECT_EQ(h.header_size, 2u);
  EXPECT_EQ(h.data_size, 0u);
}

TEST(SafetensorsFormat, OneTensor) {
  const auto h = parse(file_with(kOne, 12));
  ASSERT_EQ(h.tensors.size(), 1u);
  EXPECT_EQ(h.tensors[0].name, "a");
  EXPECT_EQ(h.tensors[0].dtype, DType::F32);
  EXPECT_EQ(h.tensors[0].shape, std::vector<std::int64_t>{3});
  EXPECT_EQ(h.tensors[0].begin, 0u);
  EXPECT_EQ(h.tensors[0].end, 12u);
  EXPECT_EQ(h.tensors[0].numel(), 3u);
  EXPECT_EQ(h.data_size, 12u);
}

TEST(SafetensorsFormat, PaddedWithSpacesAndOtherJsonWhitespace) {
  std::string hdr = kOne;
  hdr.append(13, ' ');
  EXPECT_EQ(parse(file_with(hdr, 12)).tensors.size(), 1u);
  // The reference's JSON parser skips all JSON whitespace around the object.
  EXPECT_EQ(parse(file_with(std::string(" \t\n") + kOne + "\r\n  ", 12)).tensors.size(), 1u);
}

TEST(SafetensorsFormat, RejectsNulPadding) {
  EXPECT_TRUE(rejects(std::string(kOne) + std::string(4, '\0'), 12, "NUL byte at offset 55"));
  EXPECT_TRUE(rejects(std::string("{}\0garbage", 10), 0, "NUL byte at offset 2"));
}

TEST(SafetensorsFormat, AllDtypes) {
  struct Case { const char* name; const char* shape; int bytes; DType d; };
  const Case cases[] = {
      {"BOOL", "[2]", 2, DType::BOOL},         {"U8", "[2]", 2, DType::U8},
      {"I8", "[2]", 2, DType::I8},             {"I16", "[2]", 4, DType::I16},
      {"U16", "[2]", 4, DType::U16},           {"I32", "[2]", 8, DType::I32},
      {"U32", "[2]", 8, DType::U32},           {"I64", "[2]", 16, DType::I64},
      {"U64", "[2]", 16, DType::U64},          {"F16", "[2]", 4, DType::F16},
      {"BF16", "[2]", 4, DType::BF16},         {"F32", "[2]", 8, DType::F32},
      {"F64", "[2]", 16, DType::F64},          {"F8_E4M3", "[2]", 2, DType::F8_E4M3},
      {"F8_E5M2", "[2]", 2, DType::F8_E5M2},   {"F8_E8M0", "[2]", 2, DType::F8_E8M0},
      {"F8_E4M3FNUZ", "[2]", 2, DType::F8_E4M3FNUZ},
      {"F8_E5M2FNUZ", "[2]", 2, DType::F8_E5M2FNUZ},
      {"F6_E2M3", "[4]", 3, DType::F6_E2M3},   {"F6_E3M2", "[2,2]", 3, DType::F6_E3M2},
      {"F4", "[2]", 1, DType::F4},             {"C64", "[2]", 16, DType::C64},
  };
  std::string hdr = "{";
  int offset = 0;
  for (const auto& c : cases) {
    if (hdr.size() > 1) hdr += ",";
    hdr += std::string("\"t_") + c.name + "\":{\"dtype\":\"" + c.name + "\",\"shape\":" + c.shape +
           ",\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + c.bytes) + "]}";
    offset += c.bytes;
  }
  hdr += "}";
  const auto h = parse(file_with(hdr, offset));
  ASSERT_EQ(h.tensors.size(), sizeof cases / sizeof cases[0]);
  for (std::size_t i = 0; i < h.tensors.size(); ++i) {
    EXPECT_EQ(h.tensors[i].name, std::string("t_") + cases[i].name);
    EXPECT_EQ(h.tensors[i].dtype, cases[i].d);
    EXPECT_STREQ(gen::dtype_name(cases[i].d), cases[i].name);
    DType back;
    ASSERT_TRUE(gen::dtype_from_name(cases[i].name, back));
    EXPECT_EQ(back, cases[i].d);
  }
}

TEST(SafetensorsFormat, Metadata) {
  const auto h = parse(file_with(
      R"({"__metadata__":{"format":"pt","note":"\u00e9\n"},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", 1));
  EXPECT_EQ(h.metadata.size(), 2u);
  EXPECT_EQ(h.metadata.at("format"), "pt");
  EXPECT_EQ(h.metadata.at("note"), "\xc3\xa9\n");
  EXPECT_EQ(h.tensors.size(), 1u);
}

TEST(SafetensorsFormat, ZeroSizeTensorsAndScalars) {
  const auto h = parse(file_with(
      R"({"e1":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},)"
      R"("e2":{"dtype":"F16","shape":[2,0,3],"data_offsets":[0,0]},)"
      R"("s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},)"
      R"("e3":{"dtype":"F4","shape":[0],"data_offsets":[4,4]}})", 4));
  ASSERT_EQ(h.tensors.size(), 4u);
  EXPECT_EQ(h.tensors[2].name, "s");
  EXPECT_EQ(h.tensors[2].numel(), 1u);
  EXPECT_EQ(h.tensors[3].name, "e3");
}

TEST(SafetensorsFormat, EntriesSortedByOffset) {
  const auto h = parse(file_with(
      R"({"z":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}})", 3));
  ASSERT_EQ(h.tensors.size(), 2u);
  EXPECT_EQ(h.tensors[0].name, "z");
  EXPECT_EQ(h.tensors[1].name, "a");
}

TEST(SafetensorsFormat, UnicodeAndEmptyNames) {
  const auto h = parse(file_with(
      "{\"\xe6\x97\xa5\xf0\x9f\x98\x80\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
      "\"\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", 2));
  EXPECT_EQ(h.tensors[0].name, "\xe6\x97\xa5\xf0\x9f\x98\x80");
  EXPECT_EQ(h.tensors[1].name, "");
}

TEST(SafetensorsFormat, HeaderPrefixIsEnough) {
  const std::string f = file_with(kOne, 12);
  const std::size_t prefix = f.size() - 12;
  const auto h = gen::parse_safetensors_header(reinterpret_cast<const std::uint8_t*>(f.data()),
                                               prefix, f.size(), "x");
  EXPECT_EQ(h.tensors.size(), 1u);
  EXPECT_TRUE(throws_error(
      [&] { gen::parse_safetensors_header(reinterpret_cast<const std::uint8_t*>(f.data()), prefix - 1, f.size(), "x"); },
      ErrorCode::InvalidArgument, "fewer than"));
}

// ---- the length field --------------------------------------------------------------

TEST(SafetensorsFormat, FileShorterThanLengthField) {
  for (std::size_t n = 0; n < 8; ++n) {
    const std::string f(n, '\0');
    EXPECT_TRUE(throws_error([&] { parse(f); }, ErrorCode::InvalidFormat, "too short")) << n;
  }
}

TEST(SafetensorsFormat, HeaderLengthOverCap) {
  EXPECT_TRUE(throws_error([] { parse(st_bytes_n(100000001, "{}")); }, ErrorCode::InvalidFormat,
                           "exceeds the limit of 100000000"));
  EXPECT_TRUE(throws_error([] { parse(st_bytes_n(std::numeric_limits<std::uint64_t>::max(), "{}")); },
                           ErrorCode::InvalidFormat, "exceeds the limit"));
  EXPECT_TRUE(throws_error([] { parse(st_bytes_n(1ull << 63, "{}")); }, ErrorCode::InvalidFormat,
                           "exceeds the limit"));
}

TEST(SafetensorsFormat, HeaderLengthPastEndOfFile) {
  EXPECT_TRUE(throws_error([] { parse(st_bytes_n(3, "{}")); }, ErrorCode::InvalidFormat,
                           "runs past the end"));
  EXPECT_TRUE(throws_error([] { parse(st_bytes_n(100000000, "{}")); }, ErrorCode::InvalidFormat,
                           "runs past the end"));
}

TEST(SafetensorsFormat, ZeroLengthHeader) {
  EXPECT_TRUE(throws_error([] { parse(st_bytes("")); }, ErrorCode::InvalidFormat, "not valid JSON"));
}

// ---- text and JSON ---------------------------------------------------------------------

TEST(SafetensorsFormat, InvalidUtf8) {
  EXPECT_TRUE(rejects("{\"a\xff\":{}}", 0, "not valid UTF-8 (bad byte at offset 3"));
  EXPECT_TRUE(rejects("{\"\xc0\x80\":{}}", 0, "not valid UTF-8"));      // overlong NUL
  EXPECT_TRUE(rejects("{\"\xed\xa0\x80\":{}}", 0, "not valid UTF-8"));  // a surrogate
  EXPECT_TRUE(rejects("{\"\xf4\x90\x80\x80\":{}}", 0, "not valid UTF-8"));  // > U+10FFFF
  EXPECT_TRUE(rejects("{\"\xe6\x97\":{}}", 0, "not valid UTF-8"));      // cut sequence
}

TEST(SafetensorsFormat, LoneSurrogateEscape) {
  EXPECT_TRUE(rejects(R"({"__metadata__":{"k":"\ud800"}})", 0, "not valid JSON"));
}

TEST(SafetensorsFormat, NotJson) {
  EXPECT_TRUE(rejects("{\"a\":", 0, "not valid JSON"));
  EXPECT_TRUE(rejects("{'a':1}", 0, "not valid JSON"));
  EXPECT_TRUE(rejects("{} {}", 0, "not valid JSON"));
  EXPECT_TRUE(rejects("{}x", 0, "not valid JSON"));
  EXPECT_TRUE(rejects("{/*c*/}", 0, "not valid JSON"));
}

TEST(SafetensorsFormat, TopLevelNotAnObject) {
  EXPECT_TRUE(rejects("[]", 0, "header is an array, not a JSON object"));
  EXPECT_TRUE(rejects("\"x\"", 0, "header is a string, not a JSON object"));
  EXPECT_TRUE(rejects("12", 0, "header is a number, not a JSON object"));
  EXPECT_TRUE(rejects("null", 0, "not a JSON object"));
}

TEST(SafetensorsFormat, DuplicateTensorName) {
  EXPECT_TRUE(rejects(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                      R"("a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})",
                      2, "duplicate tensor name 'a'"));
}

TEST(SafetensorsFormat, MetadataRules) {
  EXPECT_TRUE(rejects(R"({"__metadata__":{"k":"1","k":"2"}})", 0, "has the key 'k' twice"));
  EXPECT_TRUE(rejects(R"({"__metadata__":{},"__metadata__":{}})", 0, "__metadata__ appears twice"));
  EXPECT_TRUE(rejects(R"({"__metadata__":"pt"})", 0, "__metadata__ is a string; it must be an object"));
  EXPECT_TRUE(rejects(R"({"__metadata__":null})", 0, "__metadata__ is null"));
  EXPECT_TRUE(rejects(R"({"__metadata__":["a"]})", 0, "__metadata__ is an array"));
  EXPECT_TRUE(rejects(R"({"__metadata__":{"k":1}})", 0, "value of key 'k' is a number"));
  EXPECT_TRUE(rejects(R"({"__metadata__":{"k":null}})", 0, "value of key 'k' is null"));
  EXPECT_TRUE(rejects(R"({"__metadata__":{"k":{"x":"y"}}})", 0, "value of key 'k' is an object"));
  EXPECT_TRUE(rejects(R"({"__metadata__":{"k":["y"]}})", 0, "value of key 'k' is an array"));
}

// ---- tensor entries --------------------------------------------------------------------

TEST(SafetensorsFormat, EntryNotAnObject) {
  EXPECT_TRUE(rejects(R"({"a":5})", 0, "tensor 'a': entry is a number, not an object"));
  EXPECT_TRUE(rejects(R"({"a":[0,1]})", 0, "tensor 'a': entry is an array"));
  EXPECT_TRUE(rejects(R"({"a":"F32"})", 0, "tensor 'a': entry is a string"));
}

TEST(SafetensorsFormat, UnknownField) {
  EXPECT_TRUE(rejects(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"extra":1}})", 1,
                      "tensor 'a': unknown field 'extra'"));
}

TEST(SafetensorsFormat, DuplicateField) {
  EXPECT_TRUE(rejects(R"({"a":{"dtype":"U8","dtype":"U8","shape":[1],"data_offsets":[0,1]}})", 1,
                      "tensor 'a': field dtype appears twice"));
}

TEST(SafetensorsFormat, MissingField) {
  EXPECT_TRUE(rejects(R"({"a":{"shape":[1],"data_offsets":[0,1]}})", 1, "tensor 'a': missing field dtype"));
  EXPECT_TRUE(rejects(R"({"a":{"dtype":"U8","data_offsets":[0,1]}})", 1, "tensor 'a': missing field shape"));
  EXPECT_TRUE(rejects(R"({"a":{"dtype":"U8","shape":[1]}})", 1, "tensor 'a': missing field data_offsets"));
  EXPECT_TRUE(rejects(R"({"a":{}})", 0, "missing field"));
}

TEST(SafetensorsFormat, UnknownDtype) {
  EXPECT_TRUE(rejects(R"({"a":{"dtype":"F17","shape":[1],"data_offsets":[0,1]}})", 1,
                      "tensor 'a': unknown dtype 'F17'", ErrorCode::Unsupported));
  EXPECT_TRUE(rejects(R"({"a":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}})", 4,
                      "unknown dtype 'f32'"));
  EXPECT_TRUE(rejects(R"({"a":{"dtype":"","shape":[1],"data_offsets":[0,4]}})", 4, "unknown dtype ''"));
  EXPECT_TRUE(rejects(R"({"a":{"dtype":32,"shape":[1],"data_offsets":[0,4]}})", 4,
                      "tensor 'a': dtype is a number, not a string"));
}

TEST(SafetensorsFormat, ShapeMustBeNonNegativeIntegers) {
  const char* bad[] = {
      R"({"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}})",
      R"({"a":{"dtype":"U8","shape":[-0],"data_offsets":[0,0]}})",
      R"({"a":{"dtype":"U8","shape":[1.0],"data_offsets":[0,1]}})",
      R"({"a":{"dtype":"U8","shape":[1e0],"data_offsets":[0,1]}})",
      R"({"a":{"dtype":"U8","shape":["1"],"data_offsets":[0,1]}})",
      R"({"a":{"dtype":"U8","shape":[[1]],"data_offsets":[0,1]}})",
      R"({"a":{"dtype":"U8","shape":[null],"data_offsets":[0,1]}})",
      R"({"a":{"dtype":"U8","shape":1,"data_offsets":[0,1]}})",
      R"({"a":{"dtype":"U8","shape":{"0":1},"data_offsets":[0,1]}})",
      R"({"a":{"dtype":"U8","shape":[18446744073709551616],"data_offsets":[0,1]}})",
  };
  for (const char* h : bad)
    EXPECT_TRUE(rejects(h, 1, "shape must be an array of non-negative integers")) << h;
  EXPECT_TRUE(rejects(R"({"a":{"dtype":"U8","shape":[9223372036854775808,0],"data_offsets":[0,0]}})", 0,
                      "shape dimension 9223372036854775808 is too large"));
}

TEST(SafetensorsFormat, DataOffsetsMustBeTwoNonNegativeIntegers) {
  const char* bad[] = {
      R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[1]}})",
      R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[]}})",
      R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}})",
      R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[-1,0]}})",
      R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1.0]}})",
      R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,"1"]}})",
      R"({"a":{"dtype":"U8","shape":[1],"data_offsets":{"0":0,"1":1}}})",
      R"({"a":{"dtype":"U8","shape":[1],"data_offsets":"0,1"}})",
      R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,99999999999999999999]}})",
  };
  for (const char* h : bad)
    EXPECT_TRUE(rejects(h, 1, "data_offsets must be an array of exactly two non-negative integers")) << h;
}

TEST(SafetensorsFormat, OffsetsEndBeforeBegin) {
  EXPECT_TRUE(rejects(R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}})", 4,
                      "tensor 'a': data_offsets [4, 0] end before they begin"));
}

TEST(SafetensorsFormat, SizeMustMatchShapeAndDtype) {
  EXPECT_TRUE(rejects(R"({"a.weight":{"dtype":"F32","shape":[3],"data_offsets":[0,10]}})", 10,
                      "tensor 'a.weight': data_offsets [0, 10] hold 10 bytes but F32 shape [3] needs 12"));
  EXPECT_TRUE(rejects(R"({"a":{"dtype":"F16","shape":[2,3],"data_offsets":[0,24]}})", 24,
                      "hold 24 bytes but F16 shape [2, 3] needs 12"));
  EXPECT_TRUE(rejects(R"({"a":{"dtype":"F32","shape":[],"data_offsets":[0,0]}})", 0,
                      "hold 0 bytes but F32 shape [] needs 4"));
}

TEST(SafetensorsFormat, SizeOverflowIsCaught) {
  EXPECT_TRUE(rejects(R"({"a":{"dtype":"U8","shape":[4294967296,4294967296,2],"data_offsets":[0,0]}})", 0,
                      "more elements than fit in 64 bits"));
  EXPECT_TRUE(rejects(R"({"a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,0]}})", 0,
                      "larger than 2^64 bits"));
  // 2^61 elements of 8 bytes wrap to 0 in unchecked 64-bit arithmetic.
  EXPECT_TRUE(rejects(R"({"a":{"dtype":"F64","shape":[2305843009213693952,1],"data_offsets":[0,0]}})", 0,
                      "larger than 2^64 bits"));
  // A zero dimension makes a huge shape legal.
  EXPECT_NO_THROW(parse(file_with(R"({"a":{"dtype":"F64","shape":[9223372036854775807,0],"data_offsets":[0,0]}})", 0)));
}

TEST(SafetensorsFormat, SubByteDtypesMustFillWholeBytes) {
  EXPECT_TRUE(rejects(R"({"a":{"dtype":"F4","shape":[3],"data_offsets":[0,1]}})", 1,
                      "F4 shape [3] is 12 bits, not a whole number of bytes"));
  EXPECT_TRUE(rejects(R"({"a":{"dtype":"F6_E2M3","shape":[2],"data_offsets":[0,1]}})", 1,
                      "F6_E2M3 shape [2] is 12 bits"));
  EXPECT_NO_THROW(parse(file_with(R"({"a":{"dtype":"F4","shape":[2,3],"data_offsets":[0,3]}})", 3)));
}

// ---- layout of the data buffer --------------------------------------------------------

TEST(SafetensorsFormat, MustStartAtZero) {
  EXPECT_TRUE(rejects(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})", 2,
                      "data bytes [0, 1) belong to no tensor"));
}

TEST(SafetensorsFormat, NoHoles) {
  EXPECT_TRUE(rejects(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                      R"("b":{"dtype":"U8","shape":[1],"data_offsets":[2,3]}})",
                      3, "data bytes [1, 2) belong to no tensor (hole before tensor 'b'"));
}

TEST(SafetensorsFormat, NoOverlaps) {
  EXPECT_TRUE(rejects(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
                      R"("b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}})",
                      3, "tensor 'b': data_offsets [1, 3] overlap tensor 'a' at [0, 2]"));
  EXPECT_TRUE(rejects(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
                      R"("b":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})",
                      2, "overlap"));
}

TEST(SafetensorsFormat, LastEndMustEqualDataSize) {
  EXPECT_TRUE(rejects(kOne, 16, "data buffer holds 16 bytes but the tensors cover only 12"));
  EXPECT_TRUE(rejects(kOne, 8, "tensor 'a' ends at data byte 12 but the data buffer holds only 8"));
  EXPECT_TRUE(rejects("{}", 1, "data buffer holds 1 bytes but the tensors cover only 0"));
}

TEST(SafetensorsFormat, MessagesNameTheSubject) {
  const std::string f = file_with("[]", 0);
  EXPECT_TRUE(throws_error([&] { parse(f); }, ErrorCode::InvalidFormat, "x.safetensors: header is"));
}

TEST(SafetensorsFormat, HostileNamesAreEscapedInMessages) {
  EXPECT_TRUE(rejects("{\"a\\u0000'\\n\":5}", 0, "tensor 'a\\x00\\x27\\x0a': entry is a number"));
}

// ---- robustness --------------------------------------------------------------------------

TEST(SafetensorsFormat, EveryTruncationThrows) {
  const std::string f = file_with(
      R"({"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("b":{"dtype":"F4","shape":[4],"data_offsets":[8,10]}})", 10);
  ASSERT_NO_THROW(parse(f));
  for (std::size_t n = 0; n < f.size(); ++n) {
    const std::string cut = f.substr(0, n);
    try {
      parse(cut);
      ADD_FAILURE() << "prefix of " << n << " bytes accepted";
    } catch (const gen::Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::InvalidFormat) << n << ": " << e.what();
    }
  }
}

TEST(SafetensorsFormat, EveryByteFlipIsHandled) {
  const std::string f = file_with(kOne, 12);
  for (std::size_t i = 0; i < f.size(); ++i) {
    for (unsigned char x : {0x01, 0x80, 0xff}) {
      std::string g = f;
      g[i] = static_cast<char>(g[i] ^ x);
      try {
        parse(g);
      } catch (const gen::Error& e) {
        EXPECT_TRUE(e.code() == ErrorCode::InvalidFormat || e.code() == ErrorCode::Unsupported)
            << e.what();
      }
    }
  }
}

TEST(SafetensorsFormat, DeepNestingIsRejectedQuickly) {
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  EXPECT_TRUE(rejects(deep, 0, "header is an array"));
  const std::string deep2 = "{\"a\":{\"shape\":" + std::string(100000, '[') + std::string(100000, ']') + "}}";
  EXPECT_TRUE(rejects(deep2, 0, "shape holds an array"));
}
