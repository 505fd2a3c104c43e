#include "annotators/networks.hpp"

#include <ATen/ATen.h>
#include <opencv2/imgproc.hpp>

#include <cmath>

#include "annotators/annotator_util.hpp"
#include "annotators/mlsd.hpp"
#include "annotators/net_layers.hpp"
#include "annotators/registry.hpp"
#include "core/fail.hpp"
#include "models/loader.hpp"

namespace gen::annotators {

std::unique_ptr<Network> make_pidinet();         // pidinet.cpp
std::unique_ptr<Network> make_lineart_anime();   // lineart_anime.cpp

namespace {

// ---- HED: ControlNetHED_Apache2 (controlnet_aux/hed)
class HedBlock : public models::Container {
 public:
  HedBlock(std::int64_t in, std::int64_t out, int layers) {
    auto& convs = add("convs", std::make_unique<models::Container>());
    for (int i = 0; i < layers; ++i)
      convs_.push_back(&convs.add(std::to_string(i), std::make_unique<Conv>(i == 0 ? in : out, out, 3, true)));
    projection_ = &add("projection", std::make_unique<Conv>(out, 1, 1, true));
  }
  // (h, projection(h))
  std::pair<at::Tensor, at::Tensor> operator()(at::Tensor h, bool down) const {
    if (down) h = at::max_pool2d(h, {2, 2}, {2, 2});
    for (const auto* c : convs_) h = at::relu((*c)(h, 1, 1));
    return {h, (*projection_)(h)};
  }

 private:
  std::vector<Conv*> convs_;
  Conv* projection_;
};

class Hed : public Network {
 public:
  Hed() : norm_(param("norm", {1, 3, 1, 1})) {
    const std::int64_t ch[6] = {3, 64, 128, 256, 512, 512};
    const int layers[5] = {2, 2, 3, 3, 3};
    for (int i = 0; i < 5; ++i)
      blocks_.push_back(&add("block" + std::to_string(i + 1), std::make_unique<HedBlock>(ch[i], ch[i + 1], layers[i])));
  }
  std::vector<at::Tensor> forward(const at::Tensor& x) const override {
    at::Tensor h = x - models::as_operand(norm_, x);
    std::vector<at::Tensor> out;
    for (std::size_t i = 0; i < blocks_.size(); ++i) {
      auto [next, projection] = (*blocks_[i])(h, i > 0);
      h = next;
      out.push_back(projection);
    }
    return out;
  }

 private:
  at::Tensor& norm_;
  std::vector<HedBlock*> blocks_;
};

// ---- line art: informative-drawings' Generator(3, 1, n_residual_blocks=3) (controlnet_aux/lineart)
at::Tensor instance_norm(const at::Tensor& x) {  // nn.InstanceNorm2d(C): no affine, no running stats, eps 1e-5
  return at::instance_norm(x, {}, {}, {}, {}, true, 0.1, 1e-5, false);
}

class Residual : public models::Container {
 public:
  explicit Residual(std::int64_t c) {
    auto& block = add("conv_block", std::make_unique<models::Container>());
    a_ = &block.add("1", std::make_unique<Conv>(c, c, 3, true));  // Sequential indices: pad, conv, norm, relu, pad, conv, norm
    b_ = &block.add("5", std::make_unique<Conv>(c, c, 3, true));
  }
  at::Tensor operator()(const at::Tensor& x) const {
    auto h = at::relu(instance_norm((*a_)(at::reflection_pad2d(x, {1, 1, 1, 1}))));
    return x + instance_norm((*b_)(at::reflection_pad2d(h, {1, 1, 1, 1})));
  }

 private:
  Conv *a_, *b_;
};

class Lineart : public Network {
 public:
  Lineart() {
    in_ = &add("model0", std::make_unique<models::Container>()).add("1", std::make_unique<Conv>(3, 64, 7, true));
    auto& m1 = add("model1", std::make_unique<models::Container>());
    down_[0] = &m1.add("0", std::make_unique<Conv>(64, 128, 3, true));
    down_[1] = &m1.add("3", std::make_unique<Conv>(128, 256, 3, true));
    auto& m2 = add("model2", std::make_unique<models::Container>());
    for (int i = 0; i < 3; ++i) res_.push_back(&m2.add(std::to_string(i), std::make_unique<Residual>(256)));
    auto& m3 = add("model3", std::make_unique<models::Container>());
    up_[0] = &m3.add("0", std::make_unique<ConvTranspose>(256, 128, 3, 2, 1, 1));
    up_[1] = &m3.add("3", std::make_unique<ConvTranspose>(128, 64, 3, 2, 1, 1));
    out_ = &add("model4", std::make_unique<models::Container>()).add("1", std::make_unique<Conv>(64, 1, 7, true));
  }
  std::vector<at::Tensor> forward(const at::Tensor& x) const override {
    auto h = at::relu(instance_norm((*in_)(at::reflection_pad2d(x, {3, 3, 3, 3}))));
    for (const auto* d : down_) h = at::relu(instance_norm((*d)(h, 2, 1)));
    for (const auto* r : res_) h = (*r)(h);
    for (const auto* u : up_) h = at::relu(instance_norm((*u)(h)));
    return {at::sigmoid((*out_)(at::reflection_pad2d(h, {3, 3, 3, 3})))};
  }

