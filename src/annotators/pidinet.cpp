// PiDiNet as controlnet_aux/pidi/model.py's pidinet(): carv4 (the pixel-difference convolutions
// cd, ad, rd, cv in turn), 60 channels, dil 24, sa; parameter names are the state dict's.
#include <ATen/ATen.h>

#include "annotators/net_layers.hpp"
#include "annotators/networks.hpp"

namespace gen::annotators {
namespace {

enum class Pdc { Cv, Cd, Ad, Rd };

// createConvFunc(op)(x, weights, padding=1) for a 3×3 weight (bias none, stride 1, dilation 1).
at::Tensor pdc_conv(const Conv& conv, Pdc op, const at::Tensor& x) {
  const at::Tensor& w = conv.weight();
  switch (op) {
    case Pdc::Cv: return conv(x, 1, 1);
    case Pdc::Cd: {  // conv(x, w) − conv(x, Σw) (central difference)
      const auto wc = w.sum({2, 3}, true);
      return conv(x, 1, 1) - conv(x, 1, 0, 1, wc);
    }
    case Pdc::Ad: {  // clockwise angular difference
      const auto s = w.sizes();
      const auto flat = w.view({s[0], s[1], 9});
      const auto perm = at::tensor(std::vector<std::int64_t>{3, 0, 1, 6, 4, 2, 7, 8, 5}, at::kLong).to(w.device());
      return conv(x, 1, 1, 1, (flat - flat.index_select(2, perm)).view(s));
    }
    case Pdc::Rd: {  // radial difference: a 5×5 kernel, padding 2
      const auto s = w.sizes();
      const auto flat = w.view({s[0], s[1], 9}).slice(2, 1);
      auto buffer = at::zeros({s[0], s[1], 25}, w.options());
      const auto outer = at::tensor(std::vector<std::int64_t>{0, 2, 4, 10, 14, 20, 22, 24}, at::kLong).to(w.device());
      const auto inner = at::tensor(std::vector<std::int64_t>{6, 7, 8, 11, 13, 16, 17, 18}, at::kLong).to(w.device());
      buffer.index_copy_(2, outer, flat);
      buffer.index_copy_(2, inner, -flat);
      return conv(x, 1, 2, 1, buffer.view({s[0], s[1], 5, 5}));
    }
  }
  return {};
}

class PdcBlock : public models::Container {
 public:
  PdcBlock(Pdc op, std::int64_t in, std::int64_t out, int stride) : op_(op), stride_(stride) {
    if (stride > 1) shortcut_ = &add("shortcut", std::make_unique<Conv>(in, out, 1, true));
    conv1_ = &add("conv1", std::make_unique<Conv>(in, in, 3, false, in));
    conv2_ = &add("conv2", std::make_unique<Conv>(in, out, 1, false));
  }
  at::Tensor operator()(at::Tensor x) const {
    if (stride_ > 1) x = at::max_pool2d(x, {2, 2}, {2, 2});
    auto y = (*conv2_)(at::relu(pdc_conv(*conv1_, op_, x)));
    if (stride_ > 1) x = (*shortcut_)(x);
    return y + x;
  }

 private:
  Pdc op_;
  int stride_;
  Conv *shortcut_ = nullptr, *conv1_, *conv2_;
};

class Cdcm : public models::Container {  // compact dilation convolution module
 public:
  Cdcm(std::int64_t in, std::int64_t out) {
    conv1_ = &add("conv1", std::make_unique<Conv>(in, out, 1, true));
    for (int i = 0; i < 4; ++i)
      conv2_.push_back(&add("conv2_" + std::to_string(i + 1), std::make_unique<Conv>(out, out, 3, false)));
  }
  at::Tensor operator()(const at::Tensor& x) const {
    const auto h = (*conv1_)(at::relu(x));
    const std::int64_t d[4] = {5, 7, 9, 11};
    at::Tensor sum;
    for (int i = 0; i < 4; ++i) {
      auto y = (*conv2_[i])(h, 1, d[i], d[i]);
      sum = i == 0 ? y : sum + y;
    }
    return sum;
  }

 private:
  Conv* conv1_;
  std::vector<Conv*> conv2_;
};

class Csam : public models::Container {  // compact spatial attention module
 public:
  explicit Csam(std::int64_t c) {
    conv1_ = &add("conv1", std::make_unique<Conv>(c, 4, 1, true));
    conv2_ = &add("conv2", std::make_unique<Conv>(4, 1, 3, false));
  }
  at::Tensor operator()(const at::Tensor& x) const {
    return x * at::sigmoid((*conv2_)((*conv1_)(at::relu(x)), 1, 1));
  }

 private:
  Conv *conv1_, *conv2_;
};

class PiDiNet : public Network {
 public:
  PiDiNet() {
    const Pdc carv4[4] = {Pdc::Cd, Pdc::Ad, Pdc::Rd, Pdc::Cv};  // layer i: carv4[i % 4]
    init_ = &add("init_block", std::make_unique<Conv>(3, 60, 3, false));
    const std::int64_t planes[4] = {60, 120, 240, 240};
    const int count[4] = {3, 4, 4, 4};
    int layer = 1;
    std::int64_t in = 60;
    for (int s = 0; s < 4; ++s) {
      for (int b = 0; b < count[s]; ++b, ++layer) {
        const bool first = b == 0 && s > 0;
        stages_[s].push_back(&add("block" + std::to_string(s + 1) + "_" + std::to_string(b + 1),
                                  std::make_unique<PdcBlock>(carv4[layer % 4], first ? in : planes[s], planes[s],
                                                             first ? 2 : 1)));
      }
      in = planes[s];
    }
    auto& dil = add("dilations", std::make_unique<models::Container>());
    auto& att = add("attentions", std::make_unique<models::Container>());
    auto& red = add("conv_reduces", std::make_unique<models::Container>());
    for (int i = 0; i < 4; ++i) {
      dilations_.push_back(&dil.add(std::to_string(i), std::make_unique<Cdcm>(planes[i], 24)));
      attentions_.push_back(&att.add(std::to_string(i), std::make_unique<Csam>(24)));
      reduces_.push_back(
          &red.add(std::to_string(i), std::make_unique<models::Container>()).add("conv", std::make_unique<Conv>(24, 1, 1, true)));
    }
    classifier_ = &add("classifier", std::make_unique<Conv>(4, 1, 1, true));
  }

  std::vector<at::Tensor> forward(const at::Tensor& input) const override {
    const auto H = input.size(2), W = input.size(3);
    auto x = pdc_conv(*init_, Pdc::Cd, input);
    std::vector<at::Tensor> edges;
    for (int s = 0; s < 4; ++s) {
      for (const auto* b : stages_[s]) x = (*b)(x);
      auto e = (*reduces_[s])((*attentions_[s])((*dilations_[s])(x)));
      edges.push_back(at::upsample_bilinear2d(e, {H, W}, false));
    }
    return {at::sigmoid((*classifier_)(at::cat(edges, 1)))};  // the fused map: outputs[-1]
  }

 private:
  Conv* init_;
  std::vector<PdcBlock*> stages_[4];
  std::vector<Cdcm*> dilations_;
  std::vector<Csam*> attentions_;
  std::vector<Conv*> reduces_;
  Conv* classifier_;
};

}  // namespace

std::unique_ptr<Network> make_pidinet() { return std::make_unique<PiDiNet>(); }

}  // namespace gen::annotators
