// gen — lineart_anime: controlnet-aux 0.0.10's LineartAnimeDetector (netG.pth, Anime2Sketch's
// generator): UnetGenerator(3, 1, num_downs 8, ngf 64, InstanceNorm2d without affine, so every
// convolution has a bias), module names = the file's keys (model.model.1.model.3. ...). Each
// inner block's LeakyReLU(0.2) is in place in the original, so its skip connection carries
// leaky_relu(x) (the parent's ReLU follows, so relu(x) either way); the outermost block has no
// activation before its first convolution.
// The detector's steps: the picture resized (INTER_CUBIC) to multiples of 256, v / 127.5 − 1;
// the tanh output · 127.5 + 127.5 resized (INTER_CUBIC, float) back, clipped, truncated to 8
// bits (255 − map comes after the final resize, annotators.cpp).
#include <ATen/ATen.h>
#include <opencv2/imgproc.hpp>

#include <cmath>

#include "annotators/net_layers.hpp"
#include "annotators/networks.hpp"

namespace gen::annotators {

namespace {

at::Tensor instance_norm(const at::Tensor& x) {  // InstanceNorm2d(C): no affine, no running stats, eps 1e-5
  return at::instance_norm(x, {}, {}, {}, {}, true, 0.1, 1e-5, false);
}

// UnetSkipConnectionBlock: its nn.Sequential `model` holds, by index,
//   outermost [0 downconv, 1 submodule, 2 ReLU, 3 upconv, 4 Tanh]
//   innermost [0 LeakyReLU, 1 downconv, 2 ReLU, 3 upconv, 4 norm]
//   otherwise [0 LeakyReLU, 1 downconv, 2 norm, 3 submodule, 4 ReLU, 5 upconv, 6 norm]
class UnetBlock : public models::Container {
 public:
  enum Where { kOutermost, kInnermost, kMiddle };
  UnetBlock(std::int64_t outer, std::int64_t inner, std::int64_t input, std::unique_ptr<UnetBlock> sub, Where where)
      : where_(where) {
    auto& model = add("model", std::make_unique<models::Container>());
    down_ = &model.add(where == kOutermost ? "0" : "1", std::make_unique<Conv>(input, inner, 4, true));
    if (sub) sub_ = &model.add(where == kOutermost ? "1" : "3", std::move(sub));
    up_ = &model.add(where == kMiddle ? "5" : "3",
                     std::make_unique<ConvTranspose>(where == kInnermost ? inner : inner * 2, outer, 4, 2, 1, 0));
  }
  at::Tensor operator()(const at::Tensor& x) const {
    if (where_ == kOutermost) return at::tanh((*up_)(at::relu((*sub_)((*down_)(x, 2, 1)))));
    const at::Tensor h = at::leaky_relu(x, 0.2);
    at::Tensor y = (*down_)(h, 2, 1);
    if (where_ == kMiddle) y = (*sub_)(instance_norm(y));
    y = instance_norm((*up_)(at::relu(y)));
    return at::cat({h, y}, 1);
  }

 private:
  Where where_;
  Conv* down_;
  UnetBlock* sub_ = nullptr;
  ConvTranspose* up_;
};

class LineartAnime : public Network {
 public:
  LineartAnime() {
    const std::int64_t ngf = 64;
    auto block = std::make_unique<UnetBlock>(ngf * 8, ngf * 8, ngf * 8, nullptr, UnetBlock::kInnermost);
    for (int i = 0; i < 8 - 5; ++i)
      block = std::make_unique<UnetBlock>(ngf * 8, ngf * 8, ngf * 8, std::move(block), UnetBlock::kMiddle);
    block = std::make_unique<UnetBlock>(ngf * 4, ngf * 8, ngf * 4, std::move(block), UnetBlock::kMiddle);
    block = std::make_unique<UnetBlock>(ngf * 2, ngf * 4, ngf * 2, std::move(block), UnetBlock::kMiddle);
    block = std::make_unique<UnetBlock>(ngf, ngf * 2, ngf, std::move(block), UnetBlock::kMiddle);
    model_ = &add("model", std::make_unique<UnetBlock>(1, ngf, 3, std::move(block), UnetBlock::kOutermost));
  }
  // The tanh output [1, 1, Hn, Wn] (Hn, Wn multiples of 256).
  std::vector<at::Tensor> forward(const at::Tensor& x) const override { return {(*model_)(x)}; }

 private:
  UnetBlock* model_;
};

}  // namespace

std::unique_ptr<Network> make_lineart_anime() { return std::make_unique<LineartAnime>(); }

at::Tensor lineart_anime_input(const cv::Mat& rgb, c10::Device device) {
  const int hn = 256 * static_cast<int>(std::ceil(rgb.rows / 256.0)), wn = 256 * static_cast<int>(std::ceil(rgb.cols / 256.0));
  cv::Mat img;
  cv::resize(rgb, img, cv::Size(wn, hn), 0, 0, cv::INTER_CUBIC);
  // torch.from_numpy(img).float().to(device) / 127.5 - 1.0, 'h w c -> 1 c h w'
  auto t = at::from_blob(img.data, {hn, wn, 3}, at::kByte).to(at::kFloat).to(device);
  return t.div(127.5).sub(1.0).permute({2, 0, 1}).unsqueeze(0).contiguous();
}

cv::Mat lineart_anime_map(const at::Tensor& output, cv::Size detect) {
  const at::Tensor line = output[0][0].mul(127.5).add(127.5).to(at::kCPU, at::kFloat).contiguous();
  const cv::Mat view(static_cast<int>(line.size(0)), static_cast<int>(line.size(1)), CV_32F,
                     const_cast<float*>(line.data_ptr<float>()));
  cv::Mat resized;
  cv::resize(view, resized, detect, 0, 0, cv::INTER_CUBIC);
  cv::Mat out(detect, CV_8U);
  for (int y = 0; y < out.rows; ++y)  // .clip(0, 255).astype(np.uint8): truncation
    for (int x = 0; x < out.cols; ++x)
      out.at<std::uint8_t>(y, x) = static_cast<std::uint8_t>(std::min(255.0f, std::max(0.0f, resized.at<float>(y, x))));
  return out;
}

}  // namespace gen::annotators
