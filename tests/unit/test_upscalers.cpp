// ESRGAN-family upscalers (src/upscalers/): the nets against spandrel 0.4.2 on random weights in
// every layout (files made at test time by tools/esrgan_reference.py: spandrel's growth channels
// are fixed at 32, so even tiny nets are ~1 MB), A1111's tiling on hand-checked cases and against a
// Pillow re-implementation, and bad files.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cstdio>
#include <fstream>
#include <map>

#include "gen/error.hpp"
#include "gen/image.hpp"
#include "gen/safetensors.hpp"
#include "safetensors_test_util.hpp"
#include "tensor/tensor_file.hpp"
#include "test_python.hpp"
#include "upscalers/esrgan_arch.hpp"
#include "upscalers/esrgan_net.hpp"
#include "upscalers/tiled_upscale.hpp"

namespace {

using gen::Image;
using namespace gen::upscalers;

int run(const std::string& cmd, std::string& output) {
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return -1;
  std::array<char, 4096> buf;
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) output.append(buf.data(), n);
  return ::pclose(p);
}

// tools/esrgan_reference.py into `dir` with `args`.
void make_reference(const std::string& dir, const std::string& args = "") {
  const std::string python = gen::test::find_python();
  ASSERT_FALSE(python.empty()) << "no GEN_PYTHON (env or CMakeCache.txt)";
  std::string out;
  const int rc = run(python + " " GEN_SOURCE_DIR "/tools/esrgan_reference.py --out '" + dir + "' " + args, out);
  ASSERT_EQ(rc, 0) << out;
}

double rel_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>() / b.abs().max().item<double>();
}

Image solid(int w, int h, std::uint8_t v) {
  Image img = Image::make(w, h, 3);
  std::fill(img.data8.begin(), img.data8.end(), v);
  return img;
}

std::string error_of(const std::function<void()>& f, gen::ErrorCode& code) {
  try {
    f();
  } catch (const gen::Error& e) {
    code = e.code();
    return e.what();
  }
  code = gen::ErrorCode::Ok;
  return "";
}

}  // namespace

TEST(Upscalers, NetsMatchSpandrelInEveryLayout) {
  const std::string dir = gen_test::test_dir();
  make_reference(dir);
  const auto ref = gen::read_tensor_file(dir + "/cases.safetensors").tensors;
  nlohmann::json cases;
  std::ifstream(dir + "/cases.json") >> cases;
  ASSERT_EQ(cases.size(), 8u);
  for (const auto& [name, c] : cases.items()) {
    SCOPED_TRACE(name);
    const auto m = load_upscaler(dir + "/" + c["file"].get<std::string>(), at::kFloat, c10::Device(c10::kCPU));
    const auto& cfg = m.net->config();
    EXPECT_EQ(cfg.scale(), c["scale"].get<int>());
    EXPECT_EQ(cfg.image_channels(), c["in_nc"].get<int>());
    EXPECT_EQ(cfg.out_nc, c["out_nc"].get<int>());
    const auto& x = ref.at(name + ".input");
    const auto& want = ref.at(name + ".output");
    at::Tensor got;
    {
      c10::InferenceMode guard;
      got = m.net->forward(x);
    }
    ASSERT_EQ(got.sizes(), want.sizes());
    EXPECT_LE(rel_diff(got, want), 1e-4);
  }
  // The hyper-parameters read from the names, as spandrel's tags say them.
  auto cfg = [&](const std::string& file) {
    return load_upscaler(dir + "/" + file, at::kFloat, c10::Device(c10::kCPU)).net->config();
  };
  const auto a = cfg("basicsr_x4.pth");  // {"params_ema": {...}}, 2 blocks: the reader unwraps it
  EXPECT_EQ(a.layout, EsrganLayout::BasicSR);
  EXPECT_EQ(a.prefix, "");
  EXPECT_EQ(a.nb, 2);
  EXPECT_EQ(a.nf, 8);
  EXPECT_EQ(a.gc, 32);
  EXPECT_EQ(cfg("bsrgan_x2.pth").layout, EsrganLayout::Bsrgan);
  EXPECT_TRUE(cfg("plus_x2.pth").plus);
  const auto u = cfg("unshuffle_x2.pth");
  EXPECT_EQ(u.shuffle, 2);
  EXPECT_EQ(u.net_scale(), 4);
  EXPECT_EQ(u.scale(), 2);
}

