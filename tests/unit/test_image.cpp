// Image files: decoding against Pillow's fixtures (tests/data/images, made by
// tools/make_image_fixtures.py), PNG/JPEG writing and round trips, text chunks,
// hostile and broken files, and the pixel conversions.
//
// JPEG pixels are compared with a per-file tolerance written in fixtures.json
// (2 levels, 3 for CMYK): Pillow's wheel carries its own libjpeg-turbo build,
// whose SIMD colour conversion and upsampling may round differently by a level
// from the system library gen links; PNG must match exactly.
//
// ImagePillow.* checks that Pillow reads what gen writes; it runs the Python
// from $GEN_PYTHON, else GEN_PYTHON of this build's CMakeCache.txt, and is
// skipped (with a message) without one.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "test_python.hpp"
#include "gen/error.hpp"
#include "gen/image.hpp"
#include "unit/safetensors_test_util.hpp"

using gen::ErrorCode;
using gen::Image;
using gen_test::read_file;
using gen_test::test_dir;
using gen_test::throws_error;
using gen_test::write_file;
using nlohmann::json;
using TextMap = std::map<std::string, std::string>;

namespace {

const std::string kImages = GEN_TEST_DATA_DIR "/images";

json fixtures() {
  std::ifstream in(kImages + "/fixtures.json");
  return json::parse(in);
}

std::vector<unsigned> from_hex(const std::string& hex, int bit_depth) {
  std::vector<unsigned> out;
  const std::size_t step = bit_depth == 16 ? 4 : 2;
  for (std::size_t i = 0; i + step <= hex.size(); i += step)
    out.push_back(static_cast<unsigned>(std::stoul(hex.substr(i, step), nullptr, 16)));
  return out;
}

std::vector<unsigned> samples(const Image& im) {
  if (im.bit_depth == 16) return std::vector<unsigned>(im.data16.begin(), im.data16.end());
  return std::vector<unsigned>(im.data8.begin(), im.data8.end());
}

// A deterministic test image.
Image pattern(int w, int h, int c, int depth, unsigned seed = 1) {
  Image im = Image::make(w, h, c, depth);
  std::mt19937 rng(seed);
  for (auto& v : im.data8) v = static_cast<std::uint8_t>(rng());
  for (auto& v : im.data16) v = static_cast<std::uint16_t>(rng());
  return im;
}

// CRC-32 of PNG chunks (to forge headers).
std::uint32_t crc32(const std::string& bytes) {
  std::uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : bytes) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return c ^ 0xFFFFFFFFu;
}

std::string be32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

// A PNG encoded by gen with its IHDR size replaced (CRC fixed up).
std::string png_claiming(std::uint32_t w, std::uint32_t h) {
  const auto v = gen::encode_png(pattern(1, 1, 3, 8));
  std::string b(v.begin(), v.end());
  b.replace(16, 8, be32(w) + be32(h));
  b.replace(29, 4, be32(crc32(b.substr(12, 17))));
  return b;
}

// Chunk types of a PNG, in order.
std::vector<std::string> chunk_types(const std::vector<std::uint8_t>& png) {
  std::vector<std::string> out;
  for (std::size_t i = 8; i + 8 <= png.size();) {
    const std::uint32_t n = (std::uint32_t(png[i]) << 24) | (png[i + 1] << 16) | (png[i + 2] << 8) | png[i + 3];
    out.emplace_back(reinterpret_cast<const char*>(&png[i + 4]), 4);
    i += 12 + static_cast<std::size_t>(n);
  }
  return out;
}

std::string hex(const Image& im) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned v : samples(im)) {
    if (im.bit_depth == 16) out += {d[(v >> 12) & 15], d[(v >> 8) & 15]};
    out += {d[(v >> 4) & 15], d[v & 15]};
  }
  return out;
}

void expect_refused(const std::string& bytes, const std::string& what, ErrorCode code = ErrorCode::InvalidFormat) {
  EXPECT_TRUE(throws_error(
      [&] { gen::decode_image(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), what); },
      code, what))
      << what;
}

}  // namespace

// ---------------------------------------------------------------- reference fixtures

