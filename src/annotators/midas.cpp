// MiDaS DPT-Hybrid's network: timm's ViT-hybrid (ResNetV2 stem + ViT) and the DPT head of
// controlnet-aux's midas/dpt_depth.py, names = the original checkpoint keys.
#include "annotators/midas.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <filesystem>
#include <limits>

#include "annotators/annotator_files.hpp"
#include "annotators/dpt_blocks.hpp"
#include "annotators/net_layers.hpp"
#include "arch/classify.hpp"
#include "core/fail.hpp"
#include "models/loader.hpp"
#include "tensor/tensor_file.hpp"

namespace gen::annotators {

using models::Container;
using models::Conv2d;
using models::GroupNorm;
using models::LayerNorm;
using models::Linear;
using models::Module;
using Shapes = std::map<std::string, std::vector<std::int64_t>>;

namespace {

const std::string kViT = "pretrained.model.";
const std::string kResNet = "pretrained.model.patch_embed.backbone.";

// timm's StdConv2dSame (eps 1e-8, no bias): the weight standardised per output channel (biased
// variance), then a convolution with "same" padding (static when stride 1 and k odd).
class StdConv : public Module {
 public:
  StdConv(std::int64_t in, std::int64_t out, std::int64_t k, std::int64_t stride)
      : w_(param("weight", {out, in, k, k})), k_(k), stride_(stride) {}
  at::Tensor operator()(const at::Tensor& x) const {
    const auto w = models::as_operand(w_, x);
    const auto flat = w.reshape({w.size(0), -1});
    const auto var = flat.var(1, /*unbiased=*/false, /*keepdim=*/true);
    const auto ws = ((flat - flat.mean(1, true)) / (var + 1e-8).sqrt()).reshape_as(w);
    if (stride_ == 1 && k_ % 2 == 1) return at::conv2d(x, ws, {}, 1, (k_ - 1) / 2);
    return at::conv2d(pad_same(x, k_, stride_), ws, {}, stride_);
  }

 private:
  at::Tensor& w_;
  std::int64_t k_, stride_;
};

// timm's GroupNormAct: GroupNorm(32, eps 1e-5), ReLU when `act`.
at::Tensor norm_act(const GroupNorm& n, const at::Tensor& x, bool act) { return act ? at::relu(n(x)) : n(x); }

// timm resnetv2's non-pre-activation Bottleneck.
class Bottleneck : public Module {
 public:
  Bottleneck(std::int64_t in, std::int64_t mid, std::int64_t out, std::int64_t stride, bool downsample) {
    if (downsample) {
      auto& d = add("downsample", std::make_unique<Container>());
      down_conv_ = &d.add("conv", std::make_unique<StdConv>(in, out, 1, stride));
      down_norm_ = &d.add("norm", std::make_unique<GroupNorm>(32, out, 1e-5));
    }
    conv1_ = &add("conv1", std::make_unique<StdConv>(in, mid, 1, 1));
    norm1_ = &add("norm1", std::make_unique<GroupNorm>(32, mid, 1e-5));
    conv2_ = &add("conv2", std::make_unique<StdConv>(mid, mid, 3, stride));
    norm2_ = &add("norm2", std::make_unique<GroupNorm>(32, mid, 1e-5));
    conv3_ = &add("conv3", std::make_unique<StdConv>(mid, out, 1, 1));
    norm3_ = &add("norm3", std::make_unique<GroupNorm>(32, out, 1e-5));
  }
  at::Tensor operator()(const at::Tensor& x) const {
    const auto shortcut = down_conv_ ? norm_act(*down_norm_, (*down_conv_)(x), false) : x;
    auto h = norm_act(*norm1_, (*conv1_)(x), true);
    h = norm_act(*norm2_, (*conv2_)(h), true);
    h = norm_act(*norm3_, (*conv3_)(h), false);
    return at::relu(h + shortcut);
  }

