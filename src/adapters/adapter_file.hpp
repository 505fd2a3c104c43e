// gen — adapter files (LoRA, LoCon, LyCORIS LoHa / LoKr / DoRA) as read from disk: the file's
// modules under the file's own names, each with its tensors by role. One reader for every
// layout (docs/adapters-formats.md):
//   kohya     `<module>.lora_down.weight` / `.lora_up.weight` / `.lora_mid.weight` / `.alpha`,
//             LyCORIS `.hada_w1_a` … `.hada_t2`, `.lokr_w1` … `.lokr_t2`, `.dora_scale`, `.diff`
//   peft      `<module>.lora_A.weight` / `.lora_B.weight` (diffusers' save_lora_weights and
//             PEFT's adapter_model.safetensors), lora_alpha from the `lora_adapter_metadata`
//             or an adapter_config.json beside the file, `.alpha` keys (network alphas)
//   diffusers the attention-processor LoRAs before PEFT: `<module>.down.weight` / `.up.weight`
// .safetensors files are read by the strict reader, .pt / .ckpt / .pth / .bin only by the
// non-executing pickle reader. Tensors are kept as float32 on the CPU.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace gen::adapters {

enum class AdapterLayout { Kohya, Peft, DiffusersOld };
enum class AdapterKind { LoRA, LoHa, LoKr, Full };
const char* layout_name(AdapterLayout layout);
const char* kind_name(AdapterKind kind);

struct AdapterModule {
  std::string key;  // the file's module name, e.g. "lora_unet_down_blocks_0_attentions_0_proj_in"
  AdapterKind kind = AdapterKind::LoRA;
  // By role: lora_down, lora_up, lora_mid, hada_w1_a, hada_w1_b, hada_w2_a, hada_w2_b, hada_t1,
  // hada_t2, lokr_w1, lokr_w1_a, lokr_w1_b, lokr_w2, lokr_w2_a, lokr_w2_b, lokr_t2, diff,
  // dora_scale (LyCORIS' DoRA), magnitude (PEFT's DoRA: lora_magnitude_vector, [out]).
  std::map<std::string, at::Tensor> tensors;
  std::optional<double> alpha;
  std::int64_t rank = 0;  // the low-rank dimension; 0 when the module has none (full LoKr, diff)
  bool rs_lora = false;   // PEFT's use_rslora: scale alpha / sqrt(rank)
  bool dora() const { return tensors.count("dora_scale") != 0; }        // LyCORIS' weight decomposition
  bool peft_dora() const { return tensors.count("magnitude") != 0; }    // PEFT's (use_dora=True)
  // The scale of the module's ΔW: alpha / rank (alpha / √rank for rsLoRA); 1 without alpha or rank.
  double scale() const;
};

struct AdapterFile {
  std::string path;
  AdapterLayout layout = AdapterLayout::Kohya;
  std::vector<AdapterModule> modules;
  std::map<std::string, std::string> metadata;
  std::vector<std::string> unknown;  // tensor names that are no adapter role gen knows
  std::uint64_t tensor_bytes = 0;    // as stored
};

// Reads an adapter file. Errors (gen::Error naming the file): NotFound / Io; InvalidFormat (a
// corrupt file, a module without its partner factor, factors whose ranks disagree, a
// non-scalar or non-finite alpha, NaN or infinite values, no adapter module at all);
// UnsafeContent (a pickle holding more than tensors); Unsupported (a dtype).
AdapterFile read_adapter_file(const std::string& path);

// The same from tensors already in memory (`path` names them in messages).
AdapterFile parse_adapter_tensors(const std::string& path, const std::map<std::string, at::Tensor>& tensors,
                                  const std::map<std::string, std::string>& metadata);

}  // namespace gen::adapters
