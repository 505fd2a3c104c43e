#include "upscalers/esrgan_net.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <filesystem>

#include "arch/classify.hpp"
#include "core/fail.hpp"
#include "core/named_file.hpp"
#include "core/file_cache.hpp"
#include "models/loader.hpp"
#include "tensor/tensor_file.hpp"

namespace gen::upscalers {

using models::Container;
using models::Conv2d;

EsrganNet::EsrganNet(const EsrganConfig& c) : cfg_(c) {
  // model.0, model.1.sub.<i>.RDB<k>.conv<j>.0, model.1.sub.<nb>, model.<3u>, model.<3n+2>, model.<3n+4>
  auto& model = add("model", std::make_unique<Container>());
  first_ = &model.add("0", std::make_unique<Conv2d>(c.in_nc, c.nf, 3, 1, 1));
  auto& sub = model.add("1", std::make_unique<Container>()).add("sub", std::make_unique<Container>());
  for (std::int64_t i = 0; i < c.nb; ++i) {
    auto& block = sub.add(std::to_string(i), std::make_unique<Container>());
    for (int k = 1; k <= 3; ++k) {
      auto& rdb = block.add("RDB" + std::to_string(k), std::make_unique<Container>());
      Dense d;
      for (int j = 0; j < 5; ++j) {
        const std::int64_t in = c.nf + j * c.gc, out = j == 4 ? c.nf : c.gc;
        d.conv[j] = &rdb.add("conv" + std::to_string(j + 1), std::make_unique<Container>())
                         .add("0", std::make_unique<Conv2d>(in, out, 3, 1, 1));
      }
      if (c.plus) d.conv1x1 = &rdb.add("conv1x1", std::make_unique<Conv2d>(c.nf, c.gc, 1, 1, 0, false));
      dense_.push_back(d);
    }
  }
  trunk_ = &sub.add(std::to_string(c.nb), std::make_unique<Conv2d>(c.nf, c.nf, 3, 1, 1));
  for (int u = 1; u <= c.upsamples; ++u)
    ups_.push_back(&model.add(std::to_string(3 * u), std::make_unique<Conv2d>(c.nf, c.nf, 3, 1, 1)));
  hr_ = &model.add(std::to_string(3 * c.upsamples + 2), std::make_unique<Conv2d>(c.nf, c.nf, 3, 1, 1));
  last_ = &model.add(std::to_string(3 * c.upsamples + 4), std::make_unique<Conv2d>(c.nf, c.out_nc, 3, 1, 1));
}

namespace {
at::Tensor lrelu(const at::Tensor& x) { return at::leaky_relu(x, 0.2); }
}  // namespace

// ResidualDenseBlock_5C: five convs, each seeing the input and every output before it.
at::Tensor EsrganNet::dense(const Dense& d, const at::Tensor& x) const {
  auto x1 = lrelu((*d.conv[0])(x));
  auto x2 = lrelu((*d.conv[1])(at::cat({x, x1}, 1)));
  if (d.conv1x1) x2 = x2 + (*d.conv1x1)(x);
  auto x3 = lrelu((*d.conv[2])(at::cat({x, x1, x2}, 1)));
  auto x4 = lrelu((*d.conv[3])(at::cat({x, x1, x2, x3}, 1)));
  if (d.conv1x1) x4 = x4 + x2;
  auto x5 = (*d.conv[4])(at::cat({x, x1, x2, x3, x4}, 1));
  return x5 * 0.2 + x;
}

at::Tensor EsrganNet::forward(const at::Tensor& input) const {
  at::Tensor x = input;
  const auto h = input.size(2), w = input.size(3);
  if (cfg_.shuffle) {  // Real-ESRGAN x2 / x1: reflect-pad to a multiple, then pixel-unshuffle
    const std::int64_t f = cfg_.shuffle, ph = (f - h % f) % f, pw = (f - w % f) % f;
    if (ph || pw) x = at::reflection_pad2d(x, {0, pw, 0, ph});
    x = at::pixel_unshuffle(x, f);
  }
  const auto fea = (*first_)(x);
  auto t = fea;
  for (std::size_t b = 0; b < dense_.size(); b += 3) {  // RRDB: three dense blocks, scaled residual
    auto r = dense(dense_[b + 2], dense(dense_[b + 1], dense(dense_[b], t)));
    t = r * 0.2 + t;
  }
  auto y = fea + (*trunk_)(t);
  for (const auto* up : ups_) y = lrelu((*up)(at::upsample_nearest2d(y, {y.size(2) * 2, y.size(3) * 2})));
  y = (*last_)(lrelu((*hr_)(y)));
  if (cfg_.shuffle) y = y.slice(2, 0, h * cfg_.scale()).slice(3, 0, w * cfg_.scale());
  return y;
}

UpscalerModel load_upscaler(const std::string& path, at::ScalarType dtype, c10::Device device) {
  const TensorFile file = read_tensor_file(path);
  ShapeMap shapes;
  for (const auto& [name, t] : file.tensors) shapes.emplace(name, t.sizes().vec());
  if (!looks_like_esrgan(shapes)) {
    std::vector<NamedShape> named;
    for (const auto& [name, s] : shapes) named.push_back({name, s});
    const ModelReport r = classify(named);
    fail(ErrorCode::ModelMismatch, path,
         "not an ESRGAN-family upscaler (RRDBNet): this file holds " +
             (r.kind == ModelKind::Unknown ? std::to_string(shapes.size()) + " tensors with no layout gen recognises"
                                           : r.summary));
  }
  const EsrganConfig config = infer_esrgan(shapes, path);
  UpscalerModel m;
  m.path = path;
  m.net = std::make_unique<EsrganNet>(config);
  models::LoadOptions opt;
  opt.prefix = config.prefix;
  opt.dtype = dtype;
  opt.device = device;
  if (config.layout != EsrganLayout::Old)
    opt.rename = [config](const std::string& n) { return esrgan_name(config, n); };
  // A file with both params_ema and params: the EMA weights are the net (spandrel's choice).
  models::load_weights(*m.net, file.tensors, opt, path);
  return m;
}

std::string find_upscaler_file(const std::string& name, const std::string& dir, const std::string& subject) {
  return core::find_named_file(name, dir, {".pth", ".safetensors", ".pt"}, "upscaler",
                               "--upscaler-dir or $GEN_UPSCALER_DIR", subject);
}

const EsrganNet& UpscalerCache::get(const std::string& path, at::ScalarType dtype, c10::Device device) {
  const std::string key = core::file_identity(path) + "|" + device.str() + "|" + c10::toString(dtype);
  for (auto it = items_.begin(); it != items_.end(); ++it)
    if (it->first == key) {
      items_.splice(items_.begin(), items_, it);
      return *items_.front().second->net;
    }
  auto m = std::make_shared<UpscalerModel>(load_upscaler(path, dtype, device));
  items_.emplace_front(key, m);
  while (items_.size() > capacity_) items_.pop_back();
  return *m->net;
}

}  // namespace gen::upscalers
