// gen — the training data set of `gen train controlnet`: a JSONL file, or a folder holding
// metadata.jsonl, one JSON object a line: "image" and "conditioning_image" (paths relative to
// the file's folder) and "text" (the caption); the column names of diffusers' train_controlnet.py.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

namespace gen::training {

struct Sample {
  std::string image, control, caption;
  int line = 0;  // in the JSONL file
};

struct Dataset {
  std::string file;  // the JSONL file read
  std::vector<Sample> samples;
};

// Every line checked before any training: JSON objects with the three string keys, existing
// files. NotFound (no such file / folder without metadata.jsonl / an image missing, naming it),
// InvalidFormat (a bad line: file:line and what is wrong), InvalidArgument (no samples).
// `need_control` false: "conditioning_image" is not needed (text-to-image and VAE training).
Dataset read_dataset(const std::string& path, bool need_control = true);

// An image file as [3, H, W] float in [0, 1] (RGB; grey and alpha flattened as gen does).
at::Tensor read_rgb(const std::string& path);

}  // namespace gen::training