 private:
  StdConv *down_conv_ = nullptr, *conv1_, *conv2_, *conv3_;
  GroupNorm *down_norm_ = nullptr, *norm1_, *norm2_, *norm3_;
};

// The ViT with its hybrid patch embedding (timm VisionTransformer + HybridEmbed + ResNetV2).
class VitHybrid : public Module {
 public:
  explicit VitHybrid(const MidasConfig& c, const std::vector<bool>& downsample)
      : cfg_(c), cls_(param("cls_token", {1, 1, c.embed_dim})), pos_(param("pos_embed", {1, 1 + c.grid * c.grid, c.embed_dim})) {
    auto& embed = add("patch_embed", std::make_unique<Container>());
    auto& backbone = embed.add("backbone", std::make_unique<Container>());
    auto& stem = backbone.add("stem", std::make_unique<Container>());
    stem_conv_ = &stem.add("conv", std::make_unique<StdConv>(3, c.stem, 7, 2));
    stem_norm_ = &stem.add("norm", std::make_unique<GroupNorm>(32, c.stem, 1e-5));
    auto& stages = backbone.add("stages", std::make_unique<Container>());
    std::int64_t in = c.stem;
    for (std::size_t s = 0; s < c.stage_blocks.size(); ++s) {
      auto& blocks = stages.add(std::to_string(s), std::make_unique<Container>()).add("blocks", std::make_unique<Container>());
      stages_.emplace_back();
      for (std::int64_t b = 0; b < c.stage_blocks[s]; ++b) {
        const std::int64_t stride = b == 0 && s > 0 ? 2 : 1;
        stages_.back().push_back(&blocks.add(std::to_string(b), std::make_unique<Bottleneck>(
            in, c.stage_width[s] / 4, c.stage_width[s], stride, b == 0 && downsample[s])));
        in = c.stage_width[s];
      }
    }
    proj_ = &embed.add("proj", std::make_unique<Conv2d>(in, c.embed_dim, 1));
    auto& blocks = add("blocks", std::make_unique<Container>());
    for (std::int64_t i = 0; i < c.depth; ++i)
      blocks_.push_back(&blocks.add(std::to_string(i), std::make_unique<VitBlock>(c.embed_dim, c.mlp_hidden, c.heads, false)));
    add("norm", std::make_unique<LayerNorm>(c.embed_dim, 1e-6));  // after the last block: loaded, unused by DPT
  }

  // The four hooked activations: ResNet stages 0 and 1 ([B, C, H/4, W/4], [B, C, H/8, W/8]) and
  // the tokens [B, 1 + N, C] after ViT blocks 8 and 11 (before the final norm).
  std::array<at::Tensor, 4> features(const at::Tensor& x) const {
    const auto gh = x.size(2) / 16, gw = x.size(3) / 16;
    auto h = norm_act(*stem_norm_, (*stem_conv_)(x), true);
    h = at::max_pool2d(pad_same(h, 3, 2, -std::numeric_limits<double>::infinity()), {3, 3}, {2, 2});
    std::array<at::Tensor, 4> out;
    for (std::size_t s = 0; s < stages_.size(); ++s) {
      for (const auto* b : stages_[s]) h = (*b)(h);
      if (s < 2) out[s] = h;
    }
    auto t = (*proj_)(h).flatten(2).transpose(1, 2);
    t = at::cat({models::as_operand(cls_, t).expand({t.size(0), -1, -1}), t}, 1);
    t = t + position_embeddings(gh, gw, t);
    for (std::int64_t i = 0; i < cfg_.depth; ++i) {
      t = (*blocks_[i])(t);
      if (i == 8) out[2] = t;
      if (i == 11) out[3] = t;
    }
    return out;
  }

 private:
  // vit.py _resize_pos_embed: the grid bilinear (align_corners=False) to the input's patches.
  at::Tensor position_embeddings(std::int64_t gh, std::int64_t gw, const at::Tensor& like) const {
    const auto pos = models::as_operand(pos_, like);
    const auto m = cfg_.grid;
    auto grid = pos.slice(1, 1).reshape({1, m, m, cfg_.embed_dim}).permute({0, 3, 1, 2});
    grid = at::upsample_bilinear2d(grid, {gh, gw}, false).permute({0, 2, 3, 1}).reshape({1, gh * gw, cfg_.embed_dim});
    return at::cat({pos.slice(1, 0, 1), grid}, 1);
  }

