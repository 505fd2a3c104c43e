// gen — T2I-Adapter files (TencentARC) from their tensor names and shapes alone: torch-free (in
// the gen_io library, so the classifier and `gen inspect` use it). The net is control/t2i_adapter.hpp.
//
// Kinds (diffusers' adapter_type):
//   full      Adapter: PixelUnshuffle(8), conv_in, per level `num_res_blocks` ResnetBlocks (a 1×1
//             in_conv where the channels change, block1 3×3, ReLU, block2 1×1, + x), a 2×2 average
//             pool before every level but the first; one feature per level
//   full_xl   diffusers' FullAdapterXL: PixelUnshuffle(16), the pool only before the third level
//   light     Adapter_light: PixelUnshuffle(8), per level an extractor (pool but on the first,
//             1×1 in_conv to out/4 channels, ResnetBlock_light ×n with 3×3 convs, 1×1 out_conv)
// Layouts:
//   original  TencentARC's .pth names, the module names gen uses: conv_in, body.<k>.in_conv,
//             body.<k>.block1 / block2 (full, k = level · num_res_blocks + block), body.<i>.in_conv,
//             body.<i>.body.<j>.block1 / block2, body.<i>.out_conv (light)
//   diffusers T2IAdapter (folder with config.json, or its weights file): adapter.conv_in,
//             adapter.body.<i>.in_conv, adapter.body.<i>.resnets.<j>.block1 / block2, adapter.body.<i>.out_conv
// The diffusers names are reached through ONE rename table (t2i_adapter_name).
// Original files with `skep` or `down_opt.op` tensors (sk=False / use_conv=True variants, which
// no released adapter uses and diffusers does not convert), the CoAdapter fuser and the style
// adapter are recognised and refused by name.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace gen::control {

enum class T2IKind { Full, FullXL, Light };
enum class T2ILayout { Original, Diffusers };
const char* kind_id(T2IKind kind) noexcept;      // "full_adapter", "full_adapter_xl", "light_adapter"
const char* layout_id(T2ILayout layout) noexcept;  // "original", "diffusers"

struct T2IAdapterConfig {
  T2IKind kind = T2IKind::Full;
  T2ILayout layout = T2ILayout::Original;
  std::string prefix;                  // stripped before the names ("adapter." for diffusers)
  std::int64_t in_channels = 3;        // image channels (1: a grey image, e.g. sketch)
  std::int64_t downscale = 8;          // the pixel-unshuffle factor
  std::int64_t num_res_blocks = 2;
  std::vector<std::int64_t> channels;  // one per level = per feature (light: diffusers' list + its last)

  bool sdxl() const { return kind == T2IKind::FullXL; }
  // Level i: average-pooled by 2 before it (and so its feature is smaller than the one before).
  bool pooled(std::size_t level) const { return kind == T2IKind::FullXL ? level == 2 : level > 0; }
  // "full T2I-Adapter for SD 1.x/2.x, 4 levels (320, 640, 1280, 1280), 2 blocks each, RGB input (original names)"
  std::string summary() const;
};

using ShapeMap = std::map<std::string, std::vector<std::int64_t>>;

// True when the names are a T2I-Adapter's (or a CoAdapter fuser's / style adapter's), in either layout.
bool looks_like_t2i_adapter(const ShapeMap& tensors);
// What a recognised file is that gen does not run ("" for a runnable adapter): the fuser, the style adapter.
std::string t2i_unsupported_kind(const ShapeMap& tensors);

// The configuration from names and shapes; `adapter_type` and `downscale_factor` (a diffusers
// config's; "" and 0 when none) decide the kind of a full adapter and its unshuffle factor
// (else: 8, or 16 and full_adapter_xl when only that fits the first convolution).
// ModelMismatch / Unsupported naming `subject`.
T2IAdapterConfig infer_t2i_adapter(const ShapeMap& tensors, const std::string& subject,
                                   const std::string& adapter_type = "", std::int64_t downscale_factor = 0);

// The checkpoint name of the original-layout parameter `name` in `config`'s layout, without the
// prefix (the one rename table).
std::string t2i_adapter_name(const T2IAdapterConfig& config, const std::string& name);

}  // namespace gen::control
