#include "annotators/mlsd.hpp"

#include <ATen/ATen.h>
#include <opencv2/imgproc.hpp>

#include <cmath>

#include "annotators/net_layers.hpp"

namespace gen::annotators {

namespace {

// A Sequential of (Conv2d, BatchNorm2d[, activation]) at `parent`.`name`: "0" the conv, "1" the norm.
struct ConvBn {
  Conv* conv;
  BatchNorm* bn;
  ConvBn(models::Module& parent, const std::string& name, std::int64_t in, std::int64_t out, std::int64_t k, bool bias,
         std::int64_t groups = 1) {
    auto& seq = parent.add(name, std::make_unique<models::Container>());
    conv = &seq.add("0", std::make_unique<Conv>(in, out, k, bias, groups));
    bn = &seq.add("1", std::make_unique<BatchNorm>(out));
  }
  at::Tensor operator()(const at::Tensor& x, std::int64_t stride = 1, std::int64_t padding = 0,
                        std::int64_t dilation = 1) const {
    return (*bn)((*conv)(x, stride, padding, dilation));
  }
};

at::Tensor clamp6(const at::Tensor& x) { return at::hardtanh(x, 0.0, 6.0); }

// ConvBNReLU (ReLU6); stride 2 pads right and bottom by one (TFLite's padding), padding 0.
struct ConvBnRelu6 {
  ConvBn cb;
  std::int64_t k, stride;
  ConvBnRelu6(models::Module& parent, const std::string& name, std::int64_t in, std::int64_t out, std::int64_t k_,
              std::int64_t stride_, std::int64_t groups)
      : cb(parent, name, in, out, k_, false, groups), k(k_), stride(stride_) {}
  at::Tensor operator()(at::Tensor x) const {
    if (stride == 2) x = at::constant_pad_nd(x, {0, 1, 0, 1}, 0);
    return clamp6(cb(x, stride, stride == 2 ? 0 : (k - 1) / 2));
  }
};

class InvertedResidual : public models::Container {
 public:
  InvertedResidual(std::int64_t in, std::int64_t out, std::int64_t stride, std::int64_t expand)
      : residual_(stride == 1 && in == out) {
    const std::int64_t hidden = in * expand;
    auto& conv = add("conv", std::make_unique<models::Container>());
    int i = 0;
    if (expand != 1) layers_.emplace_back(conv, std::to_string(i++), in, hidden, 1, 1, 1);
    layers_.emplace_back(conv, std::to_string(i++), hidden, hidden, 3, stride, hidden);  // depthwise
    project_ = &conv.add(std::to_string(i++), std::make_unique<Conv>(hidden, out, 1, false));
    bn_ = &conv.add(std::to_string(i), std::make_unique<BatchNorm>(out));
  }
  at::Tensor operator()(const at::Tensor& x) const {
    at::Tensor h = x;
    for (const auto& l : layers_) h = l(h);
    h = (*bn_)((*project_)(h));
    return residual_ ? x + h : h;
  }

 private:
  bool residual_;
  std::vector<ConvBnRelu6> layers_;
  Conv* project_;
  BatchNorm* bn_;
};

// BlockTypeA: 1×1 conv-BN-ReLU of both inputs, the coarse one (b) bilinearly ×2 (align_corners).
class BlockA : public models::Container {
 public:
  BlockA(std::int64_t in_a, std::int64_t in_b, std::int64_t out_a, std::int64_t out_b, bool upscale)
      : conv1_(*this, "conv1", in_b, out_b, 1, true), conv2_(*this, "conv2", in_a, out_a, 1, true), upscale_(upscale) {}
  at::Tensor operator()(const at::Tensor& a, const at::Tensor& b) const {
    at::Tensor bb = at::relu(conv1_(b));
    const at::Tensor aa = at::relu(conv2_(a));
    if (upscale_) bb = at::upsample_bilinear2d(bb, {bb.size(2) * 2, bb.size(3) * 2}, true);
    return at::cat({aa, bb}, 1);
  }

