#include "training/shapes.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include "core/atomic_file.hpp"
#include "core/fail.hpp"
#include "core/fs.hpp"
#include "gen/training.hpp"

namespace gen::training {

const std::vector<ShapeColour>& shape_palette() {
  static const std::vector<ShapeColour> p = {
      {"red", {220, 40, 40}},   {"green", {40, 170, 60}},   {"blue", {40, 80, 220}},
      {"yellow", {240, 210, 40}}, {"white", {245, 245, 245}}, {"black", {20, 20, 20}},
  };
  return p;
}

const std::vector<std::string>& shape_names() {
  static const std::vector<std::string> n = {"circle", "square", "triangle"};
  return n;
}

namespace {

// splitmix64 of (seed, index, k): the k-th random word of a sample.
std::uint64_t word(std::uint64_t seed, std::uint64_t index, std::uint64_t k) {
  std::uint64_t z = seed * 0x9E3779B97F4A7C15ull + (index + 1) * 0xBF58476D1CE4E5B9ull + (k + 1) * 0x94D049BB133111EBull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

int below(std::uint64_t w, int n) { return static_cast<int>(w % static_cast<std::uint64_t>(n)); }

std::vector<cv::Point> polygon(const ShapeSample& s) {
  const int sides = s.shape == 1 ? 4 : 3;
  const double r = s.shape == 1 ? s.radius * std::sqrt(2.0) * 0.85 : s.radius * 1.15;
  std::vector<cv::Point> pts;
  for (int i = 0; i < sides; ++i) {
    const double a = (s.angle + 360.0 * i / sides - 90.0) * M_PI / 180.0;
    pts.emplace_back(static_cast<int>(std::lround((s.cx + r * std::cos(a)) * 16)),
                     static_cast<int>(std::lround((s.cy + r * std::sin(a)) * 16)));
  }
  return pts;
}

// Draws the shape filled (thickness < 0) or as an outline, with 4 bits of sub-pixel precision.
void draw(cv::Mat& m, const ShapeSample& s, const cv::Scalar& colour, int thickness) {
  if (s.shape == 0) {
    cv::circle(m, {s.cx * 16, s.cy * 16}, s.radius * 16, colour, thickness, cv::LINE_AA, 4);
  } else {
    const auto pts = polygon(s);
    if (thickness < 0)
      cv::fillPoly(m, std::vector<std::vector<cv::Point>>{pts}, colour, cv::LINE_AA, 4);
    else
      cv::polylines(m, std::vector<std::vector<cv::Point>>{pts}, true, colour, thickness, cv::LINE_AA, 4);
  }
}

Image from_mat(const cv::Mat& m) {
  auto img = Image::make(m.cols, m.rows, m.channels());
  std::memcpy(img.data8.data(), m.data, img.data8.size());
  return img;
}

}  // namespace

void draw_shape_sample(ShapeSample& s, int size) {
  const auto& pal = shape_palette();
  s.caption = std::string("a ") + pal[s.colour].name + " " + shape_names()[s.shape] + " on a " +
              pal[s.background].name + " background";
  const auto& bg = pal[s.background].rgb;
  const auto& fg = pal[s.colour].rgb;
  cv::Mat image(size, size, CV_8UC3, cv::Scalar(bg[0], bg[1], bg[2]));
  draw(image, s, cv::Scalar(fg[0], fg[1], fg[2]), -1);
  cv::Mat outline(size, size, CV_8UC3, cv::Scalar(0, 0, 0));
  draw(outline, s, cv::Scalar(255, 255, 255), std::max(1, size / 64));
  cv::Mat mask(size, size, CV_8UC1, cv::Scalar(0));
  draw(mask, s, cv::Scalar(255), -1);
  s.image = from_mat(image);
  s.outline = from_mat(outline);
  s.mask = from_mat(mask);
}

ShapeSample make_shape_sample(std::uint64_t seed, std::uint64_t index, int size) {
  if (size < 32 || size > 1024) fail(ErrorCode::InvalidArgument, "--size", "must be 32..1024, got " + std::to_string(size));
  const int colours = static_cast<int>(shape_palette().size());
  ShapeSample s;
  s.shape = below(word(seed, index, 0), static_cast<int>(shape_names().size()));
  s.colour = below(word(seed, index, 1), colours);
  s.background = (s.colour + 1 + below(word(seed, index, 2), colours - 1)) % colours;  // never the shape's
  s.radius = size * 3 / 16 + below(word(seed, index, 3), size / 8 + 1);               // 3/16 .. 5/16 of the side
  const int margin = s.radius + size / 16;
  s.cx = margin + below(word(seed, index, 4), size - 2 * margin + 1);
  s.cy = margin + below(word(seed, index, 5), size - 2 * margin + 1);
  s.angle = below(word(seed, index, 6), s.shape == 1 ? 90 : 120);
  draw_shape_sample(s, size);
  return s;
}

}  // namespace gen::training

namespace gen {

void write_shapes_dataset(const std::string& folder, int count, int size, std::uint64_t seed) {
  if (count < 1 || count > 1000000) fail(ErrorCode::InvalidArgument, "--count", "must be 1..1000000");
  if (core::is_dir(folder) || core::is_file(folder))
    fail(ErrorCode::InvalidArgument, folder, "exists already: choose a new folder");
  for (const auto& d : {folder, core::join(folder, "images"), core::join(folder, "outlines"), core::join(folder, "masks")})
    if (::mkdir(d.c_str(), 0755) != 0)
      fail(errno == ENOENT ? ErrorCode::NotFound : ErrorCode::Io, d, std::string("cannot create: ") + std::strerror(errno));
  std::string lines;
  for (int i = 0; i < count; ++i) {
    const auto s = training::make_shape_sample(seed, static_cast<std::uint64_t>(i), size);
    char name[32];
    std::snprintf(name, sizeof name, "%05d.png", i);
    write_png(core::join(folder, std::string("images/") + name), s.image);
    write_png(core::join(folder, std::string("outlines/") + name), s.outline);
    write_png(core::join(folder, std::string("masks/") + name), s.mask);
    const nlohmann::json j = {{"image", std::string("images/") + name},
                              {"conditioning_image", std::string("outlines/") + name},
                              {"mask", std::string("masks/") + name},
                              {"text", s.caption},
                              {"shape", training::shape_names()[s.shape]},
                              {"colour", training::shape_palette()[s.colour].name},
                              {"background", training::shape_palette()[s.background].name},
                              {"cx", s.cx}, {"cy", s.cy}, {"radius", s.radius}, {"angle", s.angle}};
    lines += j.dump() + "\n";
  }
  write_file_atomic(core::join(folder, "metadata.jsonl"), lines.data(), lines.size());
}

}  // namespace gen
