// Depth Anything V2's network: DINOv2 + DPT head, names = the original checkpoint keys.
#include "annotators/depth_anything.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <filesystem>
#include <set>
#include <sstream>

#include "annotators/annotator_files.hpp"
#include "annotators/dpt_blocks.hpp"
#include "annotators/net_layers.hpp"
#include "arch/classify.hpp"
#include "core/fail.hpp"
#include "tensor/tensor_file.hpp"

namespace gen::annotators {

using models::Container;
using models::Conv2d;
using models::LayerNorm;
using models::Module;

namespace {

// ---- DINOv2 (depth_anything_v2/dinov2.py: blocks with LayerScale; dpt_blocks.hpp)

class DinoV2 : public Module {
 public:
  explicit DinoV2(const DepthAnythingConfig& c)
      : cfg_(c),
        cls_(param("cls_token", {1, 1, c.embed_dim})),
        pos_(param("pos_embed", {1, 1 + c.grid * c.grid, c.embed_dim})) {
    param("mask_token", {1, c.embed_dim});  // masked pre-training only; loaded, unused
    patch_ = &add("patch_embed", std::make_unique<Container>())
                  .add("proj", std::make_unique<Conv2d>(3, c.embed_dim, c.patch, c.patch));
    auto& blocks = add("blocks", std::make_unique<Container>());
    for (std::int64_t i = 0; i < c.depth; ++i)
      blocks_.push_back(&blocks.add(std::to_string(i), std::make_unique<VitBlock>(c.embed_dim, c.mlp_hidden, c.heads, true)));
    norm_ = &add("norm", std::make_unique<LayerNorm>(c.embed_dim, 1e-6));
  }

  // get_intermediate_layers(x, layers, return_class_token=True) with norm: the patch tokens
  // [B, N, C] of each chosen block after the final norm (the class tokens are not used by the
  // V2 head: use_clstoken=False).
  std::vector<at::Tensor> features(const at::Tensor& x, PosEmbedResize mode) const {
    auto t = (*patch_)(x);
    const auto b = t.size(0), gh = t.size(2), gw = t.size(3);
    t = t.flatten(2).transpose(1, 2);
    t = at::cat({models::as_operand(cls_, t).expand({b, -1, -1}), t}, 1);
    t = t + position_embeddings(gh, gw, mode, t);
    std::vector<at::Tensor> out;
    for (std::int64_t i = 0; i < cfg_.depth; ++i) {
      t = (*blocks_[i])(t);
      for (auto l : cfg_.layers)
        if (l == i) out.push_back((*norm_)(t).slice(1, 1));
    }
    return out;
  }

 private:
  at::Tensor position_embeddings(std::int64_t gh, std::int64_t gw, PosEmbedResize mode, const at::Tensor& like) const {
    auto pos = models::as_operand(pos_, like);
    const auto m = cfg_.grid;
    if (gh * gw == m * m && gh == gw) return pos;
    auto cls = pos.slice(1, 0, 1);
    auto grid = pos.slice(1, 1).reshape({1, m, m, cfg_.embed_dim}).permute({0, 3, 1, 2}).to(at::kFloat);
    at::Tensor r;
    if (mode == PosEmbedResize::Original) {
      const std::vector<double> scales{(static_cast<double>(gh) + 0.1) / static_cast<double>(m),
                                       (static_cast<double>(gw) + 0.1) / static_cast<double>(m)};
      r = at::upsample_bicubic2d(grid, std::nullopt, false, at::ArrayRef<double>(scales));
    } else {
      r = at::upsample_bicubic2d(grid, at::IntArrayRef{gh, gw}, false);
    }
    if (r.size(2) != gh || r.size(3) != gw)
      fail(ErrorCode::Internal, "depth anything", "position embeddings resized to the wrong grid");
    r = r.to(like.scalar_type()).permute({0, 2, 3, 1}).reshape({1, gh * gw, cfg_.embed_dim});
    return at::cat({cls, r}, 1);
  }

