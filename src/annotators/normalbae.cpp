// NormalBAE's network (controlnet-aux 0.0.10 normalbae/nets: NNET, Encoder over gen-efficientnet's
// tf_efficientnet_b5_ap, Decoder in mode 'test') and NormalBaeDetector's steps around it; names
// = the original checkpoint keys.
#include "annotators/normalbae.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <array>
#include <filesystem>
#include <optional>

#include "annotators/annotator_files.hpp"
#include "annotators/net_layers.hpp"
#include "arch/classify.hpp"
#include "core/fail.hpp"
#include "models/loader.hpp"
#include "tensor/tensor_file.hpp"

namespace gen::annotators {

using models::Container;
using models::Module;
using Shapes = std::map<std::string, std::vector<std::int64_t>>;

namespace {

const std::string kEnc = "encoder.original_model.";
const std::string kDec = "decoder.";
// EfficientNet's stage strides (the first block of each stage; the arch string's s1/s2). The
// file has no trace of them; the decoder reads the outputs of stages 0, 1, 2 and 4 as its 1/2,
// 1/4, 1/8 and 1/16 skips.
constexpr std::array<std::int64_t, 7> kStageStride = {1, 2, 2, 2, 1, 2, 1};
constexpr double kEncoderEps = 1e-3;  // gen-efficientnet's BN_EPS_TF_DEFAULT

// gen-efficientnet's select_conv2d with pad_type 'same': a plain symmetric padding when the
// stride is 1 (odd kernels), else Conv2dSame's dynamic TF padding. No bias.
struct SameConv {
  Conv* conv;
  std::int64_t k, stride;
  SameConv(Module& parent, const std::string& name, std::int64_t in, std::int64_t out, std::int64_t k_,
           std::int64_t stride_, bool depthwise)
      : conv(&parent.add(name, std::make_unique<Conv>(in, out, k_, false, depthwise ? in : 1))), k(k_), stride(stride_) {}
  at::Tensor operator()(const at::Tensor& x) const {
    if (stride == 1) return (*conv)(x, 1, (k - 1) / 2);
    return (*conv)(pad_same(x, k, stride), stride, 0);
  }
};

// SqueezeExcite: mean over the image, conv_reduce (bias), SiLU, conv_expand (bias), sigmoid gate.
class SqueezeExcite : public Container {
 public:
  SqueezeExcite(std::int64_t channels, std::int64_t reduced)
      : reduce_(&add("conv_reduce", std::make_unique<Conv>(channels, reduced, 1, true))),
        expand_(&add("conv_expand", std::make_unique<Conv>(reduced, channels, 1, true))) {}
  at::Tensor operator()(const at::Tensor& x) const {
    const auto s = (*expand_)(at::silu((*reduce_)(x.mean({2, 3}, true))));
    return x * at::sigmoid(s);
  }

 private:
  Conv *reduce_, *expand_;
};

// DepthwiseSeparableConv (conv_dw, bn1, SiLU, se, conv_pw, bn2; no activation after) or
// InvertedResidual (conv_pw, bn1, SiLU, conv_dw, bn2, SiLU, se, conv_pwl, bn3); the input added
// when the stride is 1 and the widths agree. Drop-connect is training only.
class Block : public Container {
 public:
  explicit Block(const NormalBaeBlock& b) : cfg_(b) {
    if (b.inverted) {
      pw_.emplace(*this, "conv_pw", b.in, b.mid, 1, 1, false);
      bn1_ = &add("bn1", std::make_unique<BatchNorm>(b.mid, kEncoderEps));
      dw_.emplace(*this, "conv_dw", b.mid, b.mid, b.kernel, b.stride, true);
      bn2_ = &add("bn2", std::make_unique<BatchNorm>(b.mid, kEncoderEps));
      se_ = &add("se", std::make_unique<SqueezeExcite>(b.mid, b.se));
      pwl_.emplace(*this, "conv_pwl", b.mid, b.out, 1, 1, false);
      bn3_ = &add("bn3", std::make_unique<BatchNorm>(b.out, kEncoderEps));
    } else {
      dw_.emplace(*this, "conv_dw", b.in, b.in, b.kernel, b.stride, true);
      bn1_ = &add("bn1", std::make_unique<BatchNorm>(b.in, kEncoderEps));
      se_ = &add("se", std::make_unique<SqueezeExcite>(b.in, b.se));
      pw_.emplace(*this, "conv_pw", b.in, b.out, 1, 1, false);
      bn2_ = &add("bn2", std::make_unique<BatchNorm>(b.out, kEncoderEps));
    }
  }
  at::Tensor operator()(const at::Tensor& x) const {
    at::Tensor h;
    if (cfg_.inverted) {
      h = at::silu((*bn1_)((*pw_)(x)));
      h = at::silu((*bn2_)((*dw_)(h)));
      h = (*bn3_)((*pwl_)((*se_)(h)));
    } else {
      h = at::silu((*bn1_)((*dw_)(x)));
      h = (*bn2_)((*pw_)((*se_)(h)));
    }
    return cfg_.stride == 1 && cfg_.in == cfg_.out ? h + x : h;
  }