TEST(ImageFixtures, DecodeLikePillow) {
  const json f = fixtures();
  ASSERT_GE(f["images"].size(), 25u);
  for (const auto& e : f["images"]) {
    const std::string name = e["file"];
    SCOPED_TRACE(name);
    gen::ImageFile file;
    ASSERT_NO_THROW(file = gen::read_image_file(kImages + "/" + name));
    const Image& im = file.image;
    EXPECT_EQ(file.format == gen::ImageFormat::Png ? "png" : "jpeg", e["format"].get<std::string>());
    ASSERT_EQ(im.width, e["width"].get<int>());
    ASSERT_EQ(im.height, e["height"].get<int>());
    ASSERT_EQ(im.channels, e["channels"].get<int>());
    ASSERT_EQ(im.bit_depth, e["bit_depth"].get<int>());
    EXPECT_EQ(file.source_bit_depth, e["source_bit_depth"].get<int>()) << file.description;
    EXPECT_EQ(file.orientation, e["orientation"].get<int>());
    EXPECT_EQ(file.text, e["text"].get<TextMap>());
    const auto want = from_hex(e["pixels"], im.bit_depth);
    const auto got = samples(im);
    ASSERT_EQ(got.size(), want.size());
    const unsigned tol = e["tolerance"];
    unsigned worst = 0;
    for (std::size_t i = 0; i < got.size(); ++i)
      worst = std::max(worst, got[i] > want[i] ? got[i] - want[i] : want[i] - got[i]);
    EXPECT_LE(worst, tol) << file.description;
    // Reading is the same through every entry point.
    const Image again = gen::read_image(kImages + "/" + name);
    EXPECT_EQ(samples(again), got);
  }
}

TEST(ImageFixtures, Descriptions) {
  EXPECT_EQ(gen::read_image_file(kImages + "/interlaced_grey4.png").description, "PNG 4-bit grey, interlaced");
  EXPECT_EQ(gen::read_image_file(kImages + "/palette8_trns.png").description,
            "PNG 8-bit palette with transparency");
  EXPECT_EQ(gen::read_image_file(kImages + "/rgb420.jpg").description, "JPEG YCbCr 4:2:0");
  EXPECT_EQ(gen::read_image_file(kImages + "/progressive.jpg").description, "JPEG YCbCr 4:2:0, progressive");
  EXPECT_EQ(gen::read_image_file(kImages + "/cmyk.jpg").description, "JPEG CMYK");
}

TEST(ImageFixtures, ReadPngTextAndOrientationOff) {
  const json f = fixtures();
  for (const auto& e : f["images"]) {
    const std::string name = e["file"];
    EXPECT_EQ(gen::read_png_text(kImages + "/" + name), e["text"].get<TextMap>()) << name;
  }
  const auto text = gen::read_png_text(kImages + "/text_a1111.png");
  EXPECT_EQ(text.at("gen"), "{\"prompt\": \"\xE7\x8C\xAB on a mat \xE2\x9C\x93\", \"seed\": 1}");
  EXPECT_EQ(text.at("after idat"), "written after the pixels \xC3\xA9");  // Latin-1 é as UTF-8
  gen::ReadOptions keep;
  keep.apply_orientation = false;
  const auto raw = gen::read_image_file(kImages + "/orient6.png", keep);
  EXPECT_EQ(raw.orientation, 6);
  EXPECT_EQ(raw.image.width, 5);  // stored landscape, displayed portrait
  EXPECT_EQ(gen::read_image(kImages + "/orient6.png").width, 3);
}

// ---------------------------------------------------------------- round trips

TEST(ImageRoundTrip, EveryLayout) {
  const std::string dir = test_dir();
  for (int depth : {8, 16}) {
    for (int c = 1; c <= 4; ++c) {
      const Image im = pattern(17, 5, c, depth, static_cast<unsigned>(c * depth));
      const std::string path = dir + "/rt_" + std::to_string(c) + "_" + std::to_string(depth) + ".png";
      gen::write_png(path, im);
      const gen::ImageFile back = gen::read_image_file(path);
      EXPECT_EQ(back.image.channels, c);
      EXPECT_EQ(back.image.bit_depth, depth);
      EXPECT_EQ(back.image.data8, im.data8) << path;
      EXPECT_EQ(back.image.data16, im.data16) << path;
      EXPECT_TRUE(back.text.empty());
    }
  }
  // 1x1 is a valid image; so is a long thin one.
  for (auto [w, h] : std::vector<std::pair<int, int>>{{1, 1}, {4000, 1}, {1, 3000}}) {
    const Image im = pattern(w, h, 3, 8);
    gen::write_png(dir + "/thin.png", im);
    EXPECT_EQ(gen::read_image(dir + "/thin.png").data8, im.data8);
  }
  EXPECT_EQ(gen_test::list_dir(dir).size(), 9u);  // no temp files left
}

