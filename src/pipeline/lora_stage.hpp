// gen — the request's LoRA / LyCORIS files applied to the cached models: files read once and
// kept (by path, size and modification time), the set applied to a base model and its
// ControlNets, and taken off bit for bit when the next request's set differs — never by
// reading the model again (docs/adapters.md).
#pragma once

#include <functional>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "core/file_cache.hpp"
#include "adapters/adapter_file.hpp"
#include "adapters/lora_names.hpp"
#include "pipeline/model_cache.hpp"

namespace gen::pipeline {

struct LoraReport {
  std::size_t files = 0, modules = 0, merged_weights = 0, bypassed_layers = 0, backup_bytes = 0;
  bool changed = false;  // the set differed from the base model's previous one
  double seconds = 0;    // taking the previous set off and applying this one
};

class LoraStage {
 public:
  explicit LoraStage(std::size_t capacity = 8) : files_(capacity) {}
  // Makes `base` (and `nets`, the request's ControlNets) carry exactly `loras`.
  LoraReport apply(BaseModel& base, const std::vector<control::ControlNet*>& nets,
                   const std::vector<adapters::ResolvedLora>& loras, const Request& req,
                   const std::function<void(const std::string&)>& warn);
  // What was merged into ControlNets is taken off (before ControlNets are loaded or dropped).
  static void release_controlnets(BaseModel& base);
  void clear() { files_.clear(); }

 private:
  std::shared_ptr<const adapters::AdapterFile> file(const std::string& path);
  core::FileCache<adapters::AdapterFile> files_;  // by path, size and modification time
};

}  // namespace gen::pipeline