TEST(Upscalers, RenameTableMapsOldNamesToBothNewLayouts) {
  EsrganConfig c;
  c.nb = 23;
  c.upsamples = 2;
  c.layout = EsrganLayout::BasicSR;
  EXPECT_EQ(esrgan_name(c, "model.0.weight"), "conv_first.weight");
  EXPECT_EQ(esrgan_name(c, "model.1.sub.7.RDB2.conv5.0.bias"), "body.7.rdb2.conv5.bias");
  EXPECT_EQ(esrgan_name(c, "model.1.sub.23.weight"), "conv_body.weight");
  EXPECT_EQ(esrgan_name(c, "model.3.weight"), "conv_up1.weight");
  EXPECT_EQ(esrgan_name(c, "model.6.bias"), "conv_up2.bias");
  EXPECT_EQ(esrgan_name(c, "model.8.weight"), "conv_hr.weight");
  EXPECT_EQ(esrgan_name(c, "model.10.weight"), "conv_last.weight");
  c.layout = EsrganLayout::Bsrgan;
  EXPECT_EQ(esrgan_name(c, "model.1.sub.0.RDB3.conv1.0.weight"), "RRDB_trunk.0.RDB3.conv1.weight");
  EXPECT_EQ(esrgan_name(c, "model.1.sub.23.bias"), "trunk_conv.bias");
  EXPECT_EQ(esrgan_name(c, "model.6.weight"), "upconv2.weight");
  EXPECT_EQ(esrgan_name(c, "model.8.weight"), "HRconv.weight");
  c.layout = EsrganLayout::Old;
  EXPECT_EQ(esrgan_name(c, "model.8.weight"), "model.8.weight");
}

// split_grid's positions, worked by hand from its formulas (tiled_upscale.hpp).
TEST(Upscalers, SplitGridHandCases) {
  // 400 wide, tile 192, overlap 8: ceil(392 / 184) = 3 columns, dx = 208 / 2 = 104; the last
  // reaches the edge: 400 − 192 = 208.
  auto g = split_grid(400, 192, 192, 8);
  EXPECT_EQ(g.xs, (std::vector<int>{0, 104, 208}));
  EXPECT_EQ(g.ys, (std::vector<int>{0}));  // ceil(184 / 184) = 1, 0 + 192 >= 192 → 192 − 192
  // 512: ceil(504 / 184) = 3, dx = 320 / 2 = 160 → 0, 160, 320.
  EXPECT_EQ(split_grid(512, 512, 192, 8).xs, (std::vector<int>{0, 160, 320}));
  // 700: ceil(692 / 184) = 4, dx = 508 / 3 = 169.33 → 0, 169, 338, 508.
  EXPECT_EQ(split_grid(700, 8, 192, 8).xs, (std::vector<int>{0, 169, 338, 508}));
  // An image smaller than the tile: one tile from 100 − 192 = −92 (black outside).
  EXPECT_EQ(split_grid(100, 100, 192, 8).xs, (std::vector<int>{-92}));
  // No larger than the overlap: A1111 would make no tile; gen makes one.
  EXPECT_EQ(split_grid(8, 8, 192, 8).xs.size(), 1u);
}

TEST(Upscalers, CropOutsideIsBlack) {
  Image img = solid(2, 2, 50);
  const Image c = crop_black(img, -1, 0, 3, 2);
  EXPECT_EQ(c.at(0, 0, 0), 0u);
  EXPECT_EQ(c.at(1, 0, 0), 50u);
  EXPECT_EQ(c.at(2, 1, 2), 50u);
}

