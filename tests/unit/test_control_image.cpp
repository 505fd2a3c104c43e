// Control maps against the references (tools/make_control_fixtures.py): Canny, invert and
// threshold against OpenCV's Python package, resizing against Pillow's LANCZOS (what diffusers
// does to control images), all exactly.
#include <gtest/gtest.h>

#include <cstdlib>

#include "control/control_image.hpp"
#include "gen/error.hpp"
#include "model_fixtures.hpp"

using namespace gen;

namespace {

const std::string kDir = std::string(GEN_TEST_DATA_DIR) + "/control/";

int max_difference(const Image& a, const Image& b) {
  EXPECT_EQ(a.width, b.width);
  EXPECT_EQ(a.height, b.height);
  if (a.width != b.width || a.height != b.height || a.data8.size() != b.data8.size()) return 256;
  int worst = 0;
  for (std::size_t i = 0; i < a.data8.size(); ++i) worst = std::max(worst, std::abs(a.data8[i] - b.data8[i]));
  return worst;
}

}  // namespace

TEST(ControlImage, MatchesReferences) {
  const auto cases = test::read_json(kDir + "cases.json");
  ASSERT_GE(cases["cases"].size(), 9u);
  for (const auto& c : cases["cases"]) {
    const std::string name = c["name"];
    auto got = control::control_map(kDir + "source.png", c["preprocess"], c["resize"], c["width"], c["height"]);
    auto want = to_rgb8(read_image(kDir + name + ".png"));
    EXPECT_EQ(max_difference(got, want), 0) << name;
  }
}

TEST(ControlImage, TensorIsTheMapInZeroOne) {
  auto t = control::prepare_control_image(kDir + "source.png", "invert", "just", 96, 80);
  auto want = to_rgb8(read_image(kDir + "invert.png"));
  ASSERT_EQ(t.sizes(), (std::vector<std::int64_t>{1, 3, 80, 96}));
  EXPECT_FLOAT_EQ(t[0][1][10][20].item<float>(), want.at(20, 10, 1) / 255.0f);
}

TEST(ControlImage, RefusesBadSettings) {
  auto code = [](auto f) {
    try {
      f();
    } catch (const gen::Error& e) {
      return e.code();
    }
    return ErrorCode::Ok;
  };
  const std::string src = kDir + "source.png";
  EXPECT_EQ(code([&] { control::check_preprocess("sobel"); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(code([&] { control::check_preprocess("canny:200:100"); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(code([&] { control::check_preprocess("canny:100"); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(code([&] { control::check_preprocess("canny:a:b"); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(code([&] { control::check_preprocess("threshold:300"); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(code([&] { control::check_preprocess("invert:1"); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(code([&] { control::control_map(src, "none", "stretch", 64, 64); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(code([&] { control::control_map(kDir + "missing.png", "none", "just", 64, 64); }), ErrorCode::NotFound);
  EXPECT_EQ(code([&] { control::control_map(kDir + "cases.json", "none", "just", 64, 64); }), ErrorCode::InvalidFormat);
}

TEST(ControlImage, AlphaAnd16BitImagesAreAccepted) {
  const std::string images = std::string(GEN_TEST_DATA_DIR) + "/images/";
  for (const char* f : {"rgb16.png", "ga8.png", "grey16.png"}) {
    auto map = control::control_map(images + f, "canny:100:200", "crop", 64, 64);
    EXPECT_EQ(map.width, 64) << f;
    EXPECT_EQ(map.height, 64) << f;
    EXPECT_EQ(map.channels, 3) << f;
  }
}