 private:
  ConvBn conv1_, conv2_;
  bool upscale_;
};

class BlockB : public models::Container {
 public:
  BlockB(std::int64_t in, std::int64_t out) : conv1_(*this, "conv1", in, in, 3, true), conv2_(*this, "conv2", in, out, 3, true) {}
  at::Tensor operator()(const at::Tensor& x) const {
    const at::Tensor h = at::relu(conv1_(x, 1, 1)) + x;
    return at::relu(conv2_(h, 1, 1));
  }

 private:
  ConvBn conv1_, conv2_;
};

class BlockC : public models::Container {
 public:
  BlockC(std::int64_t in, std::int64_t out)
      : conv1_(*this, "conv1", in, in, 3, true), conv2_(*this, "conv2", in, in, 3, true),
        conv3_(&add("conv3", std::make_unique<Conv>(in, out, 1, true))) {}
  at::Tensor operator()(const at::Tensor& x) const {
    const at::Tensor h = at::relu(conv2_(at::relu(conv1_(x, 1, 5, 5)), 1, 1));
    return (*conv3_)(h);
  }

 private:
  ConvBn conv1_, conv2_;
  Conv* conv3_;
};

class Mlsd : public Network {
 public:
  Mlsd() {
    auto& features = add("backbone", std::make_unique<models::Container>()).add("features", std::make_unique<models::Container>());
    first_ = std::make_unique<ConvBnRelu6>(features, "0", 4, 32, 3, 2, 1);
    // MobileNetV2's (expand t, channels c, repeats n, stride s), cut after the 96-channel stage.
    const int setting[5][4] = {{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2}, {6, 96, 3, 1}};
    std::int64_t in = 32;
    int index = 1;
    for (const auto& s : setting)
      for (int i = 0; i < s[2]; ++i, ++index) {
        blocks_.push_back(&features.add(std::to_string(index), std::make_unique<InvertedResidual>(in, s[1], i == 0 ? s[3] : 1, s[0])));
        in = s[1];
      }
    b15_ = &add("block15", std::make_unique<BlockA>(64, 96, 64, 64, false));
    b16_ = &add("block16", std::make_unique<BlockB>(128, 64));
    b17_ = &add("block17", std::make_unique<BlockA>(32, 64, 64, 64, true));
    b18_ = &add("block18", std::make_unique<BlockB>(128, 64));
    b19_ = &add("block19", std::make_unique<BlockA>(24, 64, 64, 64, true));
    b20_ = &add("block20", std::make_unique<BlockB>(128, 64));
    b21_ = &add("block21", std::make_unique<BlockA>(16, 64, 64, 64, true));
    b22_ = &add("block22", std::make_unique<BlockB>(128, 64));
    b23_ = &add("block23", std::make_unique<BlockC>(64, 16));
  }
  // [1, 9, H/2, W/2]: the head's channels 7-15 (centre, 4 displacements, 4 unused).
  std::vector<at::Tensor> forward(const at::Tensor& x) const override {
    at::Tensor h = (*first_)(x);
    std::vector<at::Tensor> c;  // features 1, 3, 6, 10, 13
    for (std::size_t i = 0; i < blocks_.size(); ++i) {
      h = (*blocks_[i])(h);
      if (i + 1 == 1 || i + 1 == 3 || i + 1 == 6 || i + 1 == 10 || i + 1 == 13) c.push_back(h);
    }
    h = (*b16_)((*b15_)(c[3], c[4]));
    h = (*b18_)((*b17_)(c[2], h));
    h = (*b20_)((*b19_)(c[1], h));
    h = (*b22_)((*b21_)(c[0], h));
    return {(*b23_)(h).slice(1, 7)};
  }

