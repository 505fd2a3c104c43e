// gen — the skeleton drawing of controlnet-aux 0.0.10 (open_pose/util.py draw_bodypose,
// draw_handpose, draw_facepose; draw_poses), with the same OpenCV calls: ellipse2Poly +
// fillConvexPoly for limbs, circle for joints, line for hand bones (HSV colours). Body points are
// float64 in the reference, hand and face points float32 (so `int(x * W)` is a float32 product).
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <cmath>
#include <cstring>

#include "core/fail.hpp"
#include "gen/pose.hpp"

namespace gen {
namespace {

constexpr int kLimbs[17][2] = {{2, 3}, {2, 6},  {3, 4},   {4, 5},   {6, 7},  {7, 8},   {2, 9},  {9, 10}, {10, 11},
                               {2, 12}, {12, 13}, {13, 14}, {2, 1}, {1, 15}, {15, 17}, {1, 16}, {16, 18}};
constexpr int kColors[18][3] = {{255, 0, 0},   {255, 85, 0},  {255, 170, 0}, {255, 255, 0}, {170, 255, 0},
                                {85, 255, 0},  {0, 255, 0},   {0, 255, 85},  {0, 255, 170}, {0, 255, 255},
                                {0, 170, 255}, {0, 85, 255},  {0, 0, 255},   {85, 0, 255},  {170, 0, 255},
                                {255, 0, 255}, {255, 0, 170}, {255, 0, 85}};
constexpr int kHandEdges[20][2] = {{0, 1},  {1, 2},   {2, 3},   {3, 4},   {0, 5},   {5, 6},   {6, 7},
                                   {7, 8},  {0, 9},   {9, 10},  {10, 11}, {11, 12}, {0, 13}, {13, 14},
                                   {14, 15}, {15, 16}, {0, 17}, {17, 18}, {18, 19}, {19, 20}};
constexpr double kEps = 0.01;

void draw_body(cv::Mat& canvas, const std::vector<PosePoint>& kp) {
  const double W = canvas.cols, H = canvas.rows;
  const int stickwidth = 4;
  for (int l = 0; l < 17; ++l) {
    const std::size_t a = static_cast<std::size_t>(kLimbs[l][0] - 1), b = static_cast<std::size_t>(kLimbs[l][1] - 1);
    if (a >= kp.size() || b >= kp.size() || !kp[a].present || !kp[b].present) continue;
    const double Y0 = kp[a].x * W, Y1 = kp[b].x * W, X0 = kp[a].y * H, X1 = kp[b].y * H;
    const double mX = (X0 + X1) / 2, mY = (Y0 + Y1) / 2;
    const double length = std::sqrt((X0 - X1) * (X0 - X1) + (Y0 - Y1) * (Y0 - Y1));
    const double angle = std::atan2(X0 - X1, Y0 - Y1) * (180.0 / M_PI);
    std::vector<cv::Point> poly;
    cv::ellipse2Poly(cv::Point(static_cast<int>(mY), static_cast<int>(mX)),
                     cv::Size(static_cast<int>(length / 2), stickwidth), static_cast<int>(angle), 0, 360, 1, poly);
    const auto* c = kColors[l];
    cv::fillConvexPoly(canvas, poly,
                       cv::Scalar(static_cast<int>(c[0] * 0.6), static_cast<int>(c[1] * 0.6), static_cast<int>(c[2] * 0.6)));
  }
  for (std::size_t i = 0; i < kp.size() && i < 18; ++i) {
    if (!kp[i].present) continue;
    const int x = static_cast<int>(kp[i].x * W), y = static_cast<int>(kp[i].y * H);
    cv::circle(canvas, cv::Point(x, y), 4, cv::Scalar(kColors[i][0], kColors[i][1], kColors[i][2]), -1);
  }
}

// matplotlib.colors.hsv_to_rgb for s = v = 1, times 255.
cv::Scalar hsv_color(double h) {
  const int i = static_cast<int>(h * 6.0);
  const double f = h * 6.0 - i;
  const double p = 0.0, q = 1.0 * (1.0 - 1.0 * f), t = 1.0 * (1.0 - 1.0 * (1.0 - f)), v = 1.0;
  double r, g, b;
  switch (i % 6) {
    case 0: r = v, g = t, b = p; break;
    case 1: r = q, g = v, b = p; break;
    case 2: r = p, g = v, b = t; break;
    case 3: r = p, g = q, b = v; break;
    case 4: r = t, g = p, b = v; break;
    default: r = v, g = p, b = q; break;
  }
  return cv::Scalar(r * 255, g * 255, b * 255);
}

int f32_pixel(double v, int size) { return static_cast<int>(static_cast<float>(v) * static_cast<float>(size)); }

void draw_hand(cv::Mat& canvas, const std::vector<PosePoint>& kp) {
  if (kp.empty()) return;
  const int W = canvas.cols, H = canvas.rows;
  for (int e = 0; e < 20; ++e) {
    const std::size_t a = static_cast<std::size_t>(kHandEdges[e][0]), b = static_cast<std::size_t>(kHandEdges[e][1]);
    if (a >= kp.size() || b >= kp.size() || !kp[a].present || !kp[b].present) continue;
    const int x1 = f32_pixel(kp[a].x, W), y1 = f32_pixel(kp[a].y, H);
    const int x2 = f32_pixel(kp[b].x, W), y2 = f32_pixel(kp[b].y, H);
    if (x1 > kEps && y1 > kEps && x2 > kEps && y2 > kEps)
      cv::line(canvas, cv::Point(x1, y1), cv::Point(x2, y2), hsv_color(e / 20.0), 2);
  }
  for (const auto& k : kp) {
    if (!k.present) continue;
    const int x = f32_pixel(k.x, W), y = f32_pixel(k.y, H);
    if (x > kEps && y > kEps) cv::circle(canvas, cv::Point(x, y), 4, cv::Scalar(0, 0, 255), -1);
  }
}

void draw_face(cv::Mat& canvas, const std::vector<PosePoint>& kp) {
  const int W = canvas.cols, H = canvas.rows;
  for (const auto& k : kp) {
    if (!k.present) continue;
    const int x = f32_pixel(k.x, W), y = f32_pixel(k.y, H);
    if (x > kEps && y > kEps) cv::circle(canvas, cv::Point(x, y), 3, cv::Scalar(255, 255, 255), -1);
  }
}

}  // namespace

Image draw_poses(const Poses& poses, int width, int height, bool body, bool hand, bool face) {
  Image out = Image::make(width, height, 3);  // InvalidArgument for impossible sizes
  cv::Mat canvas(height, width, CV_8UC3, out.data8.data());
  for (const auto& p : poses.people) {
    if (body) draw_body(canvas, p.body);
    if (hand) {
      draw_hand(canvas, p.left_hand);
      draw_hand(canvas, p.right_hand);
    }
    if (face) draw_face(canvas, p.face);
  }
  return out;
}

}  // namespace gen