  MidasConfig cfg_;
  at::Tensor& cls_;
  at::Tensor& pos_;
  StdConv* stem_conv_;
  GroupNorm* stem_norm_;
  std::vector<std::vector<Bottleneck*>> stages_;
  Conv2d* proj_;
  std::vector<VitBlock*> blocks_;
};

}  // namespace

class MidasNet : public Module {
 public:
  MidasNet(const MidasConfig& c, const std::vector<bool>& downsample) : cfg_(c) {
    auto& pre = add("pretrained", std::make_unique<Container>());
    vit_ = &pre.add("model", std::make_unique<VitHybrid>(c, downsample));
    for (int i = 0; i < 2; ++i) {  // act_postprocess3 / 4: ProjectReadout (0), Transpose, Unflatten, 1×1 conv (3)
      auto& pp = pre.add("act_postprocess" + std::to_string(i + 3), std::make_unique<Container>());
      readout_[i] = &pp.add("0", std::make_unique<Container>()).add("project", std::make_unique<Container>())
                         .add("0", std::make_unique<Linear>(2 * c.embed_dim, c.embed_dim));
      post_[i] = &pp.add("3", std::make_unique<Conv2d>(c.embed_dim, c.neck[2 + i], 1));
      if (i == 1) down_ = &pp.add("4", std::make_unique<Conv2d>(c.neck[3], c.neck[3], 3, 2, 1));
    }
    auto& scratch = add("scratch", std::make_unique<Container>());
    for (int i = 0; i < 4; ++i)
      rn_[i] = &scratch.add("layer" + std::to_string(i + 1) + "_rn", std::make_unique<Conv2d>(c.neck[i], c.features, 3, 1, 1, false));
    for (int i = 0; i < 4; ++i)
      refine_[i] = &scratch.add("refinenet" + std::to_string(i + 1), std::make_unique<FeatureFusionBlock>(c.features));
    auto& head = scratch.add("output_conv", std::make_unique<Container>());
    head0_ = &head.add("0", std::make_unique<Conv2d>(c.features, c.features / 2, 3, 1, 1));
    head2_ = &head.add("2", std::make_unique<Conv2d>(c.features / 2, c.head_hidden, 3, 1, 1));
    head4_ = &head.add("4", std::make_unique<Conv2d>(c.head_hidden, 1, 1));
  }

  at::Tensor forward(const at::Tensor& x) const {
    const auto gh = x.size(2) / 16, gw = x.size(3) / 16;
    auto f = vit_->features(x);
    std::array<at::Tensor, 4> l;
    l[0] = f[0];
    l[1] = f[1];
    for (int i = 0; i < 2; ++i) {  // ProjectReadout: [tokens, class token] → Linear → GELU; to a grid
      const auto& t = f[2 + i];
      const auto tokens = t.slice(1, 1);
      auto r = at::gelu((*readout_[i])(at::cat({tokens, t.slice(1, 0, 1).expand_as(tokens)}, -1)));
      r = r.transpose(1, 2).reshape({x.size(0), cfg_.embed_dim, gh, gw});
      l[2 + i] = (*post_[i])(r);
    }
    l[3] = (*down_)(l[3]);
    for (int i = 0; i < 4; ++i) l[i] = (*rn_[i])(l[i]);
    auto p = (*refine_[3])(l[3], at::Tensor(), {});
    p = (*refine_[2])(p, l[2], {});
    p = (*refine_[1])(p, l[1], {});
    p = (*refine_[0])(p, l[0], {});
    auto out = (*head0_)(p);
    out = at::upsample_bilinear2d(out, {out.size(2) * 2, out.size(3) * 2}, true);
    out = at::relu((*head4_)(at::relu((*head2_)(out))));  // non_negative
    return out.squeeze(1);
  }