TEST(ImageRoundTrip, TextChunksAsA1111Writes) {
  const std::map<std::string, std::string> text = {
      {"parameters", "a cat, masterpiece\nNegative prompt: dog\nSteps: 20, Sampler: DPM++ 2M Karras, "
                     "CFG scale: 7, Seed: 42, Size: 512x512, Model: sd15 \xC2\xA9 \xC3\xA9t\xC3\xA9"},
      {"gen", "{\"prompt\": \"\xE7\x8C\xAB \xF0\x9F\x90\x88\"}"},  // CJK and emoji: not Latin-1
      {"empty", ""},
      {"Key with spaces and \xC3\xA9", "v"}};
  const auto png = gen::encode_png(pattern(8, 8, 3, 8), text);
  // Sorted keys: Key..., empty, gen, parameters. tEXt for Latin-1, iTXt otherwise.
  EXPECT_EQ(chunk_types(png), (std::vector<std::string>{"IHDR", "tEXt", "tEXt", "iTXt", "tEXt", "IDAT", "IEND"}));
  // The Latin-1 value is stored as Latin-1 (é is one byte 0xE9).
  const std::string bytes(png.begin(), png.end());
  EXPECT_NE(bytes.find("Model: sd15 \xA9 \xE9t\xE9"), std::string::npos);
  const auto back = gen::decode_image(png.data(), png.size(), "mem");
  EXPECT_EQ(back.text, text);

  // Long values compressed when asked: zTXt (Latin-1) and compressed iTXt.
  std::map<std::string, std::string> long_text = {{"parameters", std::string(5000, 'a')},
                                                  {"gen", std::string(3000, 'x') + "\xE2\x9C\x93"},
                                                  {"short", "kept plain"}};
  gen::PngWriteOptions opt;
  opt.compress_text_from = 1024;
  const auto packed = gen::encode_png(pattern(4, 4, 1, 8), long_text, opt);
  EXPECT_EQ(chunk_types(packed), (std::vector<std::string>{"IHDR", "iTXt", "zTXt", "tEXt", "IDAT", "IEND"}));
  EXPECT_LT(packed.size(), 1000u);
  EXPECT_EQ(gen::decode_image(packed.data(), packed.size(), "mem").text, long_text);
  const std::string dir = test_dir();
  gen::write_png(dir + "/t.png", pattern(4, 4, 1, 8), long_text, opt);
  EXPECT_EQ(gen::read_png_text(dir + "/t.png"), long_text);
}

TEST(ImageRoundTrip, Jpeg) {
  const std::string dir = test_dir();
  Image im = Image::make(48, 32, 3);
  for (int y = 0; y < 32; ++y)
    for (int x = 0; x < 48; ++x)
      for (int c = 0; c < 3; ++c) im.data8[(y * 48 + x) * 3 + c] = static_cast<std::uint8_t>(x * 4 + y * 2 + c * 10);
  gen::write_jpeg(dir + "/a.jpg", im, 95);
  const gen::ImageFile back = gen::read_image_file(dir + "/a.jpg");
  ASSERT_EQ(back.format, gen::ImageFormat::Jpeg);
  ASSERT_EQ(back.image.channels, 3);
  double err = 0;
  for (std::size_t i = 0; i < im.data8.size(); ++i) err += std::abs(int(im.data8[i]) - int(back.image.data8[i]));
  EXPECT_LT(err / im.data8.size(), 3.0);
  // Grey stays grey; RGBA is flattened on white.
  gen::write_jpeg(dir + "/g.jpg", pattern(9, 9, 1, 16));
  EXPECT_EQ(gen::read_image(dir + "/g.jpg").channels, 1);
  Image clear = Image::make(16, 16, 4);  // all transparent
  gen::write_jpeg(dir + "/w.jpg", clear);
  for (auto v : gen::read_image(dir + "/w.jpg").data8) EXPECT_GE(v, 254);
  EXPECT_TRUE(throws_error([&] { gen::write_jpeg(dir + "/q.jpg", im, 0); }, ErrorCode::InvalidArgument, "quality"));
}

