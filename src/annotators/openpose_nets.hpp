// gen — the three OpenPose networks of controlnet-aux 0.0.10 (controlnet_aux/open_pose/model.py,
// face.py): the body model (6 stages of PAF + heat-map branches), the hand model and the face
// model (FaceNet), which share one shape (a VGG trunk, then 6 stages of 7×7 convolutions) and
// differ only in their output maps (22 and 71).
//
// Parameter names are the keys of the original files (body_pose_model.pth, hand_pose_model.pth,
// facenet.pth, lllyasviel/Annotators): "conv1_1.weight", "Mconv7_stage6_L2.bias", …; the
// Python modules group them (model0, model1_1, …), the files do not, and neither does gen.
// Files are read as .pth (torch.save, through the non-executing pickle reader) or .safetensors.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "models/layers.hpp"
#include "models/module.hpp"

namespace gen::annotators {

enum class OpenposeKind { Body, Hand, Face };
const char* openpose_kind_name(OpenposeKind kind);  // "body pose model (body_pose_model.pth)", …

// A chain of 3×3 / 7×7 / 1×1 convolutions and 2×2 max-pools, as make_layers builds it.
struct OpenposeLayer {
  std::string name;  // the conv's key prefix, or "" for a max-pool
  models::Conv2d* conv = nullptr;
  bool relu = true;
};

class OpenposeBodyNet : public models::Module {
 public:
  OpenposeBodyNet();
  // x: [N, 3, H, W] (BGR / 256 − 0.5). Returns {PAFs [N, 38, H/8, W/8], heat maps [N, 19, H/8, W/8]}.
  std::pair<at::Tensor, at::Tensor> forward(const at::Tensor& x) const;

 private:
  std::vector<OpenposeLayer> trunk_;
  std::vector<std::vector<OpenposeLayer>> l1_, l2_;  // stages 1..6
};

// The hand model (22 maps) and FaceNet (71 maps).
class OpenposeCpmNet : public models::Module {
 public:
  explicit OpenposeCpmNet(std::int64_t maps);
  // x: [N, 3, H, W]. Returns the last stage's maps [N, maps, H/8, W/8].
  at::Tensor forward(const at::Tensor& x) const;

 private:
  std::vector<OpenposeLayer> trunk_;
  std::vector<std::vector<OpenposeLayer>> stages_;
};

// What a file's tensor names and shapes say it is; false when none of the three.
bool classify_openpose(const std::vector<std::pair<std::string, std::vector<std::int64_t>>>& tensors,
                       OpenposeKind& kind);

// Loads a network of `kind` from `path` (.pth or .safetensors) in f32 on `device`. Errors name the
// file: NotFound / Io / InvalidFormat / UnsafeContent from the readers; ModelMismatch "a hand pose
// model (hand_pose_model.pth), not a body pose model (body_pose_model.pth)" for another OpenPose
// file, "not an OpenPose … model" for anything else, and the loader's list of tensors otherwise.
std::unique_ptr<OpenposeBodyNet> load_openpose_body(const std::string& path, c10::Device device);
std::unique_ptr<OpenposeCpmNet> load_openpose_hand(const std::string& path, c10::Device device);
std::unique_ptr<OpenposeCpmNet> load_openpose_face(const std::string& path, c10::Device device);

}  // namespace gen::annotators
