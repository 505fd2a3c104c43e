#include "adapters/lora_apply.hpp"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <map>
#include <set>

#include "adapters/adapter_delta.hpp"
#include "core/fail.hpp"

namespace gen::adapters {
namespace {

std::string shape_text(at::IntArrayRef s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// A1111's rule for an inpainting UNet: a ΔW made for the 4-channel conv_in is zero-padded over
// the 5 extra input channels (mask, masked-image latents).
bool padded_conv_in(const Target& t, const AdapterModule& m) {
  if (t.name != "input_blocks.0.0.weight" || t.weight->dim() != 4 || t.weight->size(1) != 9 || m.peft_dora()) return false;
  const auto it = m.tensors.find("lora_down");
  return it != m.tensors.end() && it->second.dim() >= 2 && it->second.size(1) == 4;
}

// The weight after `item` (float32, on the weight's device), given the float32 weight `w` and
// the weight as loaded `base` (PEFT's DoRA takes its norm over it; undefined: `w`).
at::Tensor after(const LoraPlan::Item& item, const at::Tensor& w, const at::Tensor& base = at::Tensor()) {
  if (padded_conv_in(*item.target, *item.module)) {
    auto shape = w.sizes().vec();
    shape[1] = 4;
    auto d = delta_weight(*item.module, shape).to(w.device()) * item.multiplier;
    return w + at::constant_pad_nd(d, {0, 0, 0, 0, 0, 5});
  }
  return merged_weight(*item.module, w, item.multiplier, base);
}

bool runs_on_the_fly(const LoraPlan::Item& item) {
  return (item.target->linear || item.target->conv) && item.target->slice < 0 &&
         !padded_conv_in(*item.target, *item.module);
}

// A low-rank factor as the layer's bypass wants it.
models::Bypass low_rank_bypass(const LoraPlan::Item& item, const at::Tensor& weight, at::ScalarType compute) {
  const auto& m = *item.module;
  auto to = [&](const at::Tensor& t) { return t.to(weight.device(), compute); };
  models::Bypass b;
  b.scale = m.scale() * item.multiplier;
  auto down = m.tensors.at("lora_down"), up = m.tensors.at("lora_up");
  const auto r = down.size(0);
  if (item.target->linear) {
    b.down = to(down.reshape({r, -1}));
    b.up = to(up.reshape({up.size(0), r}));
    return b;
  }
  const auto it = m.tensors.find("lora_mid");
  if (it != m.tensors.end()) {
    b.down = to(down.reshape({r, -1, 1, 1}));
    b.mid = to(it->second);
  } else {
    b.down = to(down.dim() == 4 ? down : down.reshape({r, -1, 1, 1}));
  }
  b.up = to(up.reshape({up.size(0), up.size(1), 1, 1}));
  return b;
}

bool low_rank(const AdapterModule& m) {
  return m.kind == AdapterKind::LoRA && !m.dora() && !m.peft_dora();
}

}  // namespace

LoraPlan plan_loras(const std::vector<LoraUse>& uses, const TargetIndex& index) {
  LoraPlan plan;
  for (const auto& use : uses) {
    const auto& file = *use.file;
    for (const auto& name : file.unknown) plan.unmatched.push_back(use.name + ": " + name + " (no adapter role gen knows)");
    for (const auto& m : file.modules) {
      const Target* t = index.find(m.key, file.layout);
      if (!t) {
        plan.unmatched.push_back(use.name + ": " + m.key);
        continue;
      }
      // The weight change must fit its target (delta_weight says why not).
      try {
        if (!padded_conv_in(*t, m)) (void)delta_weight(m, t->shape());
      } catch (const Error& e) {
        fail(ErrorCode::ModelMismatch, file.path,
             "module " + m.key + " does not fit the " + part_name(t->part) + "'s " + t->name + " " +
                 shape_text(t->shape()) + ": " + e.what() +
                 " (is the LoRA made for another model family? `gen inspect` names its family)");
      }
      plan.items.push_back({t, &m, t->part == Part::TextEncoder ? use.te : use.unet});
    }
  }
  return plan;
}

namespace {

// `w32` (a float32 copy of a weight) with `items` applied in order. PEFT's DoRA normalises by
// the weight as loaded, also after other files changed it (its forward adds each adapter to
// the running output; tuners/lora/variants.py).
at::Tensor apply_in_order(const std::vector<const LoraPlan::Item*>& items, at::Tensor w32) {
  const bool dora = std::any_of(items.begin(), items.end(), [](const LoraPlan::Item* i) { return i->module->peft_dora(); });
  const at::Tensor base = dora ? w32.clone() : at::Tensor();
  for (const auto* item : items) {
    if (item->target->slice >= 0) {
      const int64_t rows = w32.size(0) / 3, s = item->target->slice;
      auto part = w32.slice(0, s * rows, (s + 1) * rows);
      part.copy_(after(*item, part, base.defined() ? base.slice(0, s * rows, (s + 1) * rows) : base));
    } else {
      w32 = after(*item, w32, base);
    }
  }
  return w32;
}

}  // namespace

void AppliedAdapters::apply(const LoraPlan& plan, LoraStrategy strategy, at::ScalarType compute) {
  restore();
  c10::AutoGradMode no_grad(false);
  // Merged changes, grouped by weight (several files, or q/k/v slices, may share one).
  std::map<at::Tensor*, std::vector<const LoraPlan::Item*>> merges;
  std::vector<at::Tensor*> order;
  // On the fly, a layer with a PEFT DoRA module runs the whole change of its modules beside it
  // (the DoRA factor scales what the others added before it).
  std::set<at::Tensor*> dora_layers;
  if (strategy == LoraStrategy::OnTheFly)
    for (const auto& item : plan.items)
      if (item.module->peft_dora() && runs_on_the_fly(item)) dora_layers.insert(item.target->weight);
  std::map<at::Tensor*, std::vector<const LoraPlan::Item*>> dora_groups;
  std::vector<const LoraPlan::Item*> dora_first;  // the first item of each group, in order
  for (const auto& item : plan.items) {
    at::Tensor& w = *item.target->weight;
    if (strategy == LoraStrategy::OnTheFly && runs_on_the_fly(item)) {
      auto& list = item.target->linear ? item.target->linear->bypass : item.target->conv->bypass;
      if (dora_layers.count(&w)) {
        if (!dora_groups.count(&w)) dora_first.push_back(&item);
        dora_groups[&w].push_back(&item);
      } else if (low_rank(*item.module)) {
        list.push_back(low_rank_bypass(item, w, compute));
      } else {
        const auto w32 = w.to(at::kFloat);
        models::Bypass b;
        b.delta = (after(item, w32) - w32).to(compute);
        list.push_back(std::move(b));
      }
      if (std::find(bypassed_.begin(), bypassed_.end(), &list) == bypassed_.end()) bypassed_.push_back(&list);
      continue;
    }
    if (!merges.count(&w)) order.push_back(&w);
    merges[&w].push_back(&item);
  }
  for (const auto* first : dora_first) {
    const auto& t = *first->target;
    const auto w32 = t.weight->to(at::kFloat);
    models::Bypass b;
    b.delta = (apply_in_order(dora_groups[t.weight], w32.clone()) - w32).to(compute);
    (t.linear ? t.linear->bypass : t.conv->bypass).push_back(std::move(b));
  }
  for (at::Tensor* w : order) {
    backups_.emplace_back(w, w->to(at::kCPU, /*non_blocking=*/false, /*copy=*/true));
    w->copy_(apply_in_order(merges[w], w->to(at::kFloat, /*non_blocking=*/false, /*copy=*/true)));
  }
}

void AppliedAdapters::restore() {
  c10::AutoGradMode no_grad(false);
  for (auto& [w, saved] : backups_) w->copy_(saved);
  backups_.clear();
  for (auto* list : bypassed_) list->clear();
  bypassed_.clear();
}

std::size_t AppliedAdapters::backup_bytes() const {
  std::size_t n = 0;
  for (const auto& [w, saved] : backups_) n += saved.nbytes();
  return n;
}

}  // namespace gen::adapters
