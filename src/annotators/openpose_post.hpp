// gen — OpenPose post-processing as controlnet-aux 0.0.10 does it (open_pose/body.py, hand.py,
// face.py, util.py), operation for operation, so that the keypoints are the reference's exactly:
// scipy.ndimage.gaussian_filter (reflect mode, truncate 4, its symmetric summation order), peak
// finding, PAF limb scoring, subset grouping, the hand and face boxes and their peaks.
// No libtorch here: maps are planar arrays (channel, row, column).
#pragma once

#include <array>
#include <optional>
#include <vector>

namespace gen::annotators {

// The body model's limbs (pairs of 1-based joints) and, per limb, its two PAF planes (as numbered
// in the network output, PAFs after the 19 heat maps): controlnet_aux open_pose/body.py limbSeq, mapIdx.
constexpr int kLimbSeq[19][2] = {{2, 3},   {2, 6},   {3, 4},   {4, 5},   {6, 7},   {7, 8},  {2, 9},
                                 {9, 10},  {10, 11}, {2, 12},  {12, 13}, {13, 14}, {2, 1},  {1, 15},
                                 {15, 17}, {1, 16},  {16, 18}, {3, 17},  {6, 18}};
constexpr int kMapIdx[19][2] = {{31, 32}, {39, 40}, {33, 34}, {35, 36}, {41, 42}, {43, 44}, {19, 20},
                                {21, 22}, {23, 24}, {25, 26}, {27, 28}, {29, 30}, {47, 48}, {49, 50},
                                {53, 54}, {51, 52}, {55, 56}, {37, 38}, {45, 46}};

// scipy.ndimage.gaussian_filter(x, sigma) of a rows × cols float64 map (row-major).
std::vector<double> gaussian_filter(const std::vector<double>& x, int rows, int cols, double sigma);

// numpy's pairwise summation of n doubles (np.sum's order).
double numpy_sum(const double* v, long n);

struct BodyCandidate {
  double x, y, score, id;  // x, y are pixel positions (integers)
};

struct BodyPerson {
  std::array<double, 20> row;  // 0..17: candidate index or −1; 18: total score; 19: total parts
};

struct BodyFound {
  std::vector<BodyCandidate> candidates;
  std::vector<BodyPerson> people;
};

// Body.__call__ after the network: `heat` = heatmap_avg (19 planes) and `paf` = paf_avg (38
// planes), each height × width float64.
BodyFound body_from_maps(const std::vector<double>& heat, const std::vector<double>& paf, int height, int width);

// A person's 18 keypoints in pixels (format_body_result).
using BodyKeypoints = std::array<std::optional<std::array<double, 2>>, 18>;
std::vector<BodyKeypoints> body_keypoints(const BodyFound& found);

struct HandBox {
  int x, y, w;
  bool left;
};
// util.handDetect / faceDetect on an image of height × width.
std::vector<HandBox> hand_boxes(const BodyKeypoints& body, int height, int width);
std::optional<std::array<int, 3>> face_box(const BodyKeypoints& body, int height, int width);

// Hand.__call__ after the network: `heat` = heatmap_avg, 22 planes of 128 × 128 float64; the crop
// was crop_h × crop_w. 21 peaks (x, y) in crop pixels, (0, 0) where none.
std::vector<std::array<int, 2>> hand_peaks(std::vector<double> heat, int crop_h, int crop_w);

// Face.compute_peaks_from_heatmaps: `maps` = 71 float32 planes of height × width; one peak per
// map that has a value over 0.05 (maps without are left out).
std::vector<std::array<int, 2>> face_peaks(const std::vector<float>& maps, int channels, int height, int width);

}  // namespace gen::annotators
