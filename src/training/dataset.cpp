#include "training/dataset.hpp"

#include <ATen/ATen.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "core/fail.hpp"
#include "core/files.hpp"
#include "core/fs.hpp"
#include "gen/image.hpp"

namespace gen::training {

Dataset read_dataset(const std::string& path, bool need_control) {
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
      if (!need_control && std::string(key) == "conditioning_image") continue;
      if (!j.contains(key)) fail(ErrorCode::InvalidFormat, where, std::string("no \"") + key + "\"");
      if (!j[key].is_string()) fail(ErrorCode::InvalidFormat, where, std::string("\"") + key + "\" is not a string");
    }
    auto resolve = [&](const std::string& p) { return !p.empty() && p[0] == '/' ? p : core::join(dir, p); };
    s.image = resolve(j["image"].get<std::string>());
    if (need_control) s.control = resolve(j["conditioning_image"].get<std::string>());
    s.caption = j["text"].get<std::string>();
    for (const auto& f : {s.image, s.control})
      if ((!f.empty() || need_control) && !core::is_file(f)) fail(ErrorCode::NotFound, f, "no such image (" + where + ")");
    d.samples.push_back(std::move(s));
  }
  if (d.samples.empty()) fail(ErrorCode::InvalidArgument, d.file, "holds no samples");
  return d;
}

at::Tensor read_rgb(const std::string& path) {
  const auto img = to_rgb8(read_image(path));
  auto t = at::from_blob(const_cast<std::uint8_t*>(img.data8.data()), {img.height, img.width, 3}, at::kByte);
  return t.permute({2, 0, 1}).to(at::kFloat).div(255).contiguous();
}

}  // namespace gen::training
