#include "annotators/openpose_nets.hpp"

#include <ATen/ATen.h>

#include <map>

#include "core/fail.hpp"
#include "models/loader.hpp"
#include "tensor/tensor_file.hpp"

namespace gen::annotators {
namespace {

using models::Conv2d;

struct Spec {
  std::string name;  // "" = 2×2 max-pool
  std::int64_t in = 0, out = 0, kernel = 0;
  bool relu = true;
};

std::vector<OpenposeLayer> build(models::Module& m, const std::vector<Spec>& specs) {
  std::vector<OpenposeLayer> layers;
  for (const auto& s : specs) {
    OpenposeLayer l{s.name, nullptr, s.relu};
    if (!s.name.empty())
      l.conv = &m.add(s.name, std::make_unique<Conv2d>(s.in, s.out, s.kernel, 1, s.kernel / 2));
    layers.push_back(l);
  }
  return layers;
}

at::Tensor run(const std::vector<OpenposeLayer>& layers, at::Tensor x) {
  for (const auto& l : layers) {
    if (!l.conv) {
      x = at::max_pool2d(x, {2, 2}, {2, 2});
      continue;
    }
    x = (*l.conv)(x);
    if (l.relu) x = at::relu(x);
  }
  return x;
}

// The VGG trunk both shapes begin with, up to conv4_2.
std::vector<Spec> vgg_head() {
  return {{"conv1_1", 3, 64, 3},    {"conv1_2", 64, 64, 3},   {""},
          {"conv2_1", 64, 128, 3},  {"conv2_2", 128, 128, 3}, {""},
          {"conv3_1", 128, 256, 3}, {"conv3_2", 256, 256, 3}, {"conv3_3", 256, 256, 3},
          {"conv3_4", 256, 256, 3}, {""},
          {"conv4_1", 256, 512, 3}, {"conv4_2", 512, 512, 3}};
}

// Stages 2..6: five 7×7 convolutions, a 1×1, and the 1×1 to the maps.
std::vector<Spec> refinement(const std::string& suffix, std::int64_t in, std::int64_t maps, bool last_relu) {
  std::vector<Spec> s;
  for (int i = 1; i <= 5; ++i) s.push_back({"Mconv" + std::to_string(i) + suffix, i == 1 ? in : 128, 128, 7});
  s.push_back({"Mconv6" + suffix, 128, 128, 1});
  s.push_back({"Mconv7" + suffix, 128, maps, 1, last_relu});
  return s;
}

}  // namespace

const char* openpose_kind_name(OpenposeKind kind) {
  switch (kind) {
    case OpenposeKind::Body: return "body pose model (body_pose_model.pth)";
    case OpenposeKind::Hand: return "hand pose model (hand_pose_model.pth)";
    case OpenposeKind::Face: return "face model (facenet.pth)";
  }
  return "?";
}

OpenposeBodyNet::OpenposeBodyNet() {
  auto head = vgg_head();
  head.push_back({"conv4_3_CPM", 512, 256, 3});
  head.push_back({"conv4_4_CPM", 256, 128, 3});
  trunk_ = build(*this, head);
  for (int b = 1; b <= 2; ++b) {
    const std::string L = "_L" + std::to_string(b);
    const std::int64_t maps = b == 1 ? 38 : 19;
    auto& out = b == 1 ? l1_ : l2_;
    out.push_back(build(*this, {{"conv5_1_CPM" + L, 128, 128, 3},
                                {"conv5_2_CPM" + L, 128, 128, 3},
                                {"conv5_3_CPM" + L, 128, 128, 3},
                                {"conv5_4_CPM" + L, 128, 512, 1},
                                {"conv5_5_CPM" + L, 512, maps, 1, false}}));
    // model.py's no-ReLU list names Mconv7_stage6_L1 twice and Mconv7_stage6_L2 never: the
    // last heat-map layer keeps its ReLU.
    for (int i = 2; i <= 6; ++i)
      out.push_back(build(*this, refinement("_stage" + std::to_string(i) + L, 185, maps, b == 2 && i == 6)));
  }
}

std::pair<at::Tensor, at::Tensor> OpenposeBodyNet::forward(const at::Tensor& x) const {
  const at::Tensor features = run(trunk_, x);
  at::Tensor h = features, a, b;
  for (std::size_t s = 0; s < l1_.size(); ++s) {
    a = run(l1_[s], h);
    b = run(l2_[s], h);
    if (s + 1 < l1_.size()) h = at::cat({a, b, features}, 1);
  }
  return {a, b};
}

OpenposeCpmNet::OpenposeCpmNet(std::int64_t maps) {
  auto head = vgg_head();
  for (auto s : std::vector<Spec>{{"conv4_3", 512, 512, 3},
                                  {"conv4_4", 512, 512, 3},
                                  {"conv5_1", 512, 512, 3},
                                  {"conv5_2", 512, 512, 3},
                                  {"conv5_3_CPM", 512, 128, 3}})
    head.push_back(s);
  trunk_ = build(*this, head);
  stages_.push_back(build(*this, {{"conv6_1_CPM", 128, 512, 1}, {"conv6_2_CPM", 512, maps, 1, false}}));
  for (int i = 2; i <= 6; ++i)
    stages_.push_back(build(*this, refinement("_stage" + std::to_string(i), 128 + maps, maps, false)));
}

at::Tensor OpenposeCpmNet::forward(const at::Tensor& x) const {
  const at::Tensor features = run(trunk_, x);
  at::Tensor h = run(stages_[0], features);
  for (std::size_t s = 1; s < stages_.size(); ++s) h = run(stages_[s], at::cat({h, features}, 1));
  return h;
}

bool classify_openpose(const std::vector<std::pair<std::string, std::vector<std::int64_t>>>& tensors,
                       OpenposeKind& kind) {
  for (const auto& [name, shape] : tensors) {
    if (name == "Mconv7_stage6_L2.weight" || name == "conv5_5_CPM_L1.weight") {
      kind = OpenposeKind::Body;
      return true;
    }
    if ((name == "Mconv7_stage6.weight" || name == "conv6_2_CPM.weight") && !shape.empty()) {
      if (shape[0] == 22) kind = OpenposeKind::Hand;
      else if (shape[0] == 71) kind = OpenposeKind::Face;
      else continue;
      return true;
    }
  }
  return false;
}

namespace {

template <class Net>
std::unique_ptr<Net> load_net(std::unique_ptr<Net> net, OpenposeKind want, const std::string& path,
                              c10::Device device) {
  auto file = read_tensor_file(path);
  std::vector<std::pair<std::string, std::vector<std::int64_t>>> shapes;
  for (const auto& [name, t] : file.tensors) shapes.emplace_back(name, t.sizes().vec());
  OpenposeKind is;
  if (!classify_openpose(shapes, is))
    fail(ErrorCode::ModelMismatch, path,
         std::string("not an OpenPose ") + openpose_kind_name(want) + " (" + std::to_string(shapes.size()) +
             " tensors, none of the OpenPose output layers)");
  if (is != want)
    fail(ErrorCode::ModelMismatch, path,
         std::string("a ") + openpose_kind_name(is) + ", not a " + openpose_kind_name(want));
  models::LoadOptions opt;
  opt.device = device;
  models::load_weights(*net, file.tensors, opt, path);
  return net;
}

}  // namespace

std::unique_ptr<OpenposeBodyNet> load_openpose_body(const std::string& path, c10::Device device) {
  return load_net(std::make_unique<OpenposeBodyNet>(), OpenposeKind::Body, path, device);
}
std::unique_ptr<OpenposeCpmNet> load_openpose_hand(const std::string& path, c10::Device device) {
  return load_net(std::make_unique<OpenposeCpmNet>(22), OpenposeKind::Hand, path, device);
}
std::unique_ptr<OpenposeCpmNet> load_openpose_face(const std::string& path, c10::Device device) {
  return load_net(std::make_unique<OpenposeCpmNet>(71), OpenposeKind::Face, path, device);
}

}  // namespace gen::annotators
