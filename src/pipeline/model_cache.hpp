// gen — the models an engine keeps between requests: base models (UNet + VAE + text
// encoder) by file, least recently used dropped first, and per base model its ControlNets,
// checked to fit it. Loading reports each part through an optional callback.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <list>
#include <memory>
#include <string>
#include <utility>

#include "adapters/lora_apply.hpp"
#include "control/controlnet.hpp"
#include "gen/request.hpp"
#include "models/clip_text.hpp"
#include "models/model_files.hpp"
#include "models/unet.hpp"
#include "models/vae.hpp"
#include "pipeline/step_graph.hpp"

namespace gen::pipeline {

// How models are loaded and run; decided per request from the engine options and the
// request's device and dtype (pipeline/engine.cpp).
struct LoadSettings {
  c10::Device device = c10::Device(c10::kCPU);
  at::ScalarType dtype = at::kFloat;
  // On the CPU in fp32, 16-bit weights stay 16-bit and each layer widens its own on use
  // (exact: models::LoadOptions::keep_16bit).
  bool compact = false;
  // Sequential offload (CUDA only): weights in page-locked host memory in the compute
  // dtype, each layer's copied to the GPU as it runs.
  bool offload = false;
  // The UNet and ControlNets channels-last (NHWC): what cuDNN's tensor-core convolutions
  // and the fused GroupNorm+SiLU kernel want on CUDA.
  bool channels_last = false;
  // Why the step may not run as a CUDA graph ("" when it may); emulate: the graph
  // bookkeeping run eagerly on any device (tests).
  std::string no_graphs_because;
  bool emulate_graphs = false;

  c10::Device weight_device() const { return offload ? c10::Device(c10::kCPU) : device; }
};

// One base model with what its files said (kept after they are closed, so the file
// mappings are released and their pages do not stay resident beside the converted weights)
// and the ControlNets loaded against it.
struct BaseModel {
  std::string key;
  std::string model_path, vae_path;
  models::ModelFamily family = models::ModelFamily::SD1;
  std::int64_t clip_skip = 0;
  nlohmann::json scheduler_config;
  std::string prediction = "epsilon";
  std::string tokenizer_dir;
  std::string tokenizer2_dir;  // SDXL folders: tokenizer_2/
  bool refiner = false;        // SDXL with only the second text encoder (text is null)
  // SDXL diffusers pipelines: an empty negative prompt is zeros (model_index.json's
  // force_zeros_for_empty_prompt; StableDiffusionXLPipeline's default true).
  bool force_zeros_for_empty_prompt = false;
  std::string summary;
  std::string note;  // what loading decided that the user should hear (the v-prediction test)
  std::unique_ptr<models::UNet> unet;
  std::unique_ptr<models::Vae> vae;
  std::unique_ptr<models::ClipTextModel> text;
  std::unique_ptr<models::ClipTextModel> text2;  // SDXL: OpenCLIP bigG
  // Most recently used first.
  std::list<std::pair<std::string, std::unique_ptr<control::ControlNet>>> controlnets;
  LoadSettings settings;
  // The LoRA / LyCORIS set applied to the models above (pipeline/lora_stage.hpp), and what
  // identifies it ("" when none is applied).
  std::unique_ptr<adapters::AppliedAdapters> adapters;
  std::string adapters_key;
  bool adapters_touch_controlnets = false;
  // CUDA graphs of the denoising step (refer to the models above: cleared whenever a
  // ControlNet goes; declared last, so destroyed first).
  std::unique_ptr<StepGraphs> graphs;
  std::string no_graphs_because;  // when `graphs` is null
};

// Called before each part is read: what (e.g. "UNet") and from which file.
using LoadReport = std::function<void(const std::string& what, const std::string& path)>;

class ModelCache {
 public:
  explicit ModelCache(int capacity) : capacity_(capacity < 1 ? 1 : capacity) {}

  // The base model of `request` with `settings`: from the cache (moved to the front) or
  // loaded, dropping the least recently used first so that no more than `capacity` are held.
  // `loaded` is incremented for each model read. `keep` (a model of the same request, as the
  // SDXL base beside its refiner) is never dropped, even when that holds one more.
  BaseModel& base(const Request& request, const LoadSettings& settings, int& loaded, const LoadReport& report = {},
                  const BaseModel* keep = nullptr);

  // ControlNet `c` loaded against `base` (kept in the base's list, at most `capacity` of
  // them, but never dropping the first `keep` — the ones this request already placed).
  // Throws ModelMismatch when it does not fit the base model.
  control::ControlNet& controlnet(BaseModel& base, const ControlRequest& c, int capacity, std::size_t keep,
                                  int& loaded, const LoadReport& report = {});

  std::size_t size() const { return models_.size(); }
  void clear() { models_.clear(); }

 private:
  int capacity_;
  std::list<std::unique_ptr<BaseModel>> models_;  // most recently used first
};

// Throws ModelMismatch (naming `path`) unless the ControlNet's residuals fit the base UNet's
// skips and its context the text encoder's.
void check_controlnet_fits(const control::ControlNet& net, const models::UNet& base, const std::string& path);

}  // namespace gen::pipeline