// ---------------------------------------------------------------- writing errors

TEST(ImageWrite, RefusesBadInputAndLeavesNothing) {
  const std::string dir = test_dir();
  const std::string path = dir + "/out.png";
  Image bad = pattern(4, 4, 3, 8);
  bad.data8.pop_back();
  EXPECT_TRUE(throws_error([&] { gen::write_png(path, bad); }, ErrorCode::InvalidArgument, "expected 48 samples"));
  Image zero;
  EXPECT_TRUE(throws_error([&] { gen::write_png(path, zero); }, ErrorCode::InvalidArgument, "empty"));
  const Image ok = pattern(4, 4, 3, 8);
  for (const std::string& key : {std::string(""), std::string(80, 'k'), std::string(" lead"), std::string("a  b"),
                                 std::string("tab\t"), std::string("\xE7\x8C\xAB")})
    EXPECT_TRUE(throws_error([&] { gen::write_png(path, ok, {{key, "v"}}); }, ErrorCode::InvalidArgument, "key"))
        << key;
  EXPECT_TRUE(throws_error([&] { gen::write_png(path, ok, {{"k", "bad \xC3"}}); }, ErrorCode::InvalidArgument, "UTF-8"));
  EXPECT_TRUE(throws_error([&] { gen::write_png(path, ok, {{"k", std::string("a\0b", 3)}}); },
                           ErrorCode::InvalidArgument, "NUL"));
  EXPECT_TRUE(gen_test::list_dir(dir).empty());

  // An existing file survives a failed write untouched.
  gen::write_png(path, ok, {{"k", "first"}});
  const std::string before = read_file(path);
  EXPECT_THROW(gen::write_png(path, bad), gen::Error);
  EXPECT_EQ(read_file(path), before);
  EXPECT_EQ(gen_test::list_dir(dir), std::vector<std::string>{"out.png"});

  EXPECT_TRUE(throws_error([&] { gen::write_png(dir + "/missing/x.png", ok); }, ErrorCode::NotFound, "missing"));
  EXPECT_TRUE(throws_error([&] { gen::write_png(dir, ok); }, ErrorCode::InvalidArgument, "folder"));
  EXPECT_TRUE(throws_error([] { Image::make(70000, 1, 3); }, ErrorCode::InvalidArgument, "limit"));
  EXPECT_TRUE(throws_error([] { Image::make(20000, 20000, 3); }, ErrorCode::InvalidArgument, "limit"));
  EXPECT_TRUE(throws_error([] { Image::make(4, 4, 5); }, ErrorCode::InvalidArgument, "channels"));
}

// ---------------------------------------------------------------- hostile input

