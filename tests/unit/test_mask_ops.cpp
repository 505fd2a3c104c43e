// src/editing/ against the references (tools/make_mask_fixtures.py: diffusers' VaeImageProcessor,
// Pillow, cv2, numpy.pad), all exactly, plus hand-checked cases for A1111's crop arithmetic.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "editing/a1111_mask.hpp"
#include "editing/mask_ops.hpp"
#include "editing/pil_ops.hpp"
#include "gen/error.hpp"
#include "model_fixtures.hpp"

using namespace gen;
using namespace gen::editing;

namespace {

const std::string kDir = std::string(GEN_TEST_DATA_DIR) + "/masks/";

Image load(const nlohmann::json& file) { return read_image(kDir + file.get<std::string>()); }

// The number of samples that differ (all must match: the references are exact integer code).
std::size_t differences(const Image& got, const Image& want) {
  EXPECT_EQ(got.width, want.width);
  EXPECT_EQ(got.height, want.height);
  EXPECT_EQ(got.channels, want.channels);
  if (got.data8.size() != want.data8.size()) return static_cast<std::size_t>(-1);
  std::size_t n = 0;
  for (std::size_t i = 0; i < got.data8.size(); ++i) n += got.data8[i] != want.data8[i];
  return n;
}

std::vector<nlohmann::json> cases_of(const std::string& kind) {
  static const auto all = test::read_json(kDir + "cases.json");
  std::vector<nlohmann::json> out;
  for (const auto& c : all["cases"])
    if (c["kind"] == kind) out.push_back(c);
  EXPECT_FALSE(out.empty()) << kind;
  return out;
}

CropBox box_of(const nlohmann::json& j) { return CropBox{j[0], j[1], j[2], j[3]}; }

ResizeMode mode_of(const std::string& m) {
  return m == "fill" ? ResizeMode::Fill : m == "crop" ? ResizeMode::Crop : ResizeMode::Default;
}

// The fill cases' margins [top/bottom, left/right] (make_mask_fixtures.py fill_margin), summed
// over the cases, so that a test can check both kinds were compared.
struct Margins {
  int top_bottom = 0, left_right = 0;
  void add(const nlohmann::json& c) {
    top_bottom += c["margin"][0] > 0;
    left_right += c["margin"][1] > 0;
  }
};

template <class F>
ErrorCode code_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.code();
  }
  return ErrorCode::Ok;
}

}  // namespace

// ---------------------------------------------------------------- masks from images

TEST(MaskOps, GreyIsPillowsConvertL) {
  for (const auto& c : cases_of("to_l")) {
    const Image in = load(c["input"]);
    EXPECT_EQ(differences(mask_from_image(in, false, false), load(c["expect"])), 0u) << c["input"];
    EXPECT_EQ(differences(mask_from_image(in, false, true), load(c["invert"])), 0u) << c["input"];
  }
  // Pillow's fixed point, not the per-mille integer formula (they differ for (1, 0, 0)).
  EXPECT_EQ(pil_luminance(255, 255, 255), 255);
  EXPECT_EQ(pil_luminance(1, 0, 0), 0);
  EXPECT_EQ(pil_luminance(2, 0, 0), 1);  // 2*19595 + 32768 = 71958 >> 16 = 1; 2*299/1000 = 0
}

TEST(MaskOps, FromAlphaRepaintsTransparentPixels) {
  const auto c = cases_of("from_alpha").at(0);
  EXPECT_EQ(differences(mask_from_image(load(c["input"]), true, false), load(c["expect"])), 0u);
  Image ga = Image::make(2, 1, 2);
  ga.data8 = {10, 0, 20, 255};  // transparent, opaque
  EXPECT_EQ(mask_from_image(ga, true, false).data8, (std::vector<std::uint8_t>{255, 0}));
  EXPECT_EQ(mask_from_image(ga, true, true).data8, (std::vector<std::uint8_t>{0, 255}));
  try {
    mask_from_image(Image::make(2, 2, 3), true, false, "mask.png");
    FAIL() << "an RGB image has no alpha";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
    EXPECT_NE(std::string(e.what()).find("mask.png"), std::string::npos) << e.what();
  }
}

TEST(MaskOps, SixteenBitImagesAreRoundedFirst) {
  const std::string images = std::string(GEN_TEST_DATA_DIR) + "/images/";
  for (const char* f : {"rgb16.png", "grey16.png", "rgba16.png"}) {
    const Image im = read_image(images + f);
    ASSERT_EQ(im.bit_depth, 16) << f;
    EXPECT_EQ(mask_from_image(im, false, false).data8, mask_from_image(to_8bit(im), false, false).data8) << f;
  }
  const Image rgba = read_image(images + "rgba16.png");
  const Image m = mask_from_image(rgba, true, false);
  EXPECT_EQ(m.at(0, 0, 0), 255u - to_8bit(rgba).at(0, 0, 3));
}

