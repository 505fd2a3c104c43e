// The pieces that train the demo model (docs/training.md#the-demo-model): the synthetic shapes
// data set, a new model from configs (gen train init), and the UNet / VAE training loops, on
// hand-checkable properties: geometry and colours of the shapes, the initialisation's ranges,
// a model that gen loads back, losses that fall, and a resumed run equal to an uninterrupted one.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "gen/error.hpp"
#include "gen/training.hpp"
#include "models/model_files.hpp"
#include "training/shapes.hpp"

namespace {

const std::string kConfig = GEN_SOURCE_DIR "/models/demo/config";

std::string scratch(const std::string& name) {
  const auto dir = std::string(GEN_BINARY_DIR) + "/test-scratch/demo-" + name + "-" + std::to_string(::getpid());
  std::system(("rm -rf '" + dir + "' && mkdir -p '" + std::string(GEN_BINARY_DIR) + "/test-scratch'").c_str());
  return dir;
}

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

std::array<std::uint8_t, 3> pixel(const gen::Image& img, int x, int y) {
  const auto* p = img.data8.data() + (static_cast<std::size_t>(y) * img.width + x) * 3;
  return {p[0], p[1], p[2]};
}

TEST(DemoShapes, SamplesAreFunctionsOfSeedAndIndex) {
  const auto a = gen::training::make_shape_sample(0, 5, 64), b = gen::training::make_shape_sample(0, 5, 64);
  EXPECT_EQ(a.image.data8, b.image.data8);
  EXPECT_EQ(a.caption, b.caption);
  const auto c = gen::training::make_shape_sample(0, 6, 64), d = gen::training::make_shape_sample(1, 5, 64);
  EXPECT_NE(a.image.data8, c.image.data8);
  EXPECT_NE(a.image.data8, d.image.data8);
}

TEST(DemoShapes, CaptionColoursGeometryAndOutline) {
  const auto& pal = gen::training::shape_palette();
  int shapes_seen[3] = {0, 0, 0};
  for (std::uint64_t i = 0; i < 60; ++i) {
    const auto s = gen::training::make_shape_sample(0, i, 64);
    ++shapes_seen[s.shape];
    ASSERT_NE(s.colour, s.background);
    EXPECT_EQ(s.caption, std::string("a ") + pal[s.colour].name + " " + gen::training::shape_names()[s.shape] +
                             " on a " + pal[s.background].name + " background");
    // The centre is the shape's colour, the corners the background's; the shape stays inside.
    EXPECT_EQ(pixel(s.image, s.cx, s.cy), pal[s.colour].rgb) << i;
    for (auto [x, y] : {std::pair{0, 0}, {63, 0}, {0, 63}, {63, 63}}) EXPECT_EQ(pixel(s.image, x, y), pal[s.background].rgb);
    // The mask's area lies between the ideal shape's shrunk and grown by one pixel (OpenCV's
    // anti-aliased fill adds a fringe): a circle of radius r, a square inscribed in a circle of
    // 0.85·√2·r (inradius 0.85 r), a triangle inscribed in one of R = 1.15 r (inradius R / 2).
    double area = 0;
    for (auto v : s.mask.data8) area += v / 255.0;
    const double r = s.radius, R = 1.15 * r;
    const double inradius = s.shape == 0 ? r : s.shape == 1 ? 0.85 * r : R / 2;
    const double ideal = s.shape == 0 ? M_PI * r * r : s.shape == 1 ? (1.7 * r) * (1.7 * r) : 3 * std::sqrt(3.0) / 4 * R * R;
    const double shrunk = ideal * std::pow((inradius - 1) / inradius, 2), grown = ideal * std::pow((inradius + 1) / inradius, 2);
    EXPECT_GT(area, shrunk) << "sample " << i << " shape " << s.shape;
    EXPECT_LT(area, grown) << "sample " << i << " shape " << s.shape;
    // The outline lies on the mask's edge: no outline pixel deep inside the shape or far outside it.
    for (int y = 0; y < 64; ++y)
      for (int x = 0; x < 64; ++x) {
        if (pixel(s.outline, x, y)[0] < 128) continue;
        const double dx = x - s.cx, dy = y - s.cy, dist = std::sqrt(dx * dx + dy * dy);
        if (s.shape == 0) EXPECT_NEAR(dist, r, 1.5) << "sample " << i;
        EXPECT_LE(dist, (s.shape == 0 ? r : s.shape == 1 ? 1.2 * r : R) + 1.5) << "sample " << i;
      }
  }
  for (int n : shapes_seen) EXPECT_GT(n, 10);
}

TEST(DemoShapes, BadArgumentsAreRefused) {
  EXPECT_THROW(gen::training::make_shape_sample(0, 0, 16), gen::Error);
  const auto dir = scratch("bad");
  EXPECT_THROW(gen::write_shapes_dataset(dir, 0, 64, 0), gen::Error);
  gen::write_shapes_dataset(dir, 2, 64, 0);
  EXPECT_THROW(gen::write_shapes_dataset(dir, 2, 64, 0), gen::Error);  // exists
}

TEST(DemoInit, NewModelLoadsWithTorchNnRanges) {
  const auto a = scratch("init-a"), b = scratch("init-b");
  const auto s = gen::init_model(kConfig, a, 7);
  gen::init_model(kConfig, b, 7);
  EXPECT_EQ(read_all(a + "/unet/diffusion_pytorch_model.safetensors"), read_all(b + "/unet/diffusion_pytorch_model.safetensors"));
  EXPECT_THROW(gen::init_model(kConfig, a, 7), gen::Error);  // exists
  const auto files = gen::models::ModelFiles::open(a);
  auto unet = files.load_unet(at::kFloat, at::kCPU);
  auto vae = files.load_vae(at::kFloat, at::kCPU);
  auto text = files.load_text_encoder(at::kFloat, at::kCPU);
  EXPECT_EQ(unet->parameter_count(), s.unet);
  EXPECT_EQ(vae->parameter_count(), s.vae);
  EXPECT_EQ(text->parameter_count(), s.text_encoder);
  unet->visit([](const std::string& n, gen::models::Module::Param& p) {
    if (n == "input_blocks.0.0.weight") {  // conv_in: 4·3·3 inputs per output
      EXPECT_LE(p.value.abs().max().item<double>(), 1 / 6.0);
      EXPECT_GT(p.value.abs().max().item<double>(), 0.9 / 6.0);
    }
    if (n == "out.0.weight") EXPECT_TRUE(p.value.eq(1).all().item<bool>());  // the last GroupNorm
    if (n == "out.0.bias") EXPECT_TRUE(p.value.eq(0).all().item<bool>());
  });
}

TEST(DemoTraining, LossFallsAndResumeEqualsOneRun) {
  const auto data = scratch("data"), model = scratch("model");
  gen::write_shapes_dataset(data, 8, 64, 0);
  gen::init_model(kConfig, model, 0);
  gen::TrainModelOptions o;
  o.model = model;
  o.data = data;
  o.batch_size = 4;
  o.learning_rate = 1e-3;
  o.threads = 1;
  std::vector<double> losses;
  auto record = [&](const gen::TrainProgress& p) { losses.push_back(p.loss); };
  // The VAE: 12 steps on 8 images; the mean of the last 3 losses below the first 3's.
  o.output = scratch("vae");
  o.steps = 12;
  gen::train_vae(o, record);
  ASSERT_EQ(losses.size(), 12u);
  EXPECT_LT(losses[9] + losses[10] + losses[11], losses[0] + losses[1] + losses[2]);
  // The UNet: 4 steps straight, and 2 + 2 resumed, give the same bytes.
  o.steps = 4;
  const auto straight = scratch("unet-straight");
  o.output = straight;
  gen::train_unet(o);
  o.output = scratch("unet-resumed");
  o.steps = 2;
  gen::train_unet(o);
  std::system(("rm -rf '" + o.output + "/unet'").c_str());
  o.steps = 4;
  o.resume = true;
  gen::train_unet(o);
  const auto file = "/unet/diffusion_pytorch_model.safetensors";
  EXPECT_TRUE(read_all(straight + file) == read_all(o.output + file));
  // Other settings are refused on resume, naming the setting.
  o.learning_rate = 2e-3;
  o.steps = 6;
  std::system(("rm -rf '" + o.output + "/unet'").c_str());
  try {
    gen::train_unet(o);
    ADD_FAILURE() << "resumed with another learning rate";
  } catch (const gen::Error& e) {
    EXPECT_NE(std::string(e.what()).find("learning_rate"), std::string::npos) << e.what();
  }
}

TEST(DemoTraining, SingleFilesAndMissingDataAreRefused) {
  gen::TrainModelOptions o;
  o.model = GEN_TEST_DATA_DIR "/layouts/tiny-sd15.safetensors";
  o.data = scratch("none");
  o.output = scratch("out");
  EXPECT_THROW(gen::train_unet(o), gen::Error);  // no data set
  const auto data = scratch("data1");
  gen::write_shapes_dataset(data, 1, 64, 0);
  o.data = data;
  try {
    gen::train_unet(o);
    ADD_FAILURE() << "trained a single file";
  } catch (const gen::Error& e) {
    EXPECT_NE(std::string(e.what()).find("diffusers pipeline folder"), std::string::npos) << e.what();
  }
}

}  // namespace
