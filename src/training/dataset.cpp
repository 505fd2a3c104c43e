#include "training/dataset.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/fail.hpp"
#include "core/files.hpp"
#include "core/fs.hpp"
#include "gen/image.hpp"
#include "image/resample.hpp"
#include "training/train_loop.hpp"

namespace gen::training {

Dataset read_dataset(const std::string& path, ControlColumn control) {
  const bool need_control = control == ControlColumn::Required;
  Dataset d;
  d.file = core::is_dir(path) ? core::join(path, "metadata.jsonl") : path;
  if (core::is_dir(path) && !core::is_file(d.file))
    fail(ErrorCode::NotFound, path, "a data-set folder needs a metadata.jsonl (one JSON object a line)");
  const auto text = core::read_input(d.file, std::size_t{1} << 30, "data set");
  const auto dir = core::dirname(d.file);
  std::istringstream in(text);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const auto where = d.file + ":" + std::to_string(number);
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) fail(ErrorCode::InvalidFormat, where, "not a JSON object");
    Sample s;
    s.line = number;
    for (const char* key : {"image", "conditioning_image", "text"}) {
      if (!need_control && std::string(key) == "conditioning_image" &&
          (control == ControlColumn::Unused || !j.contains(key)))
        continue;
      if (!j.contains(key)) fail(ErrorCode::InvalidFormat, where, std::string("no \"") + key + "\"");
      if (!j[key].is_string()) fail(ErrorCode::InvalidFormat, where, std::string("\"") + key + "\" is not a string");
    }
    auto resolve = [&](const std::string& p) { return !p.empty() && p[0] == '/' ? p : core::join(dir, p); };
    s.image = resolve(j["image"].get<std::string>());
    if (control != ControlColumn::Unused && j.contains("conditioning_image"))
      s.control = resolve(j["conditioning_image"].get<std::string>());
    s.caption = j["text"].get<std::string>();
    for (const auto& f : {s.image, s.control})
      if (!f.empty() && !core::is_file(f)) fail(ErrorCode::NotFound, f, "no such image (" + where + ")");
    d.samples.push_back(std::move(s));
  }
  if (d.samples.empty()) fail(ErrorCode::InvalidArgument, d.file, "holds no samples");
  return d;
}

Image read_rgb8(const std::string& path) { return to_rgb8(read_image(path)); }

at::Tensor rgb_tensor(const Image& img) {
  auto t = at::from_blob(const_cast<std::uint8_t*>(img.data8.data()), {img.height, img.width, 3}, at::kByte);
  return t.permute({2, 0, 1}).to(at::kFloat).div(255).contiguous();
}

at::Tensor read_rgb(const std::string& path) { return rgb_tensor(read_rgb8(path)); }

CropBox crop_box(int width, int height, const ImageFit& fit, std::uint64_t index) {
  CropBox b;
  const int r = fit.resolution;
  const int shorter = std::min(width, height), longer = std::max(width, height);
  // torchvision's _compute_resized_output_size: int(size * long / short), a float division.
  const int resized_long = static_cast<int>(static_cast<double>(static_cast<std::int64_t>(r) * longer) / shorter);
  b.resized_width = width <= height ? r : resized_long;
  b.resized_height = width <= height ? resized_long : r;
  if (fit.random_crop) {
    auto g = generator_for(fit.seed, 4, index);
    b.y = static_cast<int>(at::randint(0, b.resized_height - r + 1, {1}, g, at::kLong).item<std::int64_t>());
    b.x = static_cast<int>(at::randint(0, b.resized_width - r + 1, {1}, g, at::kLong).item<std::int64_t>());
  } else {  // int(round((size - r) / 2.0)): Python rounds halves to even, as nearbyint does
    b.y = static_cast<int>(std::nearbyint((b.resized_height - r) / 2.0));
    b.x = static_cast<int>(std::nearbyint((b.resized_width - r) / 2.0));
  }
  return b;
}

Image fit_image(const Image& rgb8, const CropBox& box, int resolution) {
  if (box.resized_width == rgb8.width && box.resized_height == rgb8.height) {  // Pillow: no resampling
    Image out = Image::make(resolution, resolution, 3);
    for (int y = 0; y < resolution; ++y)
      std::memcpy(out.data8.data() + static_cast<std::size_t>(y) * resolution * 3,
                  rgb8.data8.data() + (static_cast<std::size_t>(y + box.y) * rgb8.width + box.x) * 3,
                  static_cast<std::size_t>(resolution) * 3);
    return out;
  }
  return resize_pillow_window(rgb8, box.resized_width, box.resized_height, box.x, box.y, resolution, resolution,
                              PillowFilter::Bilinear);
}

}  // namespace gen::training