TEST(ImageCorrupt, FilesThatAreNotImages) {
  const std::string dir = test_dir();
  write_file(dir + "/empty.png", "");
  EXPECT_TRUE(throws_error([&] { gen::read_image(dir + "/empty.png"); }, ErrorCode::InvalidFormat, "empty"));
  std::mt19937 rng(7);
  std::string noise(4096, '\0');
  for (auto& ch : noise) ch = static_cast<char>(rng());
  noise[0] = 'x';
  write_file(dir + "/noise.png", noise);
  EXPECT_TRUE(throws_error([&] { gen::read_image(dir + "/noise.png"); }, ErrorCode::InvalidFormat,
                           dir + "/noise.png: not a PNG or JPEG"));
  EXPECT_TRUE(throws_error([&] { gen::read_png_text(dir + "/noise.png"); }, ErrorCode::InvalidFormat, "noise"));
  EXPECT_TRUE(throws_error([&] { gen::read_image(dir + "/nope.png"); }, ErrorCode::NotFound, "nope.png"));
  EXPECT_TRUE(throws_error([&] { gen::read_image(dir); }, ErrorCode::InvalidArgument, "folder"));
  EXPECT_TRUE(throws_error([&] { gen::read_png_text(dir + "/nope.png"); }, ErrorCode::NotFound, "nope.png"));
  if (::geteuid() != 0) {
    write_file(dir + "/secret.png", read_file(kImages + "/rgb8.png"));
    ::chmod((dir + "/secret.png").c_str(), 0);
    EXPECT_TRUE(throws_error([&] { gen::read_image(dir + "/secret.png"); }, ErrorCode::Io, "secret.png"));
  }
  expect_refused("GIF89a\x01\x00\x01\x00", "gif", ErrorCode::Unsupported);
  expect_refused(std::string("RIFF\0\0\0\0WEBPVP8 ", 16), "webp", ErrorCode::Unsupported);
  expect_refused(std::string("\x89PNG\r\r\n\x1a\n", 9), "text-mode");
  expect_refused(std::string("\x89PN", 4), "short png");
  expect_refused("BM", "two bytes");
  // A file named .png holding a JPEG is read as JPEG (magic bytes, not names).
  write_file(dir + "/jpeg.png", read_file(kImages + "/rgb420.jpg"));
  EXPECT_EQ(gen::read_image_file(dir + "/jpeg.png").format, gen::ImageFormat::Jpeg);
}

TEST(ImageCorrupt, SizesInTheHeader) {
  const std::string one = png_claiming(1, 1);
  const auto im = gen::decode_image(reinterpret_cast<const std::uint8_t*>(one.data()), one.size(), "1x1");
  EXPECT_EQ(im.image.width, 1);
  expect_refused(png_claiming(20000, 20000), "20000x20000", ErrorCode::Unsupported);
  expect_refused(png_claiming(70000, 1), "70000x1", ErrorCode::Unsupported);
  expect_refused(png_claiming(0, 0), "0x0");
  expect_refused(png_claiming(0x80000000u, 1), "2^31");
  // Claims 100x100 but holds 1x1's data: refused, not read out of bounds.
  expect_refused(png_claiming(100, 100), "100x100");
  // A JPEG SOF claiming 65000x65000.
  std::string jpg = read_file(kImages + "/grey.jpg");
  const std::size_t sof = jpg.find("\xFF\xC0");
  ASSERT_NE(sof, std::string::npos);
  jpg.replace(sof + 5, 4, "\xFD\xE8\xFD\xE8");
  expect_refused(jpg, "jpeg 65000x65000", ErrorCode::Unsupported);
  jpg.replace(sof + 5, 4, std::string(4, '\0'));
  expect_refused(jpg, "jpeg 0x0");
}

TEST(ImageCorrupt, SmallFilesClaimingLargeImagesAreRefusedBeforeAllocating) {
  // 16384x16384 RGB within the caps, in 70 bytes: 768 MiB of pixels were allocated (and
  // 2 GiB for 16-bit RGBA, 12 s) before libpng found the data missing.
  EXPECT_TRUE(throws_error(
      [] {
        const std::string b = png_claiming(16384, 16384);
        gen::decode_image(reinterpret_cast<const std::uint8_t*>(b.data()), b.size(), "claims.png");
      },
      ErrorCode::InvalidFormat, "claims.png: truncated or corrupt PNG: a 16384x16384 image needs at least 780335 bytes"));
  // A zTXt chunk declaring 1 GiB after the IHDR of a 40-byte file: libpng allocated the
  // declared length before finding the file truncated (found by fuzz_png).
  const std::string cut = read_file(kImages + "/rgb8.png").substr(0, 33) + std::string("\x41\x4d\x41\x19zTXtabc", 11);
  EXPECT_TRUE(throws_error(
      [&] { gen::decode_image(reinterpret_cast<const std::uint8_t*>(cut.data()), cut.size(), "chunk.png"); },
      ErrorCode::InvalidFormat,
      "chunk.png: truncated or corrupt PNG: the chunk at offset 33 declares 1095581977 bytes, past the end of the file (44 bytes)"));
  const std::string path = test_dir() + "/chunk.png";  // test_dir() empties the folder
  write_file(path, cut);
  EXPECT_TRUE(throws_error([&] { gen::read_png_text(path); }, ErrorCode::InvalidFormat, "declares 1095581977 bytes"));
  // A baseline JPEG SOF claiming 65500x4096 (grey: 256 MiB of pixels) in 867 bytes.
  std::string jpg = read_file(kImages + "/grey.jpg");
  const std::size_t sof = jpg.find("\xFF\xC0");
  ASSERT_NE(sof, std::string::npos);
  jpg.replace(sof + 5, 4, std::string("\x10\x00\xFF\xDC", 4));
  EXPECT_TRUE(throws_error(
      [&] { gen::decode_image(reinterpret_cast<const std::uint8_t*>(jpg.data()), jpg.size(), "claims.jpg"); },
      ErrorCode::InvalidFormat, "claims.jpg: truncated or corrupt JPEG: a 65500x4096 image needs at least"));
}