  DepthAnythingConfig cfg_;
  at::Tensor& cls_;
  at::Tensor& pos_;
  Conv2d* patch_;
  std::vector<VitBlock*> blocks_;
  LayerNorm* norm_;
};

}  // namespace

class DepthAnythingNet : public Module {
 public:
  explicit DepthAnythingNet(const DepthAnythingConfig& c) : cfg_(c) {
    dino_ = &add("pretrained", std::make_unique<DinoV2>(c));
    auto& head = add("depth_head", std::make_unique<Container>());
    auto& projects = head.add("projects", std::make_unique<Container>());
    auto& resize = head.add("resize_layers", std::make_unique<Container>());
    auto& scratch = head.add("scratch", std::make_unique<Container>());
    for (int i = 0; i < 4; ++i) {
      const auto n = c.neck[i];
      projects_[i] = &projects.add(std::to_string(i), std::make_unique<Conv2d>(c.embed_dim, n, 1));
      rn_[i] = &scratch.add("layer" + std::to_string(i + 1) + "_rn",
                            std::make_unique<Conv2d>(n, c.features, 3, 1, 1, false));
    }
    up4_ = &resize.add("0", std::make_unique<ConvTranspose>(c.neck[0], c.neck[0], 4, 4, 0, 0));
    up2_ = &resize.add("1", std::make_unique<ConvTranspose>(c.neck[1], c.neck[1], 2, 2, 0, 0));
    down2_ = &resize.add("3", std::make_unique<Conv2d>(c.neck[3], c.neck[3], 3, 2, 1));  // "2" is Identity
    for (int i = 0; i < 4; ++i)
      refine_[i] = &scratch.add("refinenet" + std::to_string(i + 1), std::make_unique<FeatureFusionBlock>(c.features));
    out1_ = &scratch.add("output_conv1", std::make_unique<Conv2d>(c.features, c.features / 2, 3, 1, 1));
    auto& out2 = scratch.add("output_conv2", std::make_unique<Container>());
    out2a_ = &out2.add("0", std::make_unique<Conv2d>(c.features / 2, c.head_hidden, 3, 1, 1));
    out2b_ = &out2.add("2", std::make_unique<Conv2d>(c.head_hidden, 1, 1));
  }

  at::Tensor forward(const at::Tensor& x, PosEmbedResize mode) const {
    const auto ph = x.size(2) / cfg_.patch, pw = x.size(3) / cfg_.patch;
    auto feats = dino_->features(x, mode);
    std::array<at::Tensor, 4> l;
    for (int i = 0; i < 4; ++i) {
      auto f = feats[i].transpose(1, 2).reshape({x.size(0), cfg_.embed_dim, ph, pw});
      f = (*projects_[i])(f);
      if (i == 0) f = (*up4_)(f);
      if (i == 1) f = (*up2_)(f);
      if (i == 3) f = (*down2_)(f);
      l[i] = (*rn_[i])(f);
    }
    auto size = [](const at::Tensor& t) { return std::vector<std::int64_t>{t.size(2), t.size(3)}; };
    auto p = (*refine_[3])(l[3], at::Tensor(), size(l[2]));
    p = (*refine_[2])(p, l[2], size(l[1]));
    p = (*refine_[1])(p, l[1], size(l[0]));
    p = (*refine_[0])(p, l[0], {});
    auto out = at::upsample_bilinear2d((*out1_)(p), {ph * cfg_.patch, pw * cfg_.patch}, true);
    out = at::relu((*out2b_)(at::relu((*out2a_)(out))));
    return out.squeeze(1);
  }

