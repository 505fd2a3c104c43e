// gen — the T2I-Adapters of a request (docs/t2i_adapter.md): loaded once per engine (by file
// identity, a few kept), checked to fit the base model, and their control images prepared at
// a size as diffusers' StableDiffusionAdapterPipeline does (Pillow's Lanczos to the output size,
// values / 255; a grey image for a one-channel adapter, as Pillow's convert("L")).
#pragma once

#include <list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "control/t2i_adapter.hpp"
#include "gen/request.hpp"
#include "pipeline/generate.hpp"
#include "pipeline/model_cache.hpp"

namespace gen::pipeline {

class T2IAdapterCache {
 public:
  // The adapter at `path` for `settings`, loaded (reported, `loaded` incremented) unless kept.
  const control::T2IAdapter& get(const std::string& path, const LoadSettings& settings, int& loaded,
                                 const LoadReport& report = {});
  void clear() { items_.clear(); }

 private:
  static constexpr std::size_t kCapacity = 4;
  std::list<std::pair<std::string, std::unique_ptr<control::T2IAdapter>>> items_;  // most recently used first
};

// The request's adapters at `width` × `height`. ModelMismatch naming the adapter when it is made
// for another model family (an SDXL adapter on SD 1.x / 2.x); the images' errors name them.
std::vector<AdapterUnit> t2i_units(const Request& req, const BaseModel& base, T2IAdapterCache& cache,
                                   const LoadSettings& settings, int width, int height, int& loaded,
                                   const LoadReport& report = {});

}  // namespace gen::pipeline