TEST(ImageCorrupt, EveryTruncationIsRefusedQuietly) {
  ::testing::internal::CaptureStderr();
  for (const char* name : {"text_a1111.png", "interlaced_grey4.png", "palette8_trns.png", "rgb16.png", "rgb420.jpg",
                           "progressive.jpg", "grey.jpg", "cmyk.jpg"}) {
    const std::string whole = read_file(kImages + "/" + name);
    ASSERT_GT(whole.size(), 50u);
    for (std::size_t cut = 1; cut < whole.size(); ++cut) {
      const std::string part = whole.substr(0, cut);
      bool refused = false;
      try {
        gen::decode_image(reinterpret_cast<const std::uint8_t*>(part.data()), part.size(), name);
      } catch (const gen::Error& e) {
        refused = e.code() == ErrorCode::InvalidFormat && std::string(e.what()).find(name) == 0;
        if (!refused) ADD_FAILURE() << name << " cut at " << cut << ": " << e.what();
      }
      if (!refused) ADD_FAILURE() << name << " cut at " << cut << " of " << whole.size() << " was accepted";
    }
  }
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");  // libpng/libjpeg printed nothing
}

TEST(ImageCorrupt, DamagedBytesNeverCrash) {
  // Flipped bytes: each decode either succeeds or throws gen::Error (run under
  // ASan/UBSan for the full value of this test).
  ::testing::internal::CaptureStderr();
  std::mt19937 rng(11);
  for (const char* name : {"text_a1111.png", "interlaced_rgb8.png", "rgb420.jpg", "progressive.jpg"}) {
    const std::string whole = read_file(kImages + "/" + name);
    for (int trial = 0; trial < 300; ++trial) {
      std::string b = whole;
      for (int k = 0; k < 1 + trial % 4; ++k) b[rng() % b.size()] = static_cast<char>(rng());
      try {
        gen::decode_image(reinterpret_cast<const std::uint8_t*>(b.data()), b.size(), name);
      } catch (const gen::Error& e) {
        EXPECT_NE(e.code(), ErrorCode::Internal) << e.what();
      }
    }
  }
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
}

// ---------------------------------------------------------------- conversions

TEST(ImageConvert, FlattenAndFloat) {
  Image ga = Image::make(3, 1, 2);
  ga.data8 = {200, 255, 200, 0, 100, 128};  // opaque, transparent, half
  const Image white = gen::to_rgb8(ga);
  EXPECT_EQ(white.data8, (std::vector<std::uint8_t>{200, 200, 200, 255, 255, 255, 177, 177, 177}));
  const Image black = gen::to_rgb8(ga, gen::kBlack);
  EXPECT_EQ(black.data8, (std::vector<std::uint8_t>{200, 200, 200, 0, 0, 0, 50, 50, 50}));
  const auto f = gen::to_float_rgb(ga);
  ASSERT_EQ(f.size(), 9u);
  EXPECT_FLOAT_EQ(f[0], 200.f / 255.f);
  EXPECT_FLOAT_EQ(f[3], 1.f);
  EXPECT_NEAR(f[6], (100.0 * 128 + 255.0 * 127) / (255.0 * 255.0), 1e-6);

  Image rgba16 = Image::make(2, 1, 4, 16);
  rgba16.data16 = {65535, 0, 257, 65535, 65535, 65535, 65535, 0};
  const Image r8 = gen::to_rgb8(rgba16, gen::kBlack);
  EXPECT_EQ(r8.data8, (std::vector<std::uint8_t>{255, 0, 1, 0, 0, 0}));
  Image g16 = Image::make(2, 1, 1, 16);
  g16.data16 = {32896, 128};  // 128.0 and 0.498 in 8-bit units
  EXPECT_EQ(gen::to_8bit(g16).data8, (std::vector<std::uint8_t>{128, 0}));
  EXPECT_EQ(gen::to_rgb8(g16).data8, (std::vector<std::uint8_t>{128, 128, 128, 0, 0, 0}));

  const float px[6] = {0.f, 1.f, -3.f, 7.f, NAN, 0.2f};
  const Image back = gen::image_from_float_rgb(px, 2, 1);
  EXPECT_EQ(back.data8, (std::vector<std::uint8_t>{0, 255, 0, 255, 0, 51}));
  // Round trip through float is exact for 8-bit RGB.
  const Image rgb = pattern(5, 4, 3, 8);
  EXPECT_EQ(gen::image_from_float_rgb(gen::to_float_rgb(rgb).data(), 5, 4).data8, rgb.data8);
}