 private:
  NormalBaeBlock cfg_;
  std::optional<SameConv> pw_, dw_, pwl_;
  BatchNorm *bn1_ = nullptr, *bn2_ = nullptr, *bn3_ = nullptr;
  SqueezeExcite* se_ = nullptr;
};

// UpSampleBN: x resized (bilinear, align_corners) to the skip's size, concatenated with it,
// then _net = (conv3×3 + bias, BatchNorm, LeakyReLU(0.01)) × 2 at indices 0, 1, (2), 3, 4, (5).
class UpSample : public Container {
 public:
  UpSample(std::int64_t in, std::int64_t out) {
    auto& net = add("_net", std::make_unique<Container>());
    c0_ = &net.add("0", std::make_unique<Conv>(in, out, 3, true));
    b1_ = &net.add("1", std::make_unique<BatchNorm>(out));
    c3_ = &net.add("3", std::make_unique<Conv>(out, out, 3, true));
    b4_ = &net.add("4", std::make_unique<BatchNorm>(out));
  }
  at::Tensor operator()(const at::Tensor& x, const at::Tensor& skip) const {
    const auto up = at::upsample_bilinear2d(x, {skip.size(2), skip.size(3)}, true);
    auto h = at::leaky_relu((*b1_)((*c0_)(at::cat({up, skip}, 1), 1, 1)), 0.01);
    return at::leaky_relu((*b4_)((*c3_)(h, 1, 1)), 0.01);
  }

 private:
  Conv *c0_, *c3_;
  BatchNorm *b1_, *b4_;
};

// nn.Conv1d(in, out, kernel_size=1): weight [out, in, 1], bias [out].
class Conv1x1 : public Module {
 public:
  Conv1x1(std::int64_t in, std::int64_t out) : w_(param("weight", {out, in, 1})), b_(param("bias", {out})) {}
  at::Tensor operator()(const at::Tensor& x) const {
    return at::conv1d(x, models::as_operand(w_, x), models::as_operand(b_, x));
  }

 private:
  at::Tensor &w_, &b_;
};

// out_conv_resN: Conv1d, ReLU, Conv1d, ReLU, Conv1d, ReLU, Conv1d (indices 0, 2, 4, 6) over
// [B, C, H·W].
class PointHead : public Container {
 public:
  explicit PointHead(std::int64_t in) {
    const std::int64_t widths[] = {in, 128, 128, 128, 4};
    for (int i = 0; i < 4; ++i) layers_[i] = &add(std::to_string(2 * i), std::make_unique<Conv1x1>(widths[i], widths[i + 1]));
  }
  at::Tensor operator()(at::Tensor x) const {
    for (int i = 0; i < 4; ++i) x = i < 3 ? at::relu((*layers_[i])(x)) : (*layers_[i])(x);
    return x;
  }

