#include "control/t2i_adapter.hpp"

#include <ATen/ATen.h>

#include <filesystem>

#include "arch/classify.hpp"
#include "core/fail.hpp"
#include "core/json.hpp"
#include "models/loader.hpp"
#include "tensor/tensor_file.hpp"

namespace gen::control {

using models::Container;
using models::Conv2d;

T2IAdapter::T2IAdapter(const T2IAdapterConfig& config) : cfg_(config) {
  const auto& ch = cfg_.channels;
  const auto f = cfg_.downscale;
  const auto unshuffled = cfg_.in_channels * f * f;
  auto& body = add("body", std::make_unique<Container>());
  const auto str = [](std::size_t v) { return std::to_string(v); };
  if (cfg_.kind == T2IKind::Light) {
    for (std::size_t i = 0; i < ch.size(); ++i) {
      Level l;
      l.pool = cfg_.pooled(i);
      const auto in = i == 0 ? unshuffled : ch[i - 1], mid = ch[i] / 4;
      auto& e = body.add(str(i), std::make_unique<Container>());
      l.in_conv = &e.add("in_conv", std::make_unique<Conv2d>(in, mid, 1));
      auto& rbs = e.add("body", std::make_unique<Container>());
      for (std::int64_t j = 0; j < cfg_.num_res_blocks; ++j) {
        auto& rb = rbs.add(str(j), std::make_unique<Container>());
        l.blocks.push_back({nullptr, &rb.add("block1", std::make_unique<Conv2d>(mid, mid, 3, 1, 1)),
                            &rb.add("block2", std::make_unique<Conv2d>(mid, mid, 3, 1, 1))});
      }
      l.out_conv = &e.add("out_conv", std::make_unique<Conv2d>(mid, ch[i], 1));
      levels_.push_back(std::move(l));
    }
    return;
  }
  conv_in_ = &add("conv_in", std::make_unique<Conv2d>(unshuffled, ch[0], 3, 1, 1));
  std::size_t k = 0;
  for (std::size_t i = 0; i < ch.size(); ++i) {
    Level l;
    l.pool = cfg_.pooled(i);
    // full: level i takes level i−1's channels; full_xl as diffusers' FullAdapterXL builds it.
    const auto in = i == 0 ? ch[0] : cfg_.kind == T2IKind::FullXL && i == 3 ? ch[3] : ch[i - 1];
    for (std::int64_t j = 0; j < cfg_.num_res_blocks; ++j, ++k) {
      auto& rb = body.add(str(k), std::make_unique<Container>());
      Block b;
      if (j == 0 && in != ch[i]) b.in_conv = &rb.add("in_conv", std::make_unique<Conv2d>(in, ch[i], 1));
      b.block1 = &rb.add("block1", std::make_unique<Conv2d>(ch[i], ch[i], 3, 1, 1));
      b.block2 = &rb.add("block2", std::make_unique<Conv2d>(ch[i], ch[i], 1));
      l.blocks.push_back(b);
    }
    levels_.push_back(std::move(l));
  }
}

std::vector<at::Tensor> T2IAdapter::forward(const at::Tensor& x) const {
  auto h = at::pixel_unshuffle(x, cfg_.downscale);
  if (conv_in_) h = (*conv_in_)(h);
  std::vector<at::Tensor> features;
  for (const auto& l : levels_) {
    // diffusers: AvgPool2d(2, 2, ceil_mode=True) (the original's has no ceil_mode: the same on even sizes)
    if (l.pool) h = at::avg_pool2d(h, {2, 2}, {2, 2}, {0, 0}, /*ceil_mode=*/true);
    if (l.in_conv) h = (*l.in_conv)(h);
    for (const auto& b : l.blocks) {
      if (b.in_conv) h = (*b.in_conv)(h);
      h = (*b.block2)(at::relu((*b.block1)(h))) + h;
    }
    if (l.out_conv) h = (*l.out_conv)(h);
    features.push_back(h);
  }
  return features;
}

namespace {

struct Read {
  T2IAdapterFile file;
  TensorFile tensors;
};

Read read_adapter(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  Read r;
  std::string adapter_type;
  std::int64_t downscale = 0;
  r.file.weights = path;
  if (fs::is_directory(path, ec)) {  // a diffusers T2IAdapter folder
    const auto cfg_path = (fs::path(path) / "config.json").string();
    if (!fs::is_regular_file(cfg_path, ec))
      fail(ErrorCode::NotFound, path, "a folder without config.json: not a diffusers T2IAdapter folder");
    const auto cfg = core::read_json_file(cfg_path, core::kMaxConfigFile, "adapter config");
    if (cfg.value("_class_name", "") != "T2IAdapter")
      fail(ErrorCode::ModelMismatch, path,
           "config.json names " + core::json_excerpt(cfg.value("_class_name", nlohmann::json("nothing"))) +
               ", not T2IAdapter (a --control folder? a pipeline's?)");
    if (cfg.contains("adapter_type") && cfg["adapter_type"].is_string()) adapter_type = cfg["adapter_type"].get<std::string>();
    if (cfg.contains("downscale_factor") && cfg["downscale_factor"].is_number_integer())
      downscale = cfg["downscale_factor"].get<std::int64_t>();
    if (downscale < 0 || downscale > 64)
      fail(ErrorCode::InvalidFormat, cfg_path, "downscale_factor " + std::to_string(downscale) + " (1-64)");
    r.file.weights.clear();
    for (const char* name : {"diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin"})
      if (fs::is_regular_file(fs::path(path) / name, ec)) {
        r.file.weights = (fs::path(path) / name).string();
        break;
      }
    if (r.file.weights.empty())
      fail(ErrorCode::NotFound, path, "no diffusion_pytorch_model.safetensors (or .bin) in this T2IAdapter folder");
  } else if (!fs::exists(path, ec)) {
    fail(ErrorCode::NotFound, path, "no such file or folder");
  }
  r.tensors = read_tensor_file(r.file.weights);
  ShapeMap shapes;
  for (const auto& [name, t] : r.tensors.tensors) shapes.emplace(name, t.sizes().vec());
  if (!looks_like_t2i_adapter(shapes)) {
    std::vector<NamedShape> named;
    for (const auto& [name, s] : shapes) named.push_back({name, s});
    const ModelReport m = classify(named);
    fail(ErrorCode::ModelMismatch, r.file.weights,
         "not a T2I-Adapter: this file holds " +
             (m.kind == ModelKind::Unknown ? std::to_string(shapes.size()) + " tensors with no layout gen recognises"
                                           : m.summary) +
             (m.kind == ModelKind::ControlNet ? " (give it with --control)" : ""));
  }
  r.file.config = infer_t2i_adapter(shapes, r.file.weights, adapter_type, downscale);
  return r;
}

}  // namespace

T2IAdapterFile describe_t2i_adapter(const std::string& path) { return read_adapter(path).file; }

std::unique_ptr<T2IAdapter> load_t2i_adapter(const std::string& path, at::ScalarType dtype, c10::Device device) {
  const Read r = read_adapter(path);
  const auto& c = r.file.config;
  auto net = std::make_unique<T2IAdapter>(c);
  models::LoadOptions opt;
  opt.prefix = c.prefix;
  opt.dtype = dtype;
  opt.device = device;
  if (c.layout != T2ILayout::Original) opt.rename = [c](const std::string& n) { return t2i_adapter_name(c, n); };
  models::load_weights(*net, r.tensors.tensors, opt, r.file.weights);
  return net;
}

}  // namespace gen::control