 private:
  MidasConfig cfg_;
  VitHybrid* vit_;
  std::array<Linear*, 2> readout_{};
  std::array<Conv2d*, 2> post_{};
  Conv2d* down_ = nullptr;
  std::array<Conv2d*, 4> rn_{};
  std::array<FeatureFusionBlock*, 4> refine_{};
  Conv2d *head0_, *head2_, *head4_;
};

namespace {

std::string looks_like(const Shapes& s) {
  if (s.count(kViT + "patch_embed.proj.weight") && s.count("scratch.output_conv.4.weight"))
    return "MiDaS DPT-Large or another DPT without the ResNet stem (gen runs DPT-Hybrid, dpt_hybrid-midas-501f0c75)";
  return describe_other_file(s, "midas", "MiDaS");
}

}  // namespace

bool is_midas_hybrid(const Shapes& s) {
  const AnnotatorFile f = identify_annotator(s);
  return f.kind == "midas" && f.prefix.empty();
}

MidasConfig infer_midas_config(const Shapes& s, const std::string& subject) {
  if (!is_midas_hybrid(s)) fail(ErrorCode::ModelMismatch, subject, "not a MiDaS DPT-Hybrid file: it looks like " + looks_like(s));
  const auto bad = [&](const std::string& what) {
    fail(ErrorCode::ModelMismatch, subject, "not a MiDaS DPT-Hybrid file as dpt_hybrid-midas-501f0c75.pt is: " + what);
  };
  const auto shape = [&](const std::string& name, std::size_t dims) { return required_shape(s, name, dims, bad); };
  MidasConfig c;
  const auto stem = shape(kResNet + "stem.conv.weight", 4);
  if (stem[1] != 3 || stem[2] != 7 || stem[3] != 7) bad("stem.conv.weight is not [C, 3, 7, 7]");
  c.stem = stem[0];
  for (std::size_t st = 0; s.count(kResNet + "stages." + std::to_string(st) + ".blocks.0.conv1.weight"); ++st) {
    const std::string p = kResNet + "stages." + std::to_string(st) + ".blocks.";
    std::int64_t n = 0;
    while (s.count(p + std::to_string(n) + ".conv1.weight")) ++n;
    c.stage_blocks.push_back(n);
    c.stage_width.push_back(shape(p + "0.conv3.weight", 4)[0]);
    if (shape(p + "0.conv1.weight", 4)[0] * 4 != c.stage_width.back()) bad("a ResNet stage whose bottleneck is not a quarter wide");
  }
  if (c.stage_blocks.size() < 2) bad("fewer than 2 ResNet stages");
  for (std::int64_t w : c.stage_width)
    if (w % 128 != 0) bad("ResNet stage widths must be multiples of 128 (GroupNorm of 32 groups on a quarter)");
  if (c.stem % 32 != 0) bad("the stem's width is not a multiple of 32");
  const auto proj = shape(kViT + "patch_embed.proj.weight", 4);
  c.embed_dim = proj[0];
  if (proj[1] != c.stage_width.back() || proj[2] != 1) bad("patch_embed.proj is not a 1×1 convolution of the last stage");
  c.heads = c.embed_dim >= 64 ? c.embed_dim / 64 : 1;
  if (c.embed_dim % c.heads != 0) bad("ViT width not a multiple of 64");
  while (s.count(kViT + "blocks." + std::to_string(c.depth) + ".attn.qkv.weight")) ++c.depth;
  if (c.depth < 12) bad("fewer than 12 ViT blocks (the head reads blocks 8 and 11)");
  c.mlp_hidden = shape(kViT + "blocks.0.mlp.fc1.weight", 2)[0];
  const auto pos = shape(kViT + "pos_embed", 3);
  c.grid = static_cast<std::int64_t>(std::llround(std::sqrt(static_cast<double>(pos[1] - 1))));
  if (pos[1] < 2 || c.grid * c.grid != pos[1] - 1) bad("pos_embed's patches are not a square grid");
  for (int i = 0; i < 4; ++i) c.neck[i] = shape("scratch.layer" + std::to_string(i + 1) + "_rn.weight", 4)[1];
  if (c.neck[0] != c.stage_width[0] || c.neck[1] != c.stage_width[1]) bad("scratch.layer1_rn / layer2_rn do not read ResNet stages 0 and 1");
  c.features = shape("scratch.layer1_rn.weight", 4)[0];
  if (c.features < 2) bad("fusion width under 2");
  c.head_hidden = shape("scratch.output_conv.2.weight", 4)[0];
  return c;
}

Midas load_midas(const std::string& path, c10::Device device) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) fail(ErrorCode::NotFound, path, "no such MiDaS file");
  auto file = read_tensor_file(path);
  Shapes shapes;
  for (const auto& [n, t] : file.tensors) shapes[n] = t.sizes().vec();
  Midas m;
  m.path = path;
  m.device = device;
  m.config = infer_midas_config(shapes, path);
  std::vector<bool> downsample;
  for (std::size_t st = 0; st < m.config.stage_blocks.size(); ++st)
    downsample.push_back(shapes.count(kResNet + "stages." + std::to_string(st) + ".blocks.0.downsample.conv.weight") != 0);
  m.net = std::make_shared<MidasNet>(m.config, downsample);
  models::LoadOptions opt;
  opt.device = device;
  // timm's ImageNet classifier (head.weight / head.bias) rides along in the file; DPT never uses it.
  opt.ignore = [](const std::string& n) { return n.rfind(kViT + "head.", 0) == 0; };
  models::load_weights(*m.net, file.tensors, opt, path);
  return m;
}

at::Tensor midas_forward(const Midas& model, const at::Tensor& x) {
  if (x.dim() != 4 || x.size(1) != 3 || x.size(2) % 32 != 0 || x.size(3) % 32 != 0 || x.size(2) == 0 || x.size(3) == 0)
    fail(ErrorCode::InvalidArgument, "midas", "the network input must be [B, 3, H, W] with H and W multiples of 32");
  return model.net->forward(x);
}

}  // namespace gen::annotators