// combine_grid: 6×6 image, tile 4, overlap 2 → columns and rows at 0 and 2. Tiles of constant
// values; the blend mask is i·255/2 = 0, 127 and Pillow's paste gives
// (dst·(255 − m) + src·m + 128 + ((…) >> 8)) >> 8: 100 under 200 with m = 127 → 150.
TEST(Upscalers, CombineGridHandCase) {
  TileGrid g = split_grid(6, 6, 4, 2);
  ASSERT_EQ(g.xs, (std::vector<int>{0, 2}));
  ASSERT_EQ(g.ys, (std::vector<int>{0, 2}));
  std::vector<std::vector<Image>> tiles{{solid(4, 4, 100), solid(4, 4, 200)}, {solid(4, 4, 0), solid(4, 4, 0)}};
  const Image out = combine_grid(g, tiles);
  const int row0[6] = {100, 100, 100, 150, 200, 200};
  for (int x = 0; x < 6; ++x) EXPECT_EQ(out.at(x, 0, 1), static_cast<unsigned>(row0[x])) << x;
  // Row 2 is the second row's first line (mask 0: the first row's 100/150/200 kept), row 3 its
  // second (mask 127 over black: 100 → 50, 150 → 75, 200 → 100), rows 4-5 black.
  const int row3[6] = {50, 50, 50, 75, 100, 100};
  for (int x = 0; x < 6; ++x) {
    EXPECT_EQ(out.at(x, 2, 0), static_cast<unsigned>(row0[x])) << x;
    EXPECT_EQ(out.at(x, 3, 0), static_cast<unsigned>(row3[x])) << x;
    EXPECT_EQ(out.at(x, 5, 2), 0u) << x;
  }
}

// Upscaler.upscale: the net until the image covers int(W·scale)//8·8, then Lanczos to exactly that.
TEST(Upscalers, UpscaleToScalePassesAndFinalSize) {
  int calls = 0;
  const TileNet twice = [&](const Image& img) {  // nearest ×2
    ++calls;
    Image out = Image::make(img.width * 2, img.height * 2, 3);
    for (int y = 0; y < out.height; ++y)
      for (int x = 0; x < out.width; ++x)
        for (int c = 0; c < 3; ++c) out.data8[(y * out.width + x) * 3 + c] = img.data8[((y / 2) * img.width + x / 2) * 3 + c];
    return out;
  };
  const Image src = solid(16, 8, 77);
  const Image a = upscale_to_scale(src, 3.0, twice, 0, 0);  // 16 → 32 → 64 covers 48: two passes
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(a.width, 48);
  EXPECT_EQ(a.height, 24);
  EXPECT_EQ(a.at(20, 10, 0), 77u);
  calls = 0;
  const Image b = upscale_to_scale(src, 100.0, twice, 0, 0);  // at most 3 passes: 128 wide, then Lanczos to 1600
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(b.width, 1600);
}

// The whole tiled upscale against A1111's algorithm re-implemented on Pillow (the masked pastes are
// Pillow's own), on a random net: several tiles both ways, and the default tile on an image smaller
// than it (the tile starts left of the image). The nets agree to 1e-4 relatively, so a pixel may
// truncate to the neighbouring level: at most 1 level, on under 1% of the samples.
TEST(Upscalers, TiledUpscaleMatchesA1111OnPillow) {
  const std::string dir = gen_test::test_dir();
  Image img = Image::make(40, 28, 3);
  for (std::size_t i = 0; i < img.data8.size(); ++i) img.data8[i] = static_cast<std::uint8_t>((i * 97 + i / 7 * 13) % 256);
  gen::write_png(dir + "/in.png", img, {});
  for (const auto& [tile, overlap] : std::vector<std::pair<int, int>>{{16, 4}, {192, 8}}) {
    SCOPED_TRACE(tile);
    const std::string out = dir + "/t" + std::to_string(tile);
    make_reference(out, "--only old_x4 --a1111 '" + dir + "/in.png' --tile " + std::to_string(tile) + " --overlap " +
                            std::to_string(overlap));
    const auto m = load_upscaler(out + "/old_x4.pth", at::kFloat, c10::Device(c10::kCPU));
    const Image got = upscale_tiled(img, esrgan_tile_net(*m.net, at::kFloat, c10::Device(c10::kCPU)), tile, overlap);
    const Image want = gen::read_image(out + "/a1111_old_x4.png");
    ASSERT_EQ(got.width, want.width);
    ASSERT_EQ(got.height, want.height);
    std::size_t off = 0;
    int worst = 0;
    for (std::size_t i = 0; i < got.data8.size(); ++i) {
      const int d = std::abs(int(got.data8[i]) - int(want.data8[i]));
      worst = std::max(worst, d);
      off += d != 0;
    }
    EXPECT_LE(worst, 1);
    EXPECT_LT(off, got.data8.size() / 100);
  }
}