TEST(ImageConvert, Orientation) {
  Image im = Image::make(3, 2, 1);
  im.data8 = {1, 2, 3, 4, 5, 6};  // 1 2 3 / 4 5 6
  const std::vector<std::vector<std::uint8_t>> want = {
      {}, {1, 2, 3, 4, 5, 6}, {3, 2, 1, 6, 5, 4}, {6, 5, 4, 3, 2, 1}, {4, 5, 6, 1, 2, 3},
      {1, 4, 2, 5, 3, 6}, {4, 1, 5, 2, 6, 3}, {6, 3, 5, 2, 4, 1}, {3, 6, 2, 5, 1, 4}};
  for (int o = 1; o <= 8; ++o) {
    const Image r = gen::apply_orientation(im, o);
    EXPECT_EQ(r.data8, want[o]) << o;
    EXPECT_EQ(r.width, o >= 5 ? 2 : 3) << o;
  }
}

// ---------------------------------------------------------------- Pillow reads ours

TEST(ImagePillow, ReadsWhatGenWrites) {
  const std::string python = gen::test::find_python();
  if (python.empty()) FAIL() << "no GEN_PYTHON (env or CMakeCache.txt): Pillow check skipped";
  const std::string dir = test_dir();
  json cases = json::array();
  const std::map<std::string, std::string> text = {
      {"parameters", "a caf\xC3\xA9\nSteps: 20, Seed: 1"}, {"gen", "{\"p\": \"\xE7\x8C\xAB \xF0\x9F\x90\x88\"}"}};
  int n = 0;
  for (int depth : {8, 16})
    for (int c = 1; c <= 4; ++c) {
      const std::string file = "p" + std::to_string(n++) + ".png";
      const Image im = pattern(7, 5, c, depth, static_cast<unsigned>(n));
      gen::PngWriteOptions opt;
      opt.compress_text_from = n % 2 ? 0 : 8;
      gen::write_png(dir + "/" + file, im, text, opt);
      cases.push_back({{"file", file}, {"channels", c}, {"bit_depth", depth}, {"width", 7}, {"height", 5},
                       {"pixels", hex(im)}, {"text", text}});
    }
  gen::write_jpeg(dir + "/j.jpg", pattern(16, 8, 3, 8));
  const Image ours = gen::read_image(dir + "/j.jpg");
  cases.push_back({{"file", "j.jpg"}, {"channels", 3}, {"bit_depth", 8}, {"width", 16}, {"height", 8},
                   {"pixels", hex(ours)}, {"text", json::object()}, {"tolerance", 2}});
  std::ofstream(dir + "/cases.json") << cases.dump();
  const std::string cmd = "'" + python + "' '" GEN_TEST_DATA_DIR "/../unit/image_reference.py' '" + dir + "' 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  std::array<char, 4096> buf;
  std::size_t got;
  while ((got = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), got);
  const int status = ::pclose(p);
  if (out.find("SKIP:") != std::string::npos) FAIL() << out;
  EXPECT_EQ(status, 0) << out;
}
