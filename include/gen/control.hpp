// gen — control images: the map a ControlNet sees, made from a picture the way generation
// makes it (resized to the output size with the group's resize mode, then preprocessed:
// none, canny:LOW:HIGH, invert, threshold:T; docs/controlnet.md), or made by an annotator from
// the photo and then resized (hed, pidinet, lineart, ...; docs/preprocessors.md). For previews,
// tools and applications that show users what the ControlNet will see.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "gen/export.hpp"
#include "gen/image.hpp"
#include "gen/request.hpp"

namespace gen {

// What annotators need beyond the preprocess name (a request's control group and engine give
// these in generation).
struct PreprocessOptions {
  std::string annotator_dir;  // where annotator weights are found by name (no environment is read)
  int resolution = 512;       // the annotator's resolution (ControlRequest::preprocess_resolution)
  std::uint64_t seed = 0;     // shuffle without seed= uses its low 32 bits
  Device device = Device::Cpu;
  int threads = 0;            // CPU threads for the annotator networks (process-wide); 0: libtorch's
};

// 8-bit RGB, width × height. Throws InvalidArgument for an unknown preprocessor or bad
// numbers, and the image reader's errors for the file. Annotator weights are loaded for each
// call (an Engine keeps them loaded).
GEN_API Image control_map(const std::string& path, const std::string& preprocess, ResizeMode resize, int width,
                          int height, const PreprocessOptions& options = {});
GEN_API Image control_map(const Image& image, const std::string& preprocess, ResizeMode resize, int width, int height,
                          const PreprocessOptions& options = {});

// control_map with the annotator weights kept loaded between calls (one per file and device):
// for many pictures, and `gen bench -w annotators`. Not for concurrent use from several threads.
class GEN_API ControlMapper {
 public:
  explicit ControlMapper(PreprocessOptions options = {});
  ~ControlMapper();
  ControlMapper(ControlMapper&&) noexcept;
  ControlMapper& operator=(ControlMapper&&) noexcept;
  Image map(const Image& image, const std::string& preprocess, ResizeMode resize, int width, int height);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gen
