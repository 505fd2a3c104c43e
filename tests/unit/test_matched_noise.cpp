// A1111's outpainting mk2 fill (src/editing/matched_noise.cpp) against A1111's own
// get_matched_noise, run by tools/a1111_matched_noise_reference.py, and numpy's default_rng
// (src/core/numpy_random.cpp) against numpy.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cstdlib>
#include <string>

#include "core/numpy_random.hpp"
#include "editing/matched_noise.hpp"
#include "gen/safetensors.hpp"
#include "model_fixtures.hpp"
#include "tensor/from_safetensors.hpp"

using namespace gen;

namespace {

const std::string kDir = std::string(GEN_TEST_DATA_DIR) + "/matched_noise/";

Image load_rgb(const std::string& name) { return read_image(kDir + name); }

Image grey_of(const Image& mask) {  // the fixture masks are RGB with equal channels
  Image out = Image::make(mask.width, mask.height, 1);
  for (int i = 0; i < mask.width * mask.height; ++i) out.data8[i] = mask.data8[i * mask.channels];
  return out;
}

at::Tensor to_double(const Image& image) {
  return at::from_blob(const_cast<std::uint8_t*>(image.data8.data()), {image.height, image.width, image.channels},
                       at::kByte)
             .to(at::kDouble) /
         255.0;
}

}  // namespace

TEST(NumpyRandom, DefaultRngMatchesNumpy) {
  const auto want = test::read_json(kDir + "rng.json");
  ASSERT_EQ(want.size(), 4u);
  for (const auto& [seed, values] : want.items()) {
    NumpyPcg64 rng(std::strtoull(seed.c_str(), nullptr, 10));
    for (const auto& v : values) EXPECT_EQ(rng.random(), v.get<double>()) << "seed " << seed;
  }
}

TEST(MatchedNoise, MatchesA1111GetMatchedNoise) {
  const auto cases = test::read_json(kDir + "cases.json");
  auto floats = SafetensorsCheckpoint::open(kDir + "outputs.safetensors");
  ASSERT_EQ(cases.size(), 4u);
  for (const auto& c : cases) {
    const std::string name = c["name"];
    editing::MatchedNoiseOptions o;
    o.noise_q = c["noise_q"];
    o.color_variation = c["color_variation"];
    const Image canvas = load_rgb(name + "_image.png"), mask = load_rgb(name + "_mask.png");
    const auto got = editing::matched_noise(to_double(canvas), to_double(mask), o);
    const auto want = load_tensor(floats, name, at::kDouble, at::kCPU);
    ASSERT_EQ(got.sizes(), want.sizes()) << name;
    EXPECT_LE((got - want).abs().max().item<double>(), 1e-9) << name;

    // 8 bits as mk2 stores them: truncation may flip a value lying within 1e-9 of a level.
    const Image bytes = editing::matched_noise_fill(canvas, grey_of(mask), o);
    const Image ref = load_rgb(name + "_out.png");
    ASSERT_EQ(bytes.data8.size(), ref.data8.size());
    std::size_t differ = 0;
    for (std::size_t i = 0; i < ref.data8.size(); ++i) {
      const int d = std::abs(int(bytes.data8[i]) - int(ref.data8[i]));
      EXPECT_LE(d, 1) << name << " sample " << i;
      differ += d != 0;
    }
    EXPECT_EQ(differ, 0u) << name;
  }
}

TEST(MatchedNoise, KeepsTheUnmaskedPixelsAndFillsTheMaskedOnes) {
  const Image canvas = load_rgb("all_image.png"), mask = grey_of(load_rgb("all_mask.png"));
  const Image out = editing::matched_noise_fill(canvas, mask, {});
  std::size_t filled = 0;
  for (int i = 0; i < canvas.width * canvas.height; ++i)
    for (int ch = 0; ch < 3; ++ch) {
      if (mask.data8[i] == 0) EXPECT_EQ(out.data8[i * 3 + ch], canvas.data8[i * 3 + ch]);
      else filled += out.data8[i * 3 + ch] != 0;
    }
  EXPECT_GT(filled, 0u);  // the black border became noise
}

TEST(MatchedNoise, AllBlackImageGivesBlackNotNaN) {
  Image canvas = Image::make(16, 8, 3);
  Image mask = Image::make(16, 8, 1);
  for (int y = 0; y < 8; ++y)
    for (int x = 12; x < 16; ++x) mask.data8[y * 16 + x] = 255;
  const auto out = editing::matched_noise(to_double(canvas), to_double(mask).expand({8, 16, 3}), {});
  EXPECT_FALSE(at::isnan(out).any().item<bool>());
}
