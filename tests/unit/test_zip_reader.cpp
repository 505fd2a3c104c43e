#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "io/zip_reader.hpp"
#include "pickle_test_util.hpp"
#include "zip_test_util.hpp"

using gen::ErrorCode;
using gen::io::ZipReader;
using namespace gen::testing;

TEST(ZipReader, Crc32KnownValue) {
  const char* s = "123456789";
  EXPECT_EQ(gen::io::crc32(reinterpret_cast<const std::uint8_t*>(s), 9), 0xCBF43926u);
  // Chained calls give the same result as one call.
  const std::uint32_t part = gen::io::crc32(reinterpret_cast<const std::uint8_t*>(s), 4);
  EXPECT_EQ(gen::io::crc32(reinterpret_cast<const std::uint8_t*>(s) + 4, 5, part), 0xCBF43926u);
}

TEST(ZipReader, ReadsTorchArchive) {
  const gen::io::ZipReader z = gen::io::ZipReader::open(pickle_fixture("plain_fp32.pt"));
  ASSERT_NE(z.find("plain_fp32/data.pkl"), nullptr);
  const gen::io::ZipEntry& order = z.entry("plain_fp32/byteorder");
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(z.data(order)), order.size), "little");
  for (const auto& e : z.entries()) {
    EXPECT_EQ(e.method, 0);
    EXPECT_NO_THROW(z.verify_crc(e)) << e.name;
  }
  EXPECT_EQ(z.find("nope"), nullptr);
  expect_error([&] { z.entry("plain_fp32/nope"); }, ErrorCode::InvalidFormat, {"plain_fp32/nope"});
}

TEST(ZipReader, HandBuiltArchive) {
  const auto bytes = make_zip({{"a/x", "hello"}, {"a/y", ""}});
  const gen::io::ZipReader z = gen::io::ZipReader::from_memory(bytes.data(), bytes.size(), "mem.zip");
  ASSERT_EQ(z.entries().size(), 2u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(z.data(z.entry("a/x"))), 5), "hello");
  EXPECT_EQ(z.entry("a/y").size, 0u);
}

TEST(ZipReader, RefusesDuplicateNames) {
  const auto bytes = make_zip({{"a/x", "1"}, {"a/x", "2"}});
  expect_error([&] { gen::io::ZipReader::from_memory(bytes.data(), bytes.size(), "dup.zip"); },
               ErrorCode::InvalidFormat, {"dup.zip", "twice"});
}

TEST(ZipReader, RefusesNonZip) {
  const std::string s = "this is not a zip archive at all, just some text";
  expect_error([&] { gen::io::ZipReader::from_memory(reinterpret_cast<const std::uint8_t*>(s.data()), s.size(), "t.txt"); },
               ErrorCode::InvalidFormat, {"t.txt", "end of central directory"});
  expect_error([&] { gen::io::ZipReader::from_memory(reinterpret_cast<const std::uint8_t*>(s.data()), 3, "t.txt"); },
               ErrorCode::InvalidFormat, {"too small"});
  expect_error([] { gen::io::ZipReader::open(pickle_fixture("does-not-exist.pt")); }, ErrorCode::NotFound);
}

TEST(ZipReader, DeflatedEntryRefusedByName) {
  const gen::io::ZipReader z = gen::io::ZipReader::open(pickle_fixture("deflated.pt"));
  const gen::io::ZipEntry& e = z.entry("plain_fp32/data.pkl");
  EXPECT_EQ(e.method, 8);
  expect_error([&] { z.data(e); }, ErrorCode::Unsupported, {"plain_fp32/data.pkl", "deflate"});
}

TEST(ZipReader, CrcMismatchDetected) {
  auto bytes = read_bytes(pickle_fixture("plain_fp32.pt"));
  const gen::io::ZipReader good = gen::io::ZipReader::from_memory(bytes.data(), bytes.size(), "x.pt");
  const gen::io::ZipEntry e = good.entry("plain_fp32/data/0");
  ASSERT_GT(e.size, 0u);
  bytes[e.data_offset] ^= 0x55;
  const gen::io::ZipReader bad = gen::io::ZipReader::from_memory(bytes.data(), bytes.size(), "x.pt");
  expect_error([&] { bad.verify_crc(bad.entry("plain_fp32/data/0")); }, ErrorCode::InvalidFormat,
               {"plain_fp32/data/0", "CRC"});
}

TEST(ZipReader, EveryTruncationIsAnError) {
  const auto bytes = read_bytes(pickle_fixture("plain_fp32.pt"));
  for (std::size_t cut = 0; cut < bytes.size(); ++cut)
    expect_error([&] { gen::io::ZipReader::from_memory(bytes.data(), cut, "cut.pt"); }, ErrorCode::InvalidFormat, {"cut.pt"});
  const gen::io::ZipReader whole = gen::io::ZipReader::from_memory(bytes.data(), bytes.size(), "whole.pt");
  EXPECT_FALSE(whole.entries().empty());
}

TEST(ZipReader, CorruptedBytesNeverCrash) {
  const auto orig = read_bytes(pickle_fixture("plain_fp32.pt"));
  // Flip each byte of the structures (local headers, central directory, end records).
  for (std::size_t k = 0; k < orig.size(); ++k) {
    for (std::uint8_t x : {0x01, 0x80, 0xFF}) {
      auto bytes = orig;
      bytes[k] ^= x;
      try {
        const gen::io::ZipReader z = gen::io::ZipReader::from_memory(bytes.data(), bytes.size(), "flip.pt");
        for (const auto& e : z.entries()) {
          try {
            z.verify_crc(e);
          } catch (const gen::Error&) {
          }
        }
      } catch (const gen::Error& e) {
        EXPECT_TRUE(e.code() == ErrorCode::InvalidFormat || e.code() == ErrorCode::Unsupported) << e.what();
      }
    }
  }
}

TEST(ZipReader, Zip64RecordsOfTorchAreUsed) {
  // torch.save always writes the zip64 end records; damaging the locator's pointer is caught.
  auto bytes = read_bytes(pickle_fixture("plain_fp32.pt"));
  const std::size_t n = bytes.size();
  ASSERT_GT(n, 42u);
  const std::size_t loc = n - 22 - 20;
  ASSERT_EQ(bytes[loc], 'P');
  ASSERT_EQ(bytes[loc + 2], 6);
  ASSERT_EQ(bytes[loc + 3], 7);
  bytes[loc + 8 + 7] = 0x40;  // offset of the zip64 record far past the end
  expect_error([&] { gen::io::ZipReader::from_memory(bytes.data(), n, "z64.pt"); }, ErrorCode::InvalidFormat,
               {"zip64"});
}