TEST(Upscalers, BadFilesSayWhatIsWrong) {
  const std::string dir = gen_test::test_dir();
  make_reference(dir, "--only old_x4,basicsr_x4_st");
  const c10::Device cpu(c10::kCPU);
  gen::ErrorCode code;
  // Truncated.
  const std::string whole = gen_test::read_file(dir + "/old_x4.pth");
  gen_test::write_file(dir + "/cut.pth", whole.substr(0, whole.size() / 2));
  auto msg = error_of([&] { load_upscaler(dir + "/cut.pth", at::kFloat, cpu); }, code);
  EXPECT_EQ(code, gen::ErrorCode::InvalidFormat) << msg;
  EXPECT_NE(msg.find("cut.pth"), std::string::npos) << msg;
  // Another kind of file: a LyCORIS file.
  const std::string lora = GEN_TEST_DATA_DIR "/adapters/lyco-locon-conv.safetensors";
  msg = error_of([&] { load_upscaler(lora, at::kFloat, cpu); }, code);
  EXPECT_EQ(code, gen::ErrorCode::ModelMismatch) << msg;
  EXPECT_NE(msg.find("not an ESRGAN-family upscaler"), std::string::npos) << msg;
  EXPECT_NE(msg.find("kohya"), std::string::npos) << msg;  // what it looks like (classify's summary)
  // A tensor missing, one extra.
  const auto t = gen::read_tensor_file(dir + "/basicsr_x4.safetensors").tensors;
  std::vector<gen::TensorData> keep;
  for (const auto& [name, v] : t)
    if (name != "body.0.rdb2.conv3.bias")
      keep.push_back({name, gen::DType::F32, v.sizes().vec(), v.data_ptr(), static_cast<std::size_t>(v.nbytes())});
  const at::Tensor extra = at::zeros({2});
  keep.push_back({"body.0.rdb2.conv9.weight", gen::DType::F32, {2}, extra.data_ptr(), 8});
  gen::write_safetensors(dir + "/missing.safetensors", keep, {});
  msg = error_of([&] { load_upscaler(dir + "/missing.safetensors", at::kFloat, cpu); }, code);
  EXPECT_EQ(code, gen::ErrorCode::ModelMismatch) << msg;
  EXPECT_NE(msg.find("1 missing: body.0.rdb2.conv3.bias"), std::string::npos) << msg;
  EXPECT_NE(msg.find("1 unexpected: body.0.rdb2.conv9.weight"), std::string::npos) << msg;
  // No such file; a name without a folder.
  msg = error_of([&] { load_upscaler(dir + "/nope.pth", at::kFloat, cpu); }, code);
  EXPECT_EQ(code, gen::ErrorCode::NotFound) << msg;
  msg = error_of([&] { find_upscaler_file("4x-Nope", "", "hires_upscaler_model"); }, code);
  EXPECT_EQ(code, gen::ErrorCode::NotFound) << msg;
  EXPECT_NE(msg.find("--upscaler-dir"), std::string::npos) << msg;
  EXPECT_EQ(find_upscaler_file("old_x4", dir, "x"), dir + "/old_x4.pth");
}