 private:
  std::array<Conv1x1*, 4> layers_{};
};

// norm_normalize: (x, y, z) / (|(x, y, z)| + 1e-10), kappa = elu(kappa) + 1 + 0.01.
at::Tensor norm_normalize(const at::Tensor& out) {
  const auto parts = out.split(1, 1);
  const auto norm = at::sqrt(parts[0].pow(2.0) + parts[1].pow(2.0) + parts[2].pow(2.0)) + 1e-10;
  const auto kappa = at::elu(parts[3]) + 1.0 + 0.01;
  return at::cat({parts[0] / norm, parts[1] / norm, parts[2] / norm, kappa}, 1);
}

at::Tensor upsample2(const at::Tensor& x) {
  return at::upsample_bilinear2d(x, {x.size(2) * 2, x.size(3) * 2}, true);
}

}  // namespace

class NormalBaeNet : public Module {
 public:
  explicit NormalBaeNet(const NormalBaeConfig& c) {
    auto& enc = add("encoder", std::make_unique<Container>()).add("original_model", std::make_unique<Container>());
    stem_.emplace(enc, "conv_stem", 3, c.stem, 3, 2, false);
    bn1_ = &enc.add("bn1", std::make_unique<BatchNorm>(c.stem, kEncoderEps));
    auto& blocks = enc.add("blocks", std::make_unique<Container>());
    for (std::size_t s = 0; s < c.stages.size(); ++s) {
      auto& stage = blocks.add(std::to_string(s), std::make_unique<Container>());
      stages_.emplace_back();
      for (std::size_t b = 0; b < c.stages[s].size(); ++b)
        stages_.back().push_back(&stage.add(std::to_string(b), std::make_unique<Block>(c.stages[s][b])));
    }
    head_.emplace(enc, "conv_head", c.stages.back().back().out, c.head, 1, 1, false);
    enc.add("bn2", std::make_unique<BatchNorm>(c.head, kEncoderEps));  // in the file; the decoder reads conv_head's output
    auto& dec = add("decoder", std::make_unique<Container>());
    conv2_ = &dec.add("conv2", std::make_unique<Conv>(c.head, c.bottleneck, 1, true));
    const std::array<std::int64_t, 4> skips = {c.stages[4].back().out, c.stages[2].back().out, c.stages[1].back().out,
                                               c.stages[0].back().out};
    std::int64_t in = c.bottleneck;
    for (int i = 0; i < 4; ++i) {
      up_[i] = &dec.add("up" + std::to_string(i + 1), std::make_unique<UpSample>(in + skips[i], c.up[i]));
      in = c.up[i];
    }
    res8_ = &dec.add("out_conv_res8", std::make_unique<Conv>(c.up[1], 4, 3, true));
    res4_ = &dec.add("out_conv_res4", std::make_unique<PointHead>(c.up[1] + 4));
    res2_ = &dec.add("out_conv_res2", std::make_unique<PointHead>(c.up[2] + 4));
    res1_ = &dec.add("out_conv_res1", std::make_unique<PointHead>(c.up[3] + 4));
  }

  at::Tensor forward(const at::Tensor& x) const {
    // Encoder.forward's feature list: [x, conv_stem, bn1, act1, blocks 0-6, conv_head, ...];
    // the decoder takes features 4, 5, 6, 8 and 11.
    auto h = at::silu((*bn1_)((*stem_)(x)));
    std::array<at::Tensor, 7> stage_out;
    for (std::size_t s = 0; s < stages_.size(); ++s) {
      for (const auto* b : stages_[s]) h = (*b)(h);
      stage_out[s] = h;
    }
    const auto block4 = (*head_)(h);
    auto d = (*conv2_)(block4);
    d = (*up_[0])(d, stage_out[4]);
    const auto d2 = (*up_[1])(d, stage_out[2]);
    const auto d3 = (*up_[2])(d2, stage_out[1]);
    const auto d4 = (*up_[3])(d3, stage_out[0]);
    const auto res8 = norm_normalize((*res8_)(d2, 1, 1));
    const auto res4 = refine(*res4_, d2, res8);
    const auto res2 = refine(*res2_, d3, res4);
    return refine(*res1_, d4, res2);
  }

 private:
  // The decoder's 'test' branch: features and the previous prediction doubled (bilinear,
  // align_corners), concatenated, the point head on every pixel, normalised.
  static at::Tensor refine(const PointHead& head, const at::Tensor& features, const at::Tensor& previous) {
    const auto feat = at::cat({upsample2(features), upsample2(previous)}, 1);
    const auto b = feat.size(0), h = feat.size(2), w = feat.size(3);
    return norm_normalize(head(feat.view({b, feat.size(1), -1}))).view({b, 4, h, w});
  }

