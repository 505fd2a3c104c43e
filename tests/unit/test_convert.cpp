#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>

#include "gen/safetensors.hpp"
#include "io/convert.hpp"
#include "io/torch_pickle_hooks.hpp"
#include "pickle_test_util.hpp"

using gen::DType;
using gen::ErrorCode;
using namespace gen::testing;
namespace fs = std::filesystem;

namespace {

float bits_f(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

std::string fnv_of(const gen::SafetensorsFile& f, const gen::TensorInfo& info) {
  return fnv1a64(static_cast<const std::uint8_t*>(f.data(info)), static_cast<std::size_t>(info.nbytes()));
}

}  // namespace

TEST(ConvertCast, Fp16Rounding) {
  using gen::io::f32_to_f16;
  EXPECT_EQ(f32_to_f16(0.0f), 0x0000);
  EXPECT_EQ(f32_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_f16(1.0f), 0x3C00);
  EXPECT_EQ(f32_to_f16(-2.0f), 0xC000);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7BFF);
  EXPECT_EQ(f32_to_f16(65519.0f), 0x7BFF);
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7C00);  // ties to even: infinity
  EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::infinity()), 0x7C00);
  EXPECT_EQ(f32_to_f16(-std::numeric_limits<float>::infinity()), 0xFC00);
  EXPECT_EQ(f32_to_f16(std::nanf("")), 0x7E00);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);  // half of it: ties to even
  EXPECT_EQ(f32_to_f16(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -14)), 0x0400);  // smallest normal
  EXPECT_EQ(f32_to_f16(1.00048828125f), 0x3C00);         // tie, even below
  EXPECT_EQ(f32_to_f16(1.00146484375f), 0x3C02);         // tie, even above
  EXPECT_EQ(gen::io::f32_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(gen::io::f32_to_bf16(bits_f(0x3F808000u)), 0x3F80);  // tie to even
  EXPECT_EQ(gen::io::f32_to_bf16(bits_f(0x3F818000u)), 0x3F82);
  EXPECT_EQ(gen::io::f32_to_bf16(std::nanf("")), 0x7FC0);
  // Every half converts to float and back unchanged (except NaN payloads).
  for (std::uint32_t h = 0; h < 0x10000; ++h) {
    const float f = gen::io::f16_to_f32(static_cast<std::uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(gen::io::f32_to_f16(f), h) << h;
    ASSERT_EQ(gen::io::bf16_to_f32(gen::io::f32_to_bf16(f)) == f || (h & 0x7C00) != 0x7C00, true);
  }
}

TEST(ConvertCast, MatchesTorchBitForBit) {
  const auto& files = expected_values()["files"];
  int checked = 0;
  for (const auto& [file, exp] : files.items()) {
    const gen::io::TorchCheckpoint c = gen::io::read_torch_checkpoint(pickle_fixture(file));
    for (const auto& t : c.tensors) {
      const auto& e = exp["tensors"][t.name];
      if (!e.contains("fnv_f16")) continue;
      SCOPED_TRACE(file + ":" + t.name);
      std::vector<std::uint8_t> scratch;
      const std::uint8_t* data = gen::io::torch_tensor_bytes(c, t, scratch);
      const std::size_t n = static_cast<std::size_t>(t.numel());
      std::vector<std::uint8_t> out(n * 2);
      const std::uint64_t over = gen::io::cast_floats(t.dtype, data, n, DType::F16, out.data());
      EXPECT_EQ(fnv1a64(out.data(), out.size()), e["fnv_f16"].get<std::string>());
      EXPECT_EQ(over, e["f16_overflow"].get<std::uint64_t>());
      gen::io::cast_floats(t.dtype, data, n, DType::BF16, out.data());
      EXPECT_EQ(fnv1a64(out.data(), out.size()), e["fnv_bf16"].get<std::string>());
      ++checked;
    }
  }
  EXPECT_GE(checked, 10);
}

TEST(Convert, TorchToSafetensorsMatchesTorch) {
  const std::string dir = scratch_dir("convert");
  const auto& files = expected_values()["files"];
  for (const auto& [file, exp] : files.items()) {
    SCOPED_TRACE(file);
    for (auto target : {gen::io::TargetDType::Keep, gen::io::TargetDType::F16, gen::io::TargetDType::BF16}) {
      const std::string out = dir + "/" + file + ".safetensors";
      gen::io::ConvertOptions opt;
      opt.dtype = target;
      const gen::io::ConvertSummary s = gen::io::convert_checkpoint(pickle_fixture(file), out, opt);
      EXPECT_EQ(s.tensors, exp["tensors"].size());
      EXPECT_EQ(s.dropped.size(), exp["dropped"].size());
      EXPECT_EQ(s.root, exp["root"].get<std::string>());
      const gen::SafetensorsFile f = gen::SafetensorsFile::open(out);
      EXPECT_EQ(f.metadata().at("format"), "pt");
      ASSERT_EQ(f.tensors().size(), exp["tensors"].size());
      for (const auto& info : f.tensors()) {
        const auto& e = exp["tensors"][info.name];
        ASSERT_TRUE(e.is_object()) << info.name;
        EXPECT_EQ(info.shape, e["shape"].get<std::vector<std::int64_t>>());
        std::string key = "fnv", dtype = e["dtype"].get<std::string>();
        if (e.contains("fnv_f16") && target == gen::io::TargetDType::F16) key = "fnv_f16", dtype = "F16";
        if (e.contains("fnv_bf16") && target == gen::io::TargetDType::BF16) key = "fnv_bf16", dtype = "BF16";
        EXPECT_EQ(gen::dtype_name(info.dtype), dtype) << info.name;
        EXPECT_EQ(fnv_of(f, info), e[key].get<std::string>()) << info.name;
      }
    }
  }
}

TEST(Convert, PrefixStripAndSafetensorsInput) {
  const std::string dir = scratch_dir("convert");
  const auto& exp = expected_values()["files"]["ldm.ckpt"]["tensors"];
  gen::io::ConvertOptions opt;
  opt.prefix = "model.diffusion_model.";
  opt.strip_prefix = true;
  const std::string unet = dir + "/unet.safetensors";
  const gen::io::ConvertSummary s = gen::io::convert_checkpoint(pickle_fixture("ldm.ckpt"), unet, opt);
  EXPECT_EQ(s.tensors, 2u);
  EXPECT_EQ(s.outside_prefix, 2u);
  {
    const gen::SafetensorsFile f = gen::SafetensorsFile::open(unet);
    ASSERT_TRUE(f.contains("in.weight"));
    EXPECT_EQ(fnv_of(f, f.info("in.weight")), exp["model.diffusion_model.in.weight"]["fnv"].get<std::string>());
  }
  // Safetensors in: re-cast to bf16 and keep one prefix (without stripping).
  gen::io::ConvertOptions again;
  again.prefix = "in.w";
  again.dtype = gen::io::TargetDType::BF16;
  const std::string out = dir + "/unet_bf16.safetensors";
  const gen::io::ConvertSummary s2 = gen::io::convert_checkpoint(unet, out, again);
  EXPECT_EQ(s2.input_format, "safetensors");
  EXPECT_EQ(s2.tensors, 1u);
  EXPECT_EQ(s2.cast, 1u);
  const gen::SafetensorsFile f = gen::SafetensorsFile::open(out);
  const auto& info = f.info("in.weight");
  EXPECT_EQ(info.dtype, DType::BF16);
  EXPECT_EQ(fnv_of(f, info), exp["model.diffusion_model.in.weight"]["fnv_bf16"].get<std::string>());
}

TEST(Convert, Refusals) {
  const std::string dir = scratch_dir("convert");
  const std::string out = dir + "/refused.safetensors";
  fs::remove(out);
  gen::io::ConvertOptions opt;
  expect_error([&] { gen::io::convert_checkpoint(pickle_fixture("ldm.ckpt"), dir + "/x.bin", opt); },
               ErrorCode::InvalidArgument, {".safetensors"});
  // The output is the input (a .safetensors file converted onto itself).
  const std::string self = dir + "/self.safetensors";
  gen::io::convert_checkpoint(pickle_fixture("ldm.ckpt"), self, opt);
  expect_error([&] { gen::io::convert_checkpoint(self, self, opt); }, ErrorCode::InvalidArgument, {"input"});
  expect_error([&] { gen::io::convert_checkpoint(self, dir + "/../convert/self.safetensors", opt); },
               ErrorCode::InvalidArgument, {"input"});
  gen::io::ConvertOptions bad_prefix;
  bad_prefix.prefix = "nothing.";
  expect_error([&] { gen::io::convert_checkpoint(pickle_fixture("ldm.ckpt"), out, bad_prefix); },
               ErrorCode::InvalidArgument, {"nothing.", "model."});
  gen::io::ConvertOptions whole;
  whole.prefix = "cond_stage_model.emb";
  whole.strip_prefix = true;
  expect_error([&] { gen::io::convert_checkpoint(pickle_fixture("ldm.ckpt"), out, whole); },
               ErrorCode::InvalidArgument, {"empty name"});
  expect_error([&] { gen::io::convert_checkpoint(pickle_fixture("no_tensors.pt"), out, opt); }, ErrorCode::NotFound,
               {"no tensors"});
  expect_error([&] { gen::io::convert_checkpoint(pickle_fixture("malicious_reduce.pt"), out, opt); },
               ErrorCode::UnsafeContent, {"posix.system"});
  expect_error([&] { gen::io::convert_checkpoint(pickle_fixture("numpy_entry.pt"), out, opt); },
               ErrorCode::UnsafeContent, {"numpy"});
  expect_error([&] { gen::io::convert_checkpoint(pickle_fixture("legacy.pt"), out, opt); }, ErrorCode::Unsupported,
               {"legacy"});
  expect_error([&] { gen::io::convert_checkpoint(pickle_fixture("truncated.pt"), out, opt); },
               ErrorCode::InvalidFormat);
  EXPECT_FALSE(fs::exists(out));
}

TEST(Convert, CorruptStorageIsCaughtBeforeWriting) {
  const std::string dir = scratch_dir("convert");
  auto bytes = read_bytes(pickle_fixture("plain_fp32.pt"));
  const gen::io::ZipReader z = gen::io::ZipReader::from_memory(bytes.data(), bytes.size(), "p");
  bytes[z.entry("plain_fp32/data/0").data_offset + 1] ^= 0x20;
  const std::string in = dir + "/corrupt.pt", out = dir + "/corrupt.safetensors";
  write_bytes(in, bytes);
  fs::remove(out);
  expect_error([&] { gen::io::convert_checkpoint(in, out, {}); }, ErrorCode::InvalidFormat, {"CRC"});
  EXPECT_FALSE(fs::exists(out));
}
