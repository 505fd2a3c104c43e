#include <gtest/gtest.h>

#include "core/fail.hpp"
#include "gen/version.hpp"

TEST(Error, CarriesCodeAndMessage) {
  try {
    gen::fail(gen::ErrorCode::InvalidFormat, "a.safetensors", "header too large");
    FAIL() << "no throw";
  } catch (const gen::Error& e) {
    EXPECT_EQ(e.code(), gen::ErrorCode::InvalidFormat);
    EXPECT_EQ(e.exit_code(), 5);
    EXPECT_STREQ(e.what(), "a.safetensors: header too large");
  }
}

TEST(Error, CodeNamesAreStable) {
  EXPECT_STREQ(gen::code_name(gen::ErrorCode::InvalidArgument), "invalid-argument");
  EXPECT_STREQ(gen::code_name(gen::ErrorCode::UnsafeContent), "unsafe-content");
}

TEST(Version, MatchesProject) {
  EXPECT_EQ(gen::version_major(), 0);
  EXPECT_GT(std::string(gen::version_string()).size(), 4u);
}