  std::optional<SameConv> stem_, head_;
  BatchNorm* bn1_;
  std::vector<std::vector<Block*>> stages_;
  Conv* conv2_;
  std::array<UpSample*, 4> up_{};
  Conv* res8_;
  PointHead *res4_, *res2_, *res1_;
};

namespace {

std::string looks_like(const Shapes& s) { return describe_other_file(s); }

}  // namespace

NormalBaeConfig infer_normalbae_config(const Shapes& s, const std::string& subject) {
  const AnnotatorFile f = identify_annotator(s);
  if (f.kind != "normalbae" || !f.prefix.empty())
    fail(ErrorCode::ModelMismatch, subject, "not a NormalBAE file (scannet.pt): it looks like " + looks_like(s));
  const auto bad = [&](const std::string& what) {
    fail(ErrorCode::ModelMismatch, subject, "not a NormalBAE file as scannet.pt is: " + what);
  };
  const auto shape = [&](const std::string& name, std::size_t dims) { return required_shape(s, name, dims, bad); };
  NormalBaeConfig c;
  const auto stem = shape(kEnc + "conv_stem.weight", 4);
  if (stem[1] != 3 || stem[2] != 3 || stem[3] != 3) bad("conv_stem.weight is not [C, 3, 3, 3]");
  c.stem = stem[0];
  std::int64_t in = c.stem;
  for (std::size_t st = 0; s.count(kEnc + "blocks." + std::to_string(st) + ".0.conv_dw.weight"); ++st) {
    if (st == kStageStride.size()) bad("more than 7 EfficientNet stages");
    c.stages.emplace_back();
    for (std::size_t i = 0;; ++i) {
      const std::string p = kEnc + "blocks." + std::to_string(st) + "." + std::to_string(i) + ".";
      if (!s.count(p + "conv_dw.weight")) break;
      NormalBaeBlock b;
      b.inverted = s.count(p + "conv_pwl.weight") != 0;
      b.in = in;
      const auto dw = shape(p + "conv_dw.weight", 4);
      b.kernel = dw[2];
      if (dw[1] != 1 || dw[3] != b.kernel || b.kernel % 2 == 0) bad(p + "conv_dw is not a depthwise k×k convolution, k odd");
      b.mid = dw[0];
      const auto pw = shape(p + "conv_pw.weight", 4);
      if (b.inverted) {
        if (pw[0] != b.mid || pw[1] != in) bad(p + "conv_pw does not take the block's input to conv_dw's width");
        b.out = shape(p + "conv_pwl.weight", 4)[0];
      } else {
        if (b.mid != in || pw[1] != in) bad(p + "conv_dw does not take the block's input");
        b.out = pw[0];
      }
      b.se = shape(p + "se.conv_reduce.weight", 4)[0];
      b.stride = i == 0 ? kStageStride[st] : 1;
      c.stages.back().push_back(b);
      in = b.out;
    }
  }
  if (c.stages.size() != kStageStride.size()) bad("not 7 EfficientNet stages");
  const auto head = shape(kEnc + "conv_head.weight", 4);
  if (head[1] != in) bad("conv_head does not take the last stage's output");
  c.head = head[0];
  const auto conv2 = shape(kDec + "conv2.weight", 4);
  if (conv2[1] != c.head) bad("decoder.conv2 does not take conv_head's output");
  c.bottleneck = conv2[0];
  const std::array<std::int64_t, 4> skips = {c.stages[4].back().out, c.stages[2].back().out, c.stages[1].back().out,
                                             c.stages[0].back().out};
  std::int64_t prev = c.bottleneck;
  for (int i = 0; i < 4; ++i) {
    const auto w = shape(kDec + "up" + std::to_string(i + 1) + "._net.0.weight", 4);
    if (w[1] != prev + skips[i]) bad("decoder.up" + std::to_string(i + 1) + " does not take the previous stage and its skip");
    c.up.push_back(w[0]);
    prev = w[0];
  }
  // The decoder's forward hard-codes these (its .view(B, 512 + 4, -1) and the like).
  if (c.up[1] != 512 || c.up[2] != 256 || c.up[3] != 128) bad("decoder.up2-up4 are not 512, 256 and 128 wide");
  if (shape(kDec + "out_conv_res1.0.weight", 3)[1] != c.up[3] + 4) bad("out_conv_res1 does not take up4's width + 4");
  return c;
}

NormalBae load_normalbae(const std::string& path, c10::Device device) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) fail(ErrorCode::NotFound, path, "no such NormalBAE file");
  auto file = read_tensor_file(path);
  // The original was saved from DataParallel: every name starts with "module." (controlnet-aux's
  // load_checkpoint strips it; gen convert keeps it).
  std::string prefix;
  if (!file.tensors.empty() && file.tensors.begin()->first.rfind("module.", 0) == 0) prefix = "module.";
  Shapes shapes;
  for (const auto& [n, t] : file.tensors)
    shapes[n.rfind(prefix, 0) == 0 ? n.substr(prefix.size()) : n] = t.sizes().vec();
  NormalBae m;
  m.path = path;
  m.device = device;
  m.config = infer_normalbae_config(shapes, path);
  m.net = std::make_shared<NormalBaeNet>(m.config);
  models::LoadOptions opt;
  opt.device = device;
  opt.prefix = prefix;
  opt.ignore = [](const std::string& n) {  // BatchNorm's step counters: not read in eval mode
    const std::string tail = ".num_batches_tracked";
    return n.size() > tail.size() && n.compare(n.size() - tail.size(), tail.size(), tail) == 0;
  };
  models::load_weights(*m.net, file.tensors, opt, path);
  return m;
}

