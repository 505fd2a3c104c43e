// gen — the training data set of `gen train controlnet`: a JSONL file, or a folder holding
// metadata.jsonl, one JSON object a line: "image" and "conditioning_image" (paths relative to
// the file's folder) and "text" (the caption); the column names of diffusers' train_controlnet.py.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "gen/image.hpp"

namespace gen::training {

struct Sample {
  std::string image, control, caption;  // control "" when the line has no conditioning_image
  int line = 0;  // in the JSONL file
};

struct Dataset {
  std::string file;  // the JSONL file read
  std::vector<Sample> samples;
};

// Every line checked before any training: JSON objects with the three string keys, existing
// files. NotFound (no such file / folder without metadata.jsonl / an image missing, naming it),
// InvalidFormat (a bad line: file:line and what is wrong), InvalidArgument (no samples).
// `control`: whether "conditioning_image" must be there (ControlNets), may be (ControlNets whose
// control images a preprocessor makes when missing), or is not read (text-to-image and VAE).
enum class ControlColumn { Required, Optional, Unused };
Dataset read_dataset(const std::string& path, ControlColumn control = ControlColumn::Required);

// An image file as 8-bit RGB (grey and alpha flattened as gen does), and as [3, H, W] float in [0, 1].
Image read_rgb8(const std::string& path);
at::Tensor rgb_tensor(const Image& rgb8);
at::Tensor read_rgb(const std::string& path);

// Training images brought to `resolution` × `resolution` as diffusers' train_controlnet.py brings
// them: torchvision's Resize(resolution, BILINEAR) — the shorter side to `resolution`, the longer
// to int(resolution · long / short), Pillow's bilinear filter (resample.hpp, exact) — then
// CenterCrop(resolution) (offset round((size − resolution) / 2), halves to even), or with
// `random_crop` a crop whose offset (torchvision RandomCrop's: top, then left, uniform) is drawn
// from a generator seeded by (seed, sample index): the same crop on every epoch and after a resume.
struct ImageFit {
  int resolution = 0;  // 0: images used at their size
  bool random_crop = false;
  std::uint64_t seed = 0;
};
struct CropBox {
  int resized_width = 0, resized_height = 0;  // after the resize
  int x = 0, y = 0;                           // the crop's top-left corner in the resized image
};
CropBox crop_box(int width, int height, const ImageFit& fit, std::uint64_t index);
// The crop of the resized image (resolution²), computed without the whole resized image.
Image fit_image(const Image& rgb8, const CropBox& box, int resolution);

}  // namespace gen::training
