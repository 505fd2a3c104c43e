// gen — the annotators' networks, each a models::Module whose parameter names are the original
// weight files' keys (so loading is a lookup, models/loader), built with the layers of the
// original code:
//   hed       ControlNetHED_Apache2 (ControlNetHED.pth): five VGG-style blocks with side outputs
//   pidinet   PiDiNet carv4, dil 24, sa (table5_pidinet.pth): pixel-difference convolutions
//   lineart   informative-drawings' Generator(3, 1, 3) (sk_model.pth, sk_model2.pth)
//   lineart_anime  Anime2Sketch's UnetGenerator (netG.pth; lineart_anime.cpp)
//   mlsd      MobileV2_MLSD_Large (mlsd_large_512_fp32.pth; mlsd.hpp)
// and the steps between the network and the 8-bit map, as controlnet-aux 0.0.10's detectors
// take them (docs/preprocessors.md).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <opencv2/core.hpp>

#include <memory>
#include <string>
#include <vector>

#include "models/module.hpp"

namespace gen::annotators {

class Network : public models::Module {
 public:
  // The network's outputs for the input of network_input (HED: its five side outputs;
  // PiDiNet: the fused edge map, after the sigmoid; line art: the line map).
  virtual std::vector<at::Tensor> forward(const at::Tensor& x) const = 0;
};

// An unloaded network of `kind` ("hed", "pidinet", "lineart", "lineart_anime", "mlsd").
std::unique_ptr<Network> make_network(const std::string& kind);

// Opens `path` (.safetensors; a .pth is refused with the `gen convert` hint by the reader),
// checks that it is a `kind` file (ModelMismatch naming what it is otherwise), loads it in
// fp32 on `device`. `subject` names the annotator in messages ("hed").
std::shared_ptr<Network> load_network(const std::string& kind, const std::string& path, c10::Device device,
                                      const std::string& subject);

// The network's input from the image at the detect size (8-bit RGB): HED takes RGB 0-255,
// PiDiNet BGR 0-1, line art RGB 0-1; [1, 3, H, W] float on `device`. lineart_anime: resized
// to multiples of 256 first, v / 127.5 − 1; mlsd: mlsd_input's [1, 4, H, W].
at::Tensor network_input(const std::string& kind, const cv::Mat& rgb, c10::Device device);

// The 8-bit one-channel map at the detect size from the outputs (HED: each side output
// resized to the detect size with INTER_LINEAR, averaged, sigmoid in float64; `safe`:
// util.safe_step; line art: 255 − map comes after the resize, in annotators.cpp;
// lineart_anime: lineart_anime_map; not mlsd, whose map is mlsd_draw(mlsd_lines(...))).
cv::Mat network_map(const std::string& kind, const std::vector<at::Tensor>& outputs, cv::Size detect, bool safe);

// lineart_anime.cpp: LineartAnimeDetector's steps around the network.
at::Tensor lineart_anime_input(const cv::Mat& rgb, c10::Device device);
cv::Mat lineart_anime_map(const at::Tensor& output, cv::Size detect);

}  // namespace gen::annotators