TEST(MaskOps, BinarizeSplitsAt128) {
  Image m = Image::make(4, 1, 1);
  m.data8 = {0, 127, 128, 255};
  EXPECT_EQ(binarize_mask(m).data8, (std::vector<std::uint8_t>{0, 0, 255, 255}));
  EXPECT_EQ(code_of([] { binarize_mask(Image::make(2, 2, 3)); }), ErrorCode::InvalidArgument);
}

// ---------------------------------------------------------------- diffusers

TEST(MaskOps, PreprocessMaskMatchesDiffusers) {
  Margins margins;
  for (const auto& c : cases_of("preprocess_mask")) {
    const Image in = load(c["input"]);
    CropBox box;
    if (!c["crop"].is_null()) box = box_of(c["crop"]);
    const Image got =
        preprocess_mask(in, c["width"], c["height"], mode_of(c["mode"]), c["crop"].is_null() ? nullptr : &box);
    EXPECT_EQ(differences(got, load(c["expect"])), 0u) << c["input"];
    margins.add(c);
  }
  EXPECT_GT(margins.top_bottom, 0);
  EXPECT_GT(margins.left_right, 0);
}

// _resize_and_fill alone at sizes preprocess would round to a multiple of 8: odd margins, so the
// far strip is clipped by the canvas or leaves a black row/column; L, LA, RGB and RGBA.
TEST(MaskOps, FillStretchesTheEdgesIntoTheMarginsAsDiffusers) {
  Margins margins;
  for (const auto& c : cases_of("resize_mode")) {
    const Image got = resize_mode(load(c["input"]), c["width"], c["height"], mode_of(c["mode"]), "image");
    EXPECT_EQ(differences(got, load(c["expect"])), 0u) << c["input"];
    margins.add(c);
  }
  EXPECT_GT(margins.top_bottom, 0);
  EXPECT_GT(margins.left_right, 0);
}

TEST(MaskOps, LanczosResizeOfTheMaskIsPillows) {
  const auto c = cases_of("resize").at(0);
  EXPECT_EQ(differences(pil_resize(load(c["input"]), c["width"], c["height"], "mask"), load(c["expect"])), 0u);
}

TEST(MaskOps, CropRegionMatchesDiffusers) {
  for (const auto& c : cases_of("crop_region")) {
    const CropBox got = crop_region(load(c["input"]), c["width"], c["height"], c["pad"]);
    const CropBox want = box_of(c["expect"]);
    EXPECT_TRUE(got == want) << c["input"] << ": " << got.x1 << "," << got.y1 << "," << got.x2 << "," << got.y2;
  }
  EXPECT_EQ(code_of([] { crop_region(Image::make(8, 8, 1), 64, 64, 0); }), ErrorCode::InvalidArgument);
}

TEST(MaskOps, PreprocessImageMatchesDiffusers) {
  Margins margins;
  for (const auto& c : cases_of("preprocess_image")) {
    CropBox box;
    if (!c["crop"].is_null()) box = box_of(c["crop"]);
    const Image got = preprocess_image(load(c["input"]), c["width"], c["height"], mode_of(c["mode"]),
                                       c["crop"].is_null() ? nullptr : &box);
    EXPECT_EQ(differences(got, load(c["expect"])), 0u) << c["input"];
    margins.add(c);
  }
  EXPECT_GT(margins.top_bottom, 0);
  EXPECT_GT(margins.left_right, 0);
  EXPECT_EQ(code_of([] { preprocess_image(Image::make(8, 8, 4), 8, 8, ResizeMode::Fill); }), ErrorCode::InvalidArgument);
}

TEST(MaskOps, ApplyOverlayMatchesDiffusers) {
  for (const auto& c : cases_of("apply_overlay")) {
    CropBox box;
    if (!c["crop"].is_null()) box = box_of(c["crop"]);
    const Image got = apply_overlay(load(c["mask"]), load(c["init"]), load(c["image"]), c["crop"].is_null() ? nullptr : &box);
    EXPECT_EQ(differences(got, load(c["expect"])), 0u) << c["expect"];
  }
  EXPECT_EQ(code_of([] { apply_overlay(Image::make(8, 8, 1), Image::make(8, 8, 3), Image::make(9, 8, 3)); }),
            ErrorCode::InvalidArgument);
}

// ---------------------------------------------------------------- Pillow primitives

