#include "pipeline/lora_stage.hpp"

#include <chrono>
#include <filesystem>
#include <sstream>

#include "adapters/lora_apply.hpp"
#include "adapters/lora_targets.hpp"
#include "core/fail.hpp"

namespace gen::pipeline {
namespace fs = std::filesystem;
namespace {

adapters::LoraStrategy strategy_for(const Request& req, const LoadSettings& s) {
  switch (req.lora_mode) {
    case LoraMode::Merge: return adapters::LoraStrategy::Merge;
    case LoraMode::OnTheFly: return adapters::LoraStrategy::OnTheFly;
    case LoraMode::Auto: break;
  }
  (void)s;
  return adapters::LoraStrategy::Merge;
}

}  // namespace

std::shared_ptr<const adapters::AdapterFile> LoraStage::file(const std::string& path) {
  return files_.get(path, [](const std::string& p) { return adapters::read_adapter_file(p); });
}

void LoraStage::release_controlnets(BaseModel& base) {
  if (base.adapters && base.adapters_touch_controlnets) {
    base.adapters->restore();
    base.adapters_key.clear();
    base.adapters_touch_controlnets = false;
  }
}

LoraReport LoraStage::apply(BaseModel& base, const std::vector<control::ControlNet*>& nets,
                            const std::vector<adapters::ResolvedLora>& loras, const Request& req,
                            const std::function<void(const std::string&)>& warn) {
  const auto t0 = std::chrono::steady_clock::now();
  LoraReport report;
  const auto strategy = strategy_for(req, base.settings);
  std::vector<adapters::LoraUse> uses;
  std::ostringstream key;
  key << (strategy == adapters::LoraStrategy::Merge ? "merge" : "on_the_fly");
  bool wants_controlnets = false;
  for (const auto& l : loras) {
    adapters::LoraUse u;
    u.file = file(l.path);
    u.name = l.name;
    u.unet = l.unet;
    u.te = l.te;
    key << '\n' << core::file_identity(l.path) << '|' << l.unet << '|' << l.te;
    for (const auto& m : u.file->modules)
      if (adapters::lookup_key(m.key, u.file->layout).rfind("cn:", 0) == 0) wants_controlnets = true;
    uses.push_back(std::move(u));
  }
  if (wants_controlnets)
    for (const auto* n : nets) key << "\ncn " << static_cast<const void*>(n);
  report.files = uses.size();
  if (key.str() == base.adapters_key) return report;

  // The files must be for this family (one message rather than a list of misfits).
  const std::string family = models::family_name(base.family);
  for (const auto& u : uses) {
    const std::string f = adapters::adapter_family(*u.file);
    if (!f.empty() && f != family)
      fail(ErrorCode::ModelMismatch, u.file->path,
           "is a LoRA for " + f + " and the model is " + family + " (" + base.model_path + ")");
  }
  adapters::TargetIndex index;
  index.add_unet(*base.unet);
  if (base.text) index.add_text(*base.text);  // (an SDXL refiner has the second encoder only)
  if (base.text2) index.add_text(*base.text2, /*second=*/true);
  for (auto* n : nets) index.add_controlnet(*n);
  const auto plan = adapters::plan_loras(uses, index);
  if (!plan.unmatched.empty()) {
    std::string list;
    for (std::size_t i = 0; i < plan.unmatched.size() && i < 12; ++i) list += (i ? ", " : "") + plan.unmatched[i];
    if (plan.unmatched.size() > 12) list += ", ... and " + std::to_string(plan.unmatched.size() - 12) + " more";
    if (!req.lora_lenient)
      fail(ErrorCode::ModelMismatch, "LoRA",
           std::to_string(plan.unmatched.size()) + " module(s) match no layer of the model: " + list +
               " (--lora-lenient skips them)");
    if (warn) warn("LoRA: skipping " + std::to_string(plan.unmatched.size()) + " module(s) that match no layer (--lora-lenient)");
  }
  if (!base.adapters) base.adapters = std::make_unique<adapters::AppliedAdapters>();
  base.adapters_key.clear();  // until applied
  base.adapters->apply(plan, strategy, base.settings.dtype);
  base.adapters_key = key.str();
  base.adapters_touch_controlnets = false;
  for (const auto& item : plan.items)
    if (item.target->part == adapters::Part::ControlNet) base.adapters_touch_controlnets = true;
  // CUDA graphs captured without the bypasses (or with other ones) no longer describe the step.
  if (base.graphs) base.graphs->clear();
  report.changed = true;
  report.modules = plan.items.size();
  report.merged_weights = base.adapters->merged_weights();
  report.bypassed_layers = base.adapters->bypassed_layers();
  report.backup_bytes = base.adapters->backup_bytes();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

}  // namespace gen::pipeline