at::Tensor normalbae_forward(const NormalBae& model, const at::Tensor& x) {
  if (x.dim() != 4 || x.size(1) != 3 || x.size(2) % 32 != 0 || x.size(3) % 32 != 0 || x.size(2) == 0 || x.size(3) == 0)
    fail(ErrorCode::InvalidArgument, "normal_bae", "the network input must be [B, 3, H, W] with H and W multiples of 32");
  return model.net->forward(x);
}

at::Tensor normalbae_input(const Image& rgb, c10::Device device) {
  if (rgb.bit_depth != 8 || rgb.channels != 3 || rgb.data8.size() != rgb.sample_count())
    fail(ErrorCode::InvalidArgument, "normal_bae", "the image must be 8-bit RGB");
  auto t = at::from_blob(const_cast<std::uint8_t*>(rgb.data8.data()), {rgb.height, rgb.width, 3}, at::kByte)
               .to(at::kFloat)
               .div(255.0);
  t = t.permute({2, 0, 1}).unsqueeze(0);
  // torchvision's Normalize: sub_(mean).div_(std), float32 tensors of ImageNet's statistics.
  const auto mean = at::tensor({0.485f, 0.456f, 0.406f}).view({1, 3, 1, 1});
  const auto std = at::tensor({0.229f, 0.224f, 0.225f}).view({1, 3, 1, 1});
  return ((t - mean) / std).contiguous().to(device);
}

Image normalbae_map(const at::Tensor& out_res1) {
  auto n = out_res1[0].slice(0, 0, 3).to(at::kCPU, at::kFloat);
  n = ((n + 1.0) * 0.5).clamp(0.0, 1.0);
  const auto v = (n.permute({1, 2, 0}) * 255.0).clamp(0.0, 255.0).to(at::kByte).contiguous();  // astype(uint8)
  auto out = Image::make(static_cast<int>(v.size(1)), static_cast<int>(v.size(0)), 3);
  std::copy(v.data_ptr<std::uint8_t>(), v.data_ptr<std::uint8_t>() + v.numel(), out.data8.begin());
  return out;
}

Image normalbae_detect(const NormalBae& model, const Image& rgb) {
  if (rgb.width % 32 != 0 || rgb.height % 32 != 0 || rgb.width == 0 || rgb.height == 0)
    fail(ErrorCode::InvalidArgument, "normal_bae",
         "the image is " + std::to_string(rgb.width) + "×" + std::to_string(rgb.height) +
             ": NormalBAE needs sides that are multiples of 32 (the detect resolution's sizes are)");
  const auto x = normalbae_input(rgb, model.device);
  c10::InferenceMode inference;
  return normalbae_map(normalbae_forward(model, x));
}

}  // namespace gen::annotators
