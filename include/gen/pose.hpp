// gen — OpenPose poses (body, hands, face) as controlnet-aux 0.0.10's OpenposeDetector finds and
// draws them, and as JSON in the OpenPose format: detect keypoints in a picture with the original
// networks (body_pose_model.pth, hand_pose_model.pth, facenet.pth), draw the skeleton map a
// ControlNet takes, and draw it from a (possibly edited) JSON file. docs/pose.md.
#pragma once

#include <string>
#include <vector>

#include "gen/export.hpp"
#include "gen/image.hpp"

namespace gen {

// A keypoint in coordinates normalised to the canvas (x / width, y / height). Hand and face
// points the detector did not find are negative (−1 / width), as in the reference, and not drawn.
struct PosePoint {
  double x = 0, y = 0;
  bool present = false;
};

struct PosePerson {
  std::vector<PosePoint> body;        // 18 (OpenPose COCO order: nose, neck, r-shoulder, …)
  std::vector<PosePoint> left_hand;   // 21 or empty (not detected)
  std::vector<PosePoint> right_hand;  // 21 or empty
  std::vector<PosePoint> face;        // up to 71 or empty
  double total_score = 0;
  double total_parts = 0;
};

struct Poses {
  int width = 0, height = 0;  // the canvas (the image the keypoints were found in)
  std::vector<PosePerson> people;
};

// What to find and draw: the presets openpose (body), openpose_hand (body + hand),
// openpose_face (body + face), openpose_full (all three).
struct PoseOptions {
  bool body = true, hand = false, face = false;
  std::string device = "cpu";  // "cpu", "cuda", "cuda:N"
};
// InvalidArgument for an unknown preset name.
GEN_API PoseOptions pose_preset(const std::string& name);

// The weight files (.pth or .safetensors). `hand` / `face` are needed when the options ask for them.
struct PoseModelFiles {
  std::string body, hand, face;
};

// Finds the people in `rgb` (8-bit RGB, already at the detect resolution). Errors name the files:
// NotFound, InvalidFormat, UnsafeContent, ModelMismatch (e.g. "a hand pose model
// (hand_pose_model.pth), not a body pose model (body_pose_model.pth)"), InvalidArgument (no hand /
// face file where one is needed).
GEN_API Poses detect_poses(const PoseModelFiles& files, const Image& rgb, const PoseOptions& options);

// The skeleton map, height × width 8-bit RGB on black, exactly as draw_poses draws it.
GEN_API Image draw_poses(const Poses& poses, int width, int height, bool body = true, bool hand = true,
                         bool face = true);

// controlnet_aux's resize_image: the short side to `resolution`, both sides rounded to multiples of
// 64 (Lanczos when enlarging, area when shrinking); alpha composited over white, grey replicated.
GEN_API Image resize_for_detection(const Image& image, int resolution);

// OpenPose JSON: {"people": [{"pose_keypoints_2d": [x, y, c, …], "hand_left_keypoints_2d": …,
// "hand_right_keypoints_2d": …, "face_keypoints_2d": …}], "canvas_width": W, "canvas_height": H}.
// Written normalised (0..1, c = 1; missing points 0, 0, 0). Read normalised or in pixels (any
// coordinate over 1 means pixels of the canvas); a point with c = 0 is missing. Reading refuses
// (InvalidFormat, naming `subject` and the place) malformed JSON, wrong counts, non-numbers and
// coordinates outside the canvas.
GEN_API std::string poses_to_json(const Poses& poses);
GEN_API Poses poses_from_json(const std::string& text, const std::string& subject);

}  // namespace gen