 private:
  std::unique_ptr<ConvBnRelu6> first_;
  std::vector<InvertedResidual*> blocks_;
  BlockA *b15_, *b17_, *b19_, *b21_;
  BlockB *b16_, *b18_, *b20_, *b22_;
  BlockC* b23_;
};

}  // namespace

std::unique_ptr<Network> make_mlsd() { return std::make_unique<Mlsd>(); }

at::Tensor mlsd_input(const cv::Mat& rgb, c10::Device device) {
  float lut[256];
  for (int v = 0; v < 256; ++v) lut[v] = static_cast<float>(v) / 127.5f - 1.0f;
  const float one = 1.0f / 127.5f - 1.0f;
  at::Tensor t = at::empty({1, 4, rgb.rows, rgb.cols}, at::kFloat);
  float* p = t.data_ptr<float>();
  const std::size_t plane = static_cast<std::size_t>(rgb.rows) * rgb.cols;
  for (int y = 0; y < rgb.rows; ++y) {
    const auto* row = rgb.ptr<std::uint8_t>(y);
    for (int x = 0; x < rgb.cols; ++x) {
      const std::size_t i = static_cast<std::size_t>(y) * rgb.cols + x;
      for (int ch = 0; ch < 3; ++ch) p[ch * plane + i] = lut[row[3 * x + ch]];
      p[3 * plane + i] = one;
    }
  }
  return t.to(device);
}

std::vector<MlsdLine> mlsd_lines(const at::Tensor& output, double score_thr, double distance_thr) {
  const std::int64_t h = output.size(2), w = output.size(3), topk = 200;
  if (h * w < topk) return {};
  // deccode_output_score_and_ptss(output, 200, 3), on the output's device as the reference
  at::Tensor heat = at::sigmoid(output.select(1, 0));  // [1, h, w]
  const at::Tensor hmax = at::max_pool2d(heat, {3, 3}, {1, 1}, {1, 1});
  heat = heat * hmax.eq(heat).to(heat.scalar_type());
  auto [scores, indices] = at::topk(heat.reshape({-1}), topk, -1, true);
  scores = scores.to(at::kCPU, at::kFloat).contiguous();
  indices = indices.to(at::kCPU).contiguous();
  const at::Tensor disp = output[0].slice(0, 1, 5).to(at::kCPU, at::kFloat).contiguous();  // [4, h, w]
  const float* d = disp.data_ptr<float>();
  const float* s = scores.data_ptr<float>();
  const std::int64_t* idx = indices.data_ptr<std::int64_t>();
  const float st = static_cast<float>(score_thr), dt = static_cast<float>(distance_thr);
  const std::size_t plane = static_cast<std::size_t>(h * w);
  std::vector<MlsdLine> lines;
  for (std::int64_t k = 0; k < topk; ++k) {
    const std::int64_t y = idx[k] / w, x = idx[k] % w;
    const std::size_t i = static_cast<std::size_t>(idx[k]);
    const float xs = d[i], ys = d[plane + i], xe = d[2 * plane + i], ye = d[3 * plane + i];
    // np.sqrt(np.sum((start - end) ** 2, axis=-1)) in float32, each step rounded
    const float dx = xs - xe, dy = ys - ye;
    const float dx2 = dx * dx, dy2 = dy * dy;
    const float sum = dx2 + dy2;
    const float distance = std::sqrt(sum);
    if (!(s[k] > st && distance > dt)) continue;
    // x + displacement in float64 (int64 + float32), then 2 * (the 256 > 512 step); the
    // detector's ratio is 1 (input_shape is the image's own size).
    lines.push_back({2.0 * (static_cast<double>(x) + xs), 2.0 * (static_cast<double>(y) + ys),
                     2.0 * (static_cast<double>(x) + xe), 2.0 * (static_cast<double>(y) + ye)});
  }
  return lines;
}

cv::Mat mlsd_draw(const std::vector<MlsdLine>& lines, cv::Size size) {
  cv::Mat out = cv::Mat::zeros(size, CV_8U);
  const auto fits = [](double v) { return std::isfinite(v) && std::trunc(v) >= -2147483648.0 && std::trunc(v) <= 2147483647.0; };
  for (const auto& l : lines) {
    if (!fits(l.x0) || !fits(l.y0) || !fits(l.x1) || !fits(l.y1)) break;
    cv::line(out, cv::Point(static_cast<int>(l.x0), static_cast<int>(l.y0)),
             cv::Point(static_cast<int>(l.x1), static_cast<int>(l.y1)), cv::Scalar(255), 1, cv::LINE_8);
  }
  return out;
}

}  // namespace gen::annotators