 private:
  Conv* in_;
  Conv* down_[2];
  std::vector<Residual*> res_;
  ConvTranspose* up_[2];
  Conv* out_;
};

// An [H, W] float tensor as a CV_32F Mat (a copy, on the CPU).
cv::Mat to_mat32(const at::Tensor& t) {
  auto c = t.to(at::kCPU, at::kFloat).contiguous();
  cv::Mat view(static_cast<int>(c.size(0)), static_cast<int>(c.size(1)), CV_32F, c.data_ptr<float>());
  return view.clone();
}

}  // namespace

std::unique_ptr<Network> make_network(const std::string& kind) {
  if (kind == "hed") return std::make_unique<Hed>();
  if (kind == "pidinet") return make_pidinet();
  if (kind == "lineart") return std::make_unique<Lineart>();
  if (kind == "lineart_anime") return make_lineart_anime();
  if (kind == "mlsd") return make_mlsd();
  fail(ErrorCode::Internal, "annotator", "no network '" + kind + "'");
}

std::shared_ptr<Network> load_network(const std::string& kind, const std::string& path, c10::Device device,
                                      const std::string& subject) {
  const auto ckpt = SafetensorsCheckpoint::open(path);
  const auto names = ckpt.names();
  TensorShapes shapes;
  for (const auto& n : names) shapes[n] = ckpt.info(n).shape;
  const std::string is = identify_annotator(shapes).kind;
  if (is != kind)
    fail(ErrorCode::ModelMismatch, path,
         "is " + describe_kind(is) + ", but " + subject + " needs " + describe_kind(kind));
  std::shared_ptr<Network> net = make_network(kind);
  models::LoadOptions o;
  o.device = device;
  // The original table5_pidinet.pth holds DataParallel's names (module.*); gen convert keeps them.
  if (!names.empty() && names.front().rfind("module.", 0) == 0) o.prefix = "module.";
  // BatchNorm2d's step counter (M-LSD): an integer the eval-mode network does not use.
  o.ignore = [](const std::string& n) {
    const std::string tail = ".num_batches_tracked";
    return n.size() > tail.size() && n.compare(n.size() - tail.size(), tail.size(), tail) == 0;
  };
  models::load_weights(*net, ckpt, o, path);
  return net;
}

at::Tensor network_input(const std::string& kind, const cv::Mat& rgb, c10::Device device) {
  if (kind == "lineart_anime") return lineart_anime_input(rgb, device);
  if (kind == "mlsd") return mlsd_input(rgb, device);
  cv::Mat m = rgb.isContinuous() ? rgb : rgb.clone();
  auto t = at::from_blob(m.data, {m.rows, m.cols, 3}, at::kByte).to(at::kFloat);
  if (kind == "pidinet") t = t.flip({2}).div(255.0);  // input_image[:, :, ::-1] / 255
  else if (kind == "lineart") t = t.div(255.0);
  return t.permute({2, 0, 1}).unsqueeze(0).contiguous().to(device);
}

cv::Mat network_map(const std::string& kind, const std::vector<at::Tensor>& outputs, cv::Size detect, bool safe) {
  if (kind == "lineart_anime") return lineart_anime_map(outputs.at(0), detect);
  cv::Mat edge;  // float, [0, 1] before the step to 8 bits
  if (kind == "hed") {
    // Each side output resized to the detect size (INTER_LINEAR, float32), their float32 mean
    // (numpy sums 5 values in order), the sigmoid in float64.
    cv::Mat sum;
    for (const auto& o : outputs) {
      cv::Mat e;
      cv::resize(to_mat32(o[0][0]), e, detect, 0, 0, cv::INTER_LINEAR);
      sum = sum.empty() ? e : sum + e;
    }
    sum /= static_cast<float>(outputs.size());
    sum.convertTo(edge, CV_64F);
    edge.forEach<double>([](double& v, const int*) { v = 1.0 / (1.0 + std::exp(-v)); });
  } else {
    edge = to_mat32(outputs.at(0)[0][0]);
  }
  if (safe) safe_step(edge);
  cv::Mat out(edge.size(), CV_8U);
  // (edge * 255.0).clip(0, 255).astype(np.uint8): truncation
  const auto to8 = [](double v) { return static_cast<std::uint8_t>(std::min(255.0, std::max(0.0, v))); };
  if (edge.depth() == CV_64F) {
    for (int y = 0; y < edge.rows; ++y)
      for (int x = 0; x < edge.cols; ++x) out.at<std::uint8_t>(y, x) = to8(edge.at<double>(y, x) * 255.0);
  } else {
    for (int y = 0; y < edge.rows; ++y)
      for (int x = 0; x < edge.cols; ++x)
        out.at<std::uint8_t>(y, x) = to8(static_cast<double>(edge.at<float>(y, x) * 255.0f));
  }
  return out;
}

}  // namespace gen::annotators
