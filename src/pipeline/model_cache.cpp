#include "pipeline/model_cache.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <iterator>

#include "control/controlnet_files.hpp"
#include "core/fail.hpp"
#include "models/v_prediction.hpp"

#include <cstdio>

#include "pipeline/channels_last.hpp"

namespace gen::pipeline {

void to_channels_last(models::Module& m) {
  m.visit([](const std::string&, models::Module::Param& p) {
    if (p.value.defined() && p.value.dim() == 4) p.value = p.value.contiguous(at::MemoryFormat::ChannelsLast);
  });
}

namespace {

// Sequential offload: the weights stay in page-locked host memory, so that each layer's copy
// to the GPU (models::as_operand) is asynchronous.
void pin(models::Module& m) {
  m.visit([](const std::string&, models::Module::Param& p) {
    if (p.value.defined() && !p.value.is_pinned()) p.value = p.value.pin_memory();
  });
}

std::string base_key(const Request& r, const LoadSettings& s) {
  return r.model + "\n" + r.model_config + "\n" + r.vae + "\n" + name_of(r.prediction) + "\n" + s.device.str() + "\n" +
         std::to_string(static_cast<int>(s.dtype)) + "\n" + (s.channels_last ? "nhwc" : "nchw") + "\n" +
         (s.offload ? "offload" : "") + (s.compact ? "compact" : "") + "\n" + s.no_graphs_because +
         (s.emulate_graphs ? "emulate" : "");
}

}  // namespace

BaseModel& ModelCache::base(const Request& r, const LoadSettings& s, int& loaded, const LoadReport& report,
                            const BaseModel* keep) {
  const std::string key = base_key(r, s);
  auto it = std::find_if(models_.begin(), models_.end(), [&](const auto& m) { return m->key == key; });
  if (it != models_.end()) {
    models_.splice(models_.begin(), models_, it);
    return *models_.front();
  }
  while (static_cast<int>(models_.size()) >= capacity_) {
    auto last = std::find_if(models_.rbegin(), models_.rend(), [&](const auto& m) { return m.get() != keep; });
    if (last == models_.rend()) break;
    models_.erase(std::next(last).base());
  }
  auto l = std::make_unique<BaseModel>();
  models::ModelFilesOptions opt;
  opt.vae_path = r.vae;
  opt.config = r.model_config;
  opt.prediction_type = name_of(r.prediction);
  const auto wd = s.weight_device();
  {
    const auto files = models::ModelFiles::open(r.model, opt);
    if (report) report("UNet", r.model);
    l->unet = files.load_unet(s.dtype, wd, s.compact);
    if (report) report("VAE", r.vae.empty() ? r.model : r.vae);
    l->vae = files.load_vae(s.dtype, wd, s.compact);
    if (!files.refiner()) {
      if (report) report("text encoder", r.model);
      l->text = files.load_text_encoder(s.dtype, wd, s.compact);
    }
    if (files.family() == models::ModelFamily::SDXL) {
      if (report) report("text encoder 2", r.model);
      l->text2 = files.load_text_encoder_2(s.dtype, wd, s.compact);
    }
    to_channels_last(*l->vae);  // the decode runs NHWC (generate.hpp: Models::vae_channels_last)
    if (s.channels_last) to_channels_last(*l->unet);
    if (s.offload) {
      pin(*l->unet);
      pin(*l->vae);
      if (l->text) pin(*l->text);
      if (l->text2) pin(*l->text2);
    }
    l->family = files.family();
    l->clip_skip = files.default_clip_skip();
    l->scheduler_config = files.scheduler_config();
    l->prediction = files.prediction_type();
    // An SD 2.x single file that no config or option types: A1111's test on the UNet
    // (9-channel inpainting UNets are epsilon there, as in A1111's config choice).
    if (files.layout() == models::ModelFiles::Layout::LdmSingleFile && files.family() == models::ModelFamily::SD2 &&
        !files.prediction_type_known() && l->unet->config().in_channels == 4) {
      const double m = models::v_prediction_test(*l->unet, s.device, s.dtype);
      const bool v = m < models::kVPredictionThreshold;
      l->prediction = v ? "v_prediction" : "epsilon";
      char value[32];
      std::snprintf(value, sizeof value, "%.6g", m);
      l->note = r.model + ": an SD 2.x file without a config: the UNet's output says " + l->prediction +
                " (mean(UNet(x) - x) = " + value + (v ? " < -1" : " >= -1") +
                ", A1111's test); give --prediction or a .yaml beside the file to be sure";
    }
    l->tokenizer_dir = files.tokenizer_dir();
    l->tokenizer2_dir = files.tokenizer2_dir();
    l->refiner = files.refiner();
    l->force_zeros_for_empty_prompt = files.force_zeros_for_empty_prompt();
    l->summary = files.summary();
    if (!l->note.empty()) l->summary += "prediction test: " + l->note + "\n";
  }
  l->model_path = r.model;
  l->vae_path = r.vae;
  l->settings = s;
  l->no_graphs_because = s.no_graphs_because;
  if (s.no_graphs_because.empty())
    l->graphs = std::make_unique<StepGraphs>(StepGraphs::Mode::Cuda);
  else if (s.emulate_graphs)
    l->graphs = std::make_unique<StepGraphs>(StepGraphs::Mode::Emulate);
  l->key = key;
  ++loaded;
  models_.push_front(std::move(l));
  return *models_.front();
}

control::ControlNet& ModelCache::controlnet(BaseModel& base, const ControlRequest& c, int capacity, std::size_t keep,
                                            int& loaded, const LoadReport& report) {
  auto& list = base.controlnets;
  const std::string ckey = c.model + (c.global_pool ? "\npool" : "");
  auto it = std::find_if(list.begin(), list.end(), [&](const auto& e) { return e.first == ckey; });
  if (it != list.end()) {
    list.splice(list.begin(), list, it);
  } else {
    // Keep the ControlNets this request already placed; drop older ones beyond the limit.
    while (static_cast<int>(list.size()) >= std::max<int>(capacity, static_cast<int>(keep) + 1)) {
      if (base.graphs) base.graphs->clear();  // their keys name ControlNets by address
      list.pop_back();
    }
    if (report) report("ControlNet", c.model);
    const auto& s = base.settings;
    auto net = control::load_controlnet(c.model, *base.unet, s.dtype, s.weight_device(), c.global_pool, s.compact);
    if (s.channels_last) to_channels_last(*net);
    if (s.offload) pin(*net);
    list.emplace_front(ckey, std::move(net));
    ++loaded;
  }
  auto& net = *list.front().second;
  check_controlnet_fits(net, *base.unet, c.model);
  return net;
}

void check_controlnet_fits(const control::ControlNet& net, const models::UNet& base, const std::string& path) {
  const auto& cu = net.config().unet;
  const auto& bu = base.config();
  // SDXL ControlNets take the base UNet's added condition (label_emb); SD 1.x/2.x ones none.
  if (net.is_union() && bu.adm_in_channels == 0)
    fail(ErrorCode::ModelMismatch, path,
         "a ControlNet Union (SDXL: " + std::to_string(net.union_types()) +
             " control types, text context " + std::to_string(cu.context_dim) +
             ") does not fit the base model, which is SD 1.x / 2.x (text context " + std::to_string(bu.context_dim) +
             "): a ControlNet Union needs an SDXL model");
  if (cu.adm_in_channels > 0 && bu.adm_in_channels == 0)
    fail(ErrorCode::ModelMismatch, path,
         "an SDXL ControlNet (text context " + std::to_string(cu.context_dim) +
             ", pooled-text and size condition) does not fit the base model, which is SD 1.x / 2.x (text context " +
             std::to_string(bu.context_dim) + "): an SDXL ControlNet needs an SDXL model");
  if (bu.adm_in_channels > 0 && cu.adm_in_channels == 0)
    fail(ErrorCode::ModelMismatch, path,
         "an SD 1.x / 2.x ControlNet (text context " + std::to_string(cu.context_dim) +
             ") does not fit the base model, which is SDXL (text context " + std::to_string(bu.context_dim) +
             "): the base model is SDXL, and an SD 1.x / 2.x ControlNet does not fit it");
  if (cu.adm_in_channels != bu.adm_in_channels)
    fail(ErrorCode::ModelMismatch, path,
         "this SDXL ControlNet's label_emb takes " + std::to_string(cu.adm_in_channels) +
             " inputs, the base UNet's " + std::to_string(bu.adm_in_channels) + ": they do not fit (a refiner?)");
  if (cu.context_dim != bu.context_dim || cu.model_channels != bu.model_channels || cu.block_channels != bu.block_channels ||
      cu.num_res_blocks != bu.num_res_blocks)
    fail(ErrorCode::ModelMismatch, path,
         "this ControlNet does not fit the base model (text context " + std::to_string(cu.context_dim) + " vs " +
             std::to_string(bu.context_dim) + ", channels " + std::to_string(cu.model_channels) + " vs " +
             std::to_string(bu.model_channels) + "): " +
             (bu.adm_in_channels > 0 ? "the base model is SDXL, and an SD 1.x / 2.x ControlNet does not fit it"
                                     : "an SD 1.x ControlNet needs an SD 1.x model, SD 2.x an SD 2.x"));
}

}  // namespace gen::pipeline