 private:
  DepthAnythingConfig cfg_;
  DinoV2* dino_;
  std::array<Conv2d*, 4> projects_{}, rn_{};
  ConvTranspose *up4_, *up2_;
  Conv2d* down2_;
  std::array<FeatureFusionBlock*, 4> refine_{};
  Conv2d *out1_, *out2a_, *out2b_;
};

namespace {

using Shapes = std::map<std::string, std::vector<std::int64_t>>;

// What a file that is not Depth Anything V2 looks like, for the message.
std::string looks_like(const Shapes& s) {
  auto has_prefix = [&](const std::string& p) {
    auto it = s.lower_bound(p);
    return it != s.end() && it->first.compare(0, p.size(), p) == 0;
  };
  if (has_prefix("pretrained.model.") && has_prefix("scratch.")) return "a MiDaS / DPT depth model (dpt_hybrid)";
  if (has_prefix("pretrained.blocks.") && !has_prefix("depth_head."))
    return "a DINOv2 backbone without the Depth Anything head";
  return describe_other_file(s, "depth_anything", "Depth Anything V2");
}

std::vector<std::int64_t> shape_of(const Shapes& s, const std::string& name, const std::string& subject) {
  auto it = s.find(name);
  if (it == s.end()) fail(ErrorCode::ModelMismatch, subject, "Depth Anything V2 file without " + name);
  return it->second;
}

}  // namespace

std::string depth_anything_variant(const Shapes& s) {
  const AnnotatorFile f = identify_annotator(s);
  return f.kind == "depth_anything" && f.prefix.empty() ? f.variant : "";
}

DepthAnythingConfig infer_depth_anything_config(const Shapes& s, const std::string& subject) {
  DepthAnythingConfig c;
  c.variant = depth_anything_variant(s);
  if (c.variant.empty())
    fail(ErrorCode::ModelMismatch, subject, "not a Depth Anything V2 file: it looks like " + looks_like(s));
  const auto bad = [&](const std::string& what) {
    fail(ErrorCode::ModelMismatch, subject, "not a Depth Anything V2 file as the original repo saves it: " + what);
  };
  const auto pe = shape_of(s, "pretrained.patch_embed.proj.weight", subject);
  if (pe.size() != 4 || pe[1] != 3 || pe[2] != pe[3] || pe[2] < 1) bad("patch_embed.proj.weight is not [C, 3, P, P]");
  c.embed_dim = pe[0];
  c.patch = pe[2];
  c.heads = c.embed_dim >= 64 ? c.embed_dim / 64 : 1;
  if (c.embed_dim % c.heads != 0) bad("width not a multiple of 64");
  while (s.count("pretrained.blocks." + std::to_string(c.depth) + ".attn.qkv.weight")) ++c.depth;
  if (c.depth < 4) bad("fewer than 4 transformer blocks");
  const auto fc1 = shape_of(s, "pretrained.blocks.0.mlp.fc1.weight", subject);
  if (fc1.size() != 2) bad("blocks.0.mlp.fc1.weight is not a matrix");
  c.mlp_hidden = fc1[0];
  const auto pos = shape_of(s, "pretrained.pos_embed", subject);
  if (pos.size() != 3 || pos[1] < 2) bad("pos_embed is not [1, 1 + N, C]");
  c.grid = static_cast<std::int64_t>(std::llround(std::sqrt(static_cast<double>(pos[1] - 1))));
  if (c.grid * c.grid != pos[1] - 1) bad("pos_embed's patches are not a square grid");
  // dpt.py's intermediate_layer_idx per encoder; other depths: the last block of each quarter.
  if (c.depth == 12) c.layers = {2, 5, 8, 11};
  else if (c.depth == 24) c.layers = {4, 11, 17, 23};
  else if (c.depth == 40) c.layers = {9, 19, 29, 39};
  else c.layers = {c.depth / 4 - 1, c.depth / 2 - 1, 3 * c.depth / 4 - 1, c.depth - 1};
  for (int i = 0; i < 4; ++i) {
    const auto p = shape_of(s, "depth_head.projects." + std::to_string(i) + ".weight", subject);
    if (p.size() != 4) bad("depth_head.projects are not convolutions");
    c.neck[i] = p[0];
  }
  const auto rn = shape_of(s, "depth_head.scratch.layer1_rn.weight", subject);
  if (rn.size() != 4) bad("scratch.layer1_rn is not a convolution");
  c.features = rn[0];
  const auto o2 = shape_of(s, "depth_head.scratch.output_conv2.0.weight", subject);
  if (o2.size() != 4) bad("scratch.output_conv2.0 is not a convolution");
  c.head_hidden = o2[0];
  if (c.features < 2) bad("fusion width under 2");
  return c;
}

DepthAnything load_depth_anything(const std::string& path, c10::Device device) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) fail(ErrorCode::NotFound, path, "no such Depth Anything file");
  auto file = read_tensor_file(path);
  // Original files sometimes hold the weights under `module.` (DataParallel): not the V2 releases.
  Shapes shapes;
  for (const auto& [n, t] : file.tensors) shapes[n] = t.sizes().vec();
  const bool transformers = identify_annotator(shapes).layout == "transformers";
  if (transformers) {  // a -hf repository's model.safetensors
    file.tensors = depth_anything_from_transformers(file.tensors, path);
    shapes.clear();
    for (const auto& [n, t] : file.tensors) shapes[n] = t.sizes().vec();
  }
  DepthAnything m;
  m.path = path;
  m.device = device;
  m.config = infer_depth_anything_config(shapes, path);
  m.net = std::make_shared<DepthAnythingNet>(m.config);
  // Each parameter by its name (the keys are the parameter names): missing, mis-shaped and
  // unexpected tensors are listed together, as models::load_weights does for safetensors.
  std::vector<std::string> missing, misshaped;
  std::set<std::string> used;
  m.net->visit([&](const std::string& name, Module::Param& p) {
    auto it = file.tensors.find(name);
    if (it == file.tensors.end()) return missing.push_back(name);
    used.insert(name);
    if (it->second.sizes().vec() != p.shape || !it->second.is_floating_point())
      return misshaped.push_back(name);
    p.value = it->second.to(device, at::kFloat).contiguous();
  });
  std::vector<std::string> unexpected;
  for (const auto& [n, t] : file.tensors)
    if (!used.count(n)) unexpected.push_back(n);
  if (!missing.empty() || !misshaped.empty() || !unexpected.empty()) {
    std::ostringstream o;
    o << "tensors do not match Depth Anything V2 " << m.config.variant
      << (transformers ? " (a transformers -hf file, named here by the original names it maps to)" : "");
    auto list = [&](const char* what, const std::vector<std::string>& v) {
      if (v.empty()) return;
      o << "; " << v.size() << ' ' << what << ": ";
      for (std::size_t i = 0; i < v.size() && i < 6; ++i) o << (i ? ", " : "") << v[i];
      if (v.size() > 6) o << ", …";
    };
    list("missing", missing);
    list("mis-shaped or not floating point", misshaped);
    list("unexpected", unexpected);
    fail(ErrorCode::ModelMismatch, path, o.str());
  }
  return m;
}

at::Tensor depth_anything_forward(const DepthAnything& model, const at::Tensor& x) {
  return model.net->forward(x, model.pos_embed);
}

}  // namespace gen::annotators
