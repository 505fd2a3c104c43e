// gen — applying adapter files to loaded models, and taking them off again bit for bit.
//
// Two strategies (docs/adapters.md):
//   merge       W ← W + m·ΔW in the weights (A1111's default, diffusers' fuse_lora); each
//               touched weight is first copied to host memory, and copied back to take the
//               adapters off, so the base weights return bit for bit without reading the
//               model file again. The step then costs what it did without adapters.
//   on the fly  y ← layer(x) + m·s·up(down(x)) (kohya's and PEFT's forward); nothing copied,
//               switching is free, each step pays the low-rank products. LoHa / LoKr / DoRA
//               modules run on the fly as their full ΔW (a layer with a PEFT DoRA module: the
//               change of all its modules together, as PEFT's forward); a target that is not a layer (the
//               fused OpenCLIP in-projection, the bare conv_in) is merged either way.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "adapters/adapter_file.hpp"
#include "adapters/lora_targets.hpp"

namespace gen::adapters {

enum class LoraStrategy { Merge, OnTheFly };

// One adapter file as a request uses it.
struct LoraUse {
  std::shared_ptr<const AdapterFile> file;
  std::string name;        // how messages and the infotext name it (the file's stem)
  double unet = 1.0;       // multiplier of UNet and ControlNet modules
  double te = 1.0;         // multiplier of text-encoder modules
};

struct LoraPlan {
  struct Item {
    const Target* target;
    const AdapterModule* module;
    double multiplier;
  };
  std::vector<Item> items;          // in the order of the uses and of each file's modules
  std::vector<std::string> unmatched;  // "name: module key" of modules with no target
};

// Where each module of each use goes in `index`. Modules with no target are listed, not
// applied. Throws ModelMismatch naming the file and module when a module's weight change
// cannot have its target's shape (e.g. a LoRA made for another model family).
LoraPlan plan_loras(const std::vector<LoraUse>& uses, const TargetIndex& index);

// The adapters applied to one set of models.
class AppliedAdapters {
 public:
  AppliedAdapters() = default;
  AppliedAdapters(const AppliedAdapters&) = delete;
  AppliedAdapters& operator=(const AppliedAdapters&) = delete;
  ~AppliedAdapters() = default;  // the models go with it: nothing to restore

  // Makes the targets carry exactly `plan` (what was applied before is taken off first).
  // `compute`: the dtype the layers compute in (on-the-fly factors are kept in it).
  void apply(const LoraPlan& plan, LoraStrategy strategy, at::ScalarType compute);
  // Takes everything off: the weights as loaded, bit for bit; no bypasses.
  void restore();
  // Host bytes held to restore merged weights.
  std::size_t backup_bytes() const;
  std::size_t merged_weights() const { return backups_.size(); }
  std::size_t bypassed_layers() const { return bypassed_.size(); }

 private:
  std::vector<std::pair<at::Tensor*, at::Tensor>> backups_;  // weight → its value as loaded
  std::vector<std::vector<models::Bypass>*> bypassed_;
};

}  // namespace gen::adapters
