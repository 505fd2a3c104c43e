#include "pipeline/t2i_stage.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "control/control_image.hpp"
#include "core/fail.hpp"
#include "core/file_cache.hpp"

namespace gen::pipeline {

const control::T2IAdapter& T2IAdapterCache::get(const std::string& path, const LoadSettings& s, int& loaded,
                                                const LoadReport& report) {
  const std::string key = core::file_identity(path) + "|" + s.device.str() + "|" + c10::toString(s.dtype);
  for (auto it = items_.begin(); it != items_.end(); ++it)
    if (it->first == key) {
      items_.splice(items_.begin(), items_, it);
      return *items_.front().second;
    }
  if (report) report("T2I-Adapter", path);
  c10::InferenceMode inference;
  auto net = control::load_t2i_adapter(path, s.dtype, s.device);
  ++loaded;
  items_.emplace_front(key, std::move(net));
  while (items_.size() > kCapacity) items_.pop_back();
  return *items_.front().second;
}

namespace {

// Pillow's convert("L") of an 8-bit RGB image (ITU-R 601-2 luma, rounded as Pillow does), as
// three equal channels: resized like a picture, channel 0 is the resized grey image.
Image grey_of(const Image& rgb) {
  Image g = Image::make(rgb.width, rgb.height, 3);
  for (std::size_t i = 0; i + 2 < rgb.data8.size(); i += 3) {
    const unsigned v = (rgb.data8[i] * 19595u + rgb.data8[i + 1] * 38470u + rgb.data8[i + 2] * 7471u + 0x8000u) >> 16;
    g.data8[i] = g.data8[i + 1] = g.data8[i + 2] = static_cast<std::uint8_t>(v);
  }
  return g;
}

}  // namespace

std::vector<AdapterUnit> t2i_units(const Request& req, const BaseModel& base, T2IAdapterCache& cache,
                                   const LoadSettings& settings, int width, int height, int& loaded,
                                   const LoadReport& report) {
  std::vector<AdapterUnit> units;
  for (std::size_t i = 0; i < req.adapters.size(); ++i) {
    const auto& a = req.adapters[i];
    AdapterUnit u;
    u.name = "T2I-Adapter " + std::to_string(i) + " (" + a.model + ")";
    u.net = &cache.get(a.model, settings, loaded, report);
    const auto& c = u.net->config();
    // SDXL adapters (full_adapter_xl) steer SDXL UNets, the others SD 1.x / 2.x ones (diffusers'
    // StableDiffusionXLAdapterPipeline and StableDiffusionAdapterPipeline; the same UNet hook).
    const bool sdxl_model = base.family == models::ModelFamily::SDXL;
    if (c.sdxl() != sdxl_model)
      fail(ErrorCode::ModelMismatch, a.model,
           c.sdxl() ? std::string("an SDXL T2I-Adapter (") + control::kind_id(c.kind) +
                          ") needs an SDXL model, and the model is " +
                          (base.family == models::ModelFamily::SD2 ? "SD 2.x" : "SD 1.x")
                    : std::string("an SD 1.x/2.x T2I-Adapter (") + control::kind_id(c.kind) +
                          ") does not fit an SDXL model: SDXL takes full_adapter_xl adapters (t2i-adapter-*-sdxl-1.0)");
    const std::string subject = a.pixels.empty() ? a.image : "adapters[" + std::to_string(i) + "].pixels";
    if (c.in_channels == 1) {
      const Image rgb = to_rgb8(a.pixels.empty() ? read_image(a.image) : a.pixels);
      u.image = control::prepare_control_image(grey_of(rgb), "none", "just", width, height, subject).slice(1, 0, 1);
    } else {
      u.image = a.pixels.empty() ? control::prepare_control_image(a.image, "none", "just", width, height)
                                 : control::prepare_control_image(a.pixels, "none", "just", width, height, subject);
    }
    u.scale = a.scale;
    units.push_back(std::move(u));
  }
  return units;
}

}  // namespace gen::pipeline