// Image.resize with BICUBIC and LANCZOS, with and without a box (fractional, empty on an edge,
// an integer box of the output size), L/LA/RGB/RGBA: image/resample.cpp through pil_resize.
TEST(MaskPil, ResizeMatchesPillow) {
  int boxed = 0, bicubic = 0;
  for (const auto& c : cases_of("pil_resize")) {
    const PillowFilter filter = c["filter"] == "bicubic" ? PillowFilter::Bicubic : PillowFilter::Lanczos;
    PilBox box;
    if (!c["box"].is_null()) box = PilBox{c["box"][0].get<float>(), c["box"][1].get<float>(), c["box"][2].get<float>(),
                                          c["box"][3].get<float>()};
    const Image got =
        pil_resize(load(c["input"]), c["width"], c["height"], "image", filter, c["box"].is_null() ? nullptr : &box);
    EXPECT_EQ(differences(got, load(c["expect"])), 0u) << c["expect"];
    boxed += !c["box"].is_null();
    bicubic += filter == PillowFilter::Bicubic;
  }
  EXPECT_GT(boxed, 0);
  EXPECT_GT(bicubic, 0);
  // Pillow's refusals of a box (_imaging.c _resize), in its words.
  const Image im = Image::make(8, 6, 3);
  for (const auto& [b, words] : {std::pair{PilBox{-1, 0, 4, 4}, "negative"}, std::pair{PilBox{0, 0, 9, 4}, "exceed"},
                                 std::pair{PilBox{4, 0, 3, 4}, "empty"}}) {
    try {
      pil_resize(im, 4, 4, "image", PillowFilter::Bicubic, &b);
      ADD_FAILURE() << words;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
  }
}

TEST(MaskPil, GaussianBlurMatchesPillow) {
  for (const auto& c : cases_of("gaussian_blur"))
    EXPECT_EQ(differences(pil_gaussian_blur(load(c["input"]), c["radius"].get<float>(), "image"), load(c["expect"])), 0u)
        << c["input"];
}

TEST(MaskPil, AlphaCompositeAndPremultiplyMatchPillow) {
  const auto c = cases_of("alpha_composite").at(0);
  EXPECT_EQ(differences(pil_alpha_composite(load(c["dst"]), load(c["src"]), "t"), load(c["expect"])), 0u);
  const auto p = cases_of("premultiply").at(0);
  EXPECT_EQ(differences(pil_unpremultiply(pil_premultiply(load(p["input"]), "t"), "t"), load(p["expect"])), 0u);
}

// ---------------------------------------------------------------- A1111

TEST(MaskA1111, BlurMatchesOpenCv) {
  for (const auto& c : cases_of("a1111_blur"))
    EXPECT_EQ(differences(a1111_mask_blur(load(c["input"]), c["blur_x"], c["blur_y"]), load(c["expect"])), 0u)
        << c["input"];
}

TEST(MaskA1111, CropRegionByHand) {
  // A 10x8 mask painted at columns 3..5, rows 2..3.
  Image m = Image::make(10, 8, 1);
  for (int y = 2; y <= 3; ++y)
    for (int x = 3; x <= 5; ++x) m.data8[static_cast<std::size_t>(y) * 10 + x] = 9;
  EXPECT_TRUE(a1111_get_crop_region(m, 0) == (CropBox{3, 2, 6, 4}));
  EXPECT_TRUE(a1111_get_crop_region(m, 1) == (CropBox{2, 1, 7, 5}));
  EXPECT_TRUE(a1111_get_crop_region(m, 5) == (CropBox{0, 0, 10, 8}));  // clamped
  // 3x2 box, processing 1:1: ratio 1.5 > 1, so height grows by int(3/1 - 2) = 1: floor(1/2)=0
  // above, 1 below → rows 2..5.
  EXPECT_TRUE(a1111_expand_crop_region({3, 2, 6, 4}, 64, 64, 10, 8) == (CropBox{3, 2, 6, 5}));
  // 3x2 box, processing 1:2 (taller): 1.5 > 0.5, so height grows to 3 / 0.5 = 6: by 4, 2 above
  // and 2 below → rows 0..6.
  EXPECT_TRUE(a1111_expand_crop_region({3, 2, 6, 4}, 32, 64, 10, 8) == (CropBox{3, 0, 6, 6}));
  // 3x2 box, processing 2:1: 1.5 <= 2, so width grows to 2 * 2 = 4: by 1, 0 before, 1 after.
  EXPECT_TRUE(a1111_expand_crop_region({3, 2, 6, 4}, 128, 64, 10, 8) == (CropBox{3, 2, 7, 4}));
  // 5x5 box at the left edge, processing 7:5: width 7, by 2 → columns -1..6 → shifted to 0..7.
  EXPECT_TRUE(a1111_expand_crop_region({0, 0, 5, 5}, 7, 5, 10, 8) == (CropBox{0, 0, 7, 5}));
  // 2x1 box at the bottom edge, processing 1:2: height to 4 → rows 6..10, shifted back to 4..8.
  EXPECT_TRUE(a1111_expand_crop_region({0, 7, 2, 8}, 32, 64, 10, 8) == (CropBox{0, 4, 2, 8}));
  // 4x1 box, processing 1:1, image 6 rows: height 4 → rows -1..3 → shifted to 0..4.
  EXPECT_TRUE(a1111_expand_crop_region({2, 0, 6, 1}, 8, 8, 10, 6) == (CropBox{2, 0, 6, 4}));
  // Too tall for the image: 8x1 box, 1:1, 4 rows: 8 rows wanted, clamped to 0..4.
  EXPECT_TRUE(a1111_expand_crop_region({0, 1, 8, 2}, 8, 8, 8, 4) == (CropBox{0, 0, 8, 4}));
  EXPECT_EQ(code_of([] { a1111_get_crop_region(Image::make(4, 4, 1), 0); }), ErrorCode::InvalidArgument);
}

TEST(MaskA1111, BinaryMaskFromSketchAlpha) {
  Image rgba = Image::make(3, 1, 4);
  rgba.data8 = {1, 2, 3, 0, 1, 2, 3, 128, 1, 2, 3, 129};
  EXPECT_EQ(a1111_binary_mask(rgba).data8, (std::vector<std::uint8_t>{0, 0, 255}));
  rgba.data8 = {255, 255, 255, 255, 0, 0, 0, 255, 100, 100, 100, 255};  // opaque: its grey
  EXPECT_EQ(a1111_binary_mask(rgba).data8, (std::vector<std::uint8_t>{255, 0, 100}));
  Image m = Image::make(3, 1, 1);
  m.data8 = {0, 100, 200};
  EXPECT_EQ(a1111_whole_picture_overlay_mask(m).data8, (std::vector<std::uint8_t>{0, 200, 255}));
}

TEST(MaskA1111, FillMatchesPillowCalls) {
  const auto c = cases_of("a1111_fill").at(0);
  EXPECT_EQ(differences(a1111_fill(load(c["input"]), load(c["mask"])), load(c["expect"])), 0u);
}

TEST(MaskA1111, OverlayMatchesPillowCalls) {
  const auto c = cases_of("a1111_overlay").at(0);
  const Image overlay = masked_original(load(c["mask"]), load(c["init"]));
  EXPECT_EQ(differences(overlay, load(c["overlay"])), 0u);
  const CropBox box = box_of(c["crop"]);
  EXPECT_EQ(differences(a1111_apply_overlay(load(c["image"]), overlay, &box), load(c["expect"])), 0u);
}

// ---------------------------------------------------------------- outpainting

TEST(MaskOutpaint, ExtendMatchesNumpyPad) {
  for (const auto& c : cases_of("extend")) {
    const Fill fill = c["fill"] == "edge" ? Fill::Edge : Fill::Mirror;
    const Image got = extend_canvas(load(c["input"]), c["left"], c["right"], c["top"], c["bottom"], fill);
    EXPECT_EQ(differences(got, load(c["expect"])), 0u) << c["expect"];
  }
}

TEST(MaskOutpaint, ColourFillAndMask) {
  Image rgba = Image::make(2, 1, 4);
  rgba.data8 = {1, 2, 3, 4, 5, 6, 7, 8};
  const Image out = extend_canvas(rgba, 1, 0, 0, 1, Fill::Colour, Rgb8{10, 20, 30});
  ASSERT_EQ(out.width, 3);
  ASSERT_EQ(out.height, 2);
  EXPECT_EQ(out.data8, (std::vector<std::uint8_t>{10, 20, 30, 255, 1, 2, 3, 4, 5, 6, 7, 8,  //
                                                  10, 20, 30, 255, 10, 20, 30, 255, 10, 20, 30, 255}));
  Image grey16 = Image::make(1, 1, 1, 16);
  grey16.data16 = {7};
  EXPECT_EQ(extend_canvas(grey16, 0, 1, 0, 0, Fill::Colour, kWhite).data16, (std::vector<std::uint16_t>{7, 65535}));
  const Image m = extend_canvas_mask(2, 1, 1, 0, 0, 1);
  EXPECT_EQ(m.data8, (std::vector<std::uint8_t>{255, 0, 0, 255, 255, 255}));
  EXPECT_EQ(code_of([] { extend_canvas(Image::make(2, 2, 3), -1, 0, 0, 0, Fill::Edge); }), ErrorCode::InvalidArgument);
  EXPECT_EQ(code_of([] { extend_canvas(Image::make(2, 2, 3), 70000, 0, 0, 0, Fill::Edge); }),
            ErrorCode::InvalidArgument);
}
