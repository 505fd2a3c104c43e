#include "models/key_map.hpp"

#include <algorithm>

#include "models/unet.hpp"
#include "models/vae.hpp"

namespace gen::models {
namespace {

// ---------------------------------------------------------------------------------
// The table. Each row relates one LDM module to one module of the other layout, for
// every index tuple its `each` produces. Placeholders: {b} the other layout's block
// (= level for down blocks, levels-1-level for up blocks), {l} the LDM level, {r}
// the resnet/attention within the block, {n} LDM's flat block index, {s} the slot
// of an upsampler inside its LDM output block (1, or 2 after an attention), {k} a
// running index, {p} encoder/decoder.
enum class Each {
  Once,
  Part,        // {p} in encoder, decoder
  DownRes,     // level b, r < L:   n = 1 + b(L+1) + r
  DownAttn,    //   the same, at levels with attention
  Downsample,  // b < levels-1:     n = (b+1)(L+1)
  UpRes,       // up block b, r <= L: l = levels-1-b, n = b(L+1) + r
  UpAttn,      //   the same, at levels with attention
  Upsample,    // b < levels-1:     n = b(L+1) + L, s = 2 with attention else 1
  ZeroConv,    // k < number of input blocks
  HintBlock,   // k < hint blocks:  n = 2k + 2
  HintOut,     //                   n = 2·hint blocks + 2
  Added,       // once, with an added condition (SDXL label_emb)
};
enum class Leaves { None, UNetRes, VaeRes, VaeAttn };

struct Row {
  Each each;
  const char* ldm;
  const char* other;
  Leaves leaves;
};

const Row kUNetRows[] = {
    {Each::Once, "time_embed.0", "time_embedding.linear_1", Leaves::None},
    {Each::Once, "time_embed.2", "time_embedding.linear_2", Leaves::None},
    {Each::Once, "input_blocks.0.0", "conv_in", Leaves::None},
    {Each::Added, "label_emb.0.0", "add_embedding.linear_1", Leaves::None},
    {Each::Added, "label_emb.0.2", "add_embedding.linear_2", Leaves::None},
    {Each::DownRes, "input_blocks.{n}.0", "down_blocks.{b}.resnets.{r}", Leaves::UNetRes},
    {Each::DownAttn, "input_blocks.{n}.1", "down_blocks.{b}.attentions.{r}", Leaves::None},
    {Each::Downsample, "input_blocks.{n}.0.op", "down_blocks.{b}.downsamplers.0.conv", Leaves::None},
    {Each::Once, "middle_block.0", "mid_block.resnets.0", Leaves::UNetRes},
    {Each::Once, "middle_block.1", "mid_block.attentions.0", Leaves::None},
    {Each::Once, "middle_block.2", "mid_block.resnets.1", Leaves::UNetRes},
    {Each::UpRes, "output_blocks.{n}.0", "up_blocks.{b}.resnets.{r}", Leaves::UNetRes},
    {Each::UpAttn, "output_blocks.{n}.1", "up_blocks.{b}.attentions.{r}", Leaves::None},
    {Each::Upsample, "output_blocks.{n}.{s}.conv", "up_blocks.{b}.upsamplers.0.conv", Leaves::None},
    {Each::Once, "out.0", "conv_norm_out", Leaves::None},
    {Each::Once, "out.2", "conv_out", Leaves::None},
};

// ControlNet (cldm.py ↔ ControlNetModel), on top of the UNet encoder rows.
const Row kControlNetRows[] = {
    {Each::Once, "input_hint_block.0", "controlnet_cond_embedding.conv_in", Leaves::None},
    {Each::HintBlock, "input_hint_block.{n}", "controlnet_cond_embedding.blocks.{k}", Leaves::None},
    {Each::HintOut, "input_hint_block.{n}", "controlnet_cond_embedding.conv_out", Leaves::None},
    {Each::ZeroConv, "zero_convs.{k}.0", "controlnet_down_blocks.{k}", Leaves::None},
    {Each::Once, "middle_block_out.0", "controlnet_mid_block", Leaves::None},
};

const Row kVaeRows[] = {
    {Each::Part, "{p}.norm_out", "{p}.conv_norm_out", Leaves::None},
    {Each::Part, "{p}.mid.block_1", "{p}.mid_block.resnets.0", Leaves::VaeRes},
    {Each::Part, "{p}.mid.attn_1", "{p}.mid_block.attentions.0", Leaves::VaeAttn},
    {Each::Part, "{p}.mid.block_2", "{p}.mid_block.resnets.1", Leaves::VaeRes},
    {Each::DownRes, "encoder.down.{l}.block.{r}", "encoder.down_blocks.{b}.resnets.{r}", Leaves::VaeRes},
    {Each::Downsample, "encoder.down.{l}.downsample.conv", "encoder.down_blocks.{b}.downsamplers.0.conv",
     Leaves::None},
    {Each::UpRes, "decoder.up.{l}.block.{r}", "decoder.up_blocks.{b}.resnets.{r}", Leaves::VaeRes},
    {Each::Upsample, "decoder.up.{l}.upsample.conv", "decoder.up_blocks.{b}.upsamplers.0.conv", Leaves::None},
};

// Renames inside a module (LDM leaf → the other layout's spellings, preferred first).
const std::vector<KeyMap::Leaf> kUNetResLeaves = {
    {"in_layers.0", {"norm1"}},   {"in_layers.2", {"conv1"}}, {"emb_layers.1", {"time_emb_proj"}},
    {"out_layers.0", {"norm2"}},  {"out_layers.3", {"conv2"}}, {"skip_connection", {"conv_shortcut"}},
};
const std::vector<KeyMap::Leaf> kVaeResLeaves = {{"nin_shortcut", {"conv_shortcut"}}};
const std::vector<KeyMap::Leaf> kVaeAttnLeaves = {
    {"norm", {"group_norm"}},        {"q", {"to_q", "query"}}, {"k", {"to_k", "key"}},
    {"v", {"to_v", "value"}},        {"proj_out", {"to_out.0", "proj_attn"}},
};
// ---------------------------------------------------------------------------------

const std::vector<KeyMap::Leaf>* leaves_of(Leaves l) {
  switch (l) {
    case Leaves::UNetRes: return &kUNetResLeaves;
    case Leaves::VaeRes: return &kVaeResLeaves;
    case Leaves::VaeAttn: return &kVaeAttnLeaves;
    default: return nullptr;
  }
}

// The block structure the rows are expanded over.
struct Shape {
  std::int64_t levels = 0;
  std::int64_t res = 0;               // resnets per down block (L)
  std::vector<bool> attention;        // per level
  std::int64_t hint_blocks = 0;
  bool added = false;                 // an added condition (label_emb)
};

using Vars = std::map<char, std::string>;

std::string fill(const char* pattern, const Vars& v) {
  std::string out;
  for (const char* c = pattern; *c; ++c) {
    if (*c == '{' && c[1] && c[2] == '}') {
      out += v.at(c[1]);
      c += 2;
    } else {
      out += *c;
    }
  }
  return out;
}

void expand(KeyMap& map, const Row* begin, const Row* end, const Shape& s) {
  const auto L = s.res;
  auto emit = [&](const Row& row, const Vars& v) {
    map.add(fill(row.ldm, v), KeyMap::Target{fill(row.other, v), leaves_of(row.leaves)});
  };
  auto str = [](std::int64_t i) { return std::to_string(i); };
  for (const Row* row = begin; row != end; ++row) {
    switch (row->each) {
      case Each::Once: emit(*row, {}); break;
      case Each::Added:
        if (s.added) emit(*row, {});
        break;
      case Each::Part:
        emit(*row, {{'p', "encoder"}});
        emit(*row, {{'p', "decoder"}});
        break;
      case Each::DownRes:
      case Each::DownAttn:
        for (std::int64_t b = 0; b < s.levels; ++b) {
          if (row->each == Each::DownAttn && !s.attention[b]) continue;
          for (std::int64_t r = 0; r < L; ++r)
            emit(*row, {{'b', str(b)}, {'l', str(b)}, {'r', str(r)}, {'n', str(1 + b * (L + 1) + r)}});
        }
        break;
      case Each::Downsample:
        for (std::int64_t b = 0; b + 1 < s.levels; ++b)
          emit(*row, {{'b', str(b)}, {'l', str(b)}, {'n', str((b + 1) * (L + 1))}});
        break;
      case Each::UpRes:
      case Each::UpAttn:
        for (std::int64_t b = 0; b < s.levels; ++b) {
          const auto l = s.levels - 1 - b;
          if (row->each == Each::UpAttn && !s.attention[l]) continue;
          for (std::int64_t r = 0; r <= L; ++r)
            emit(*row, {{'b', str(b)}, {'l', str(l)}, {'r', str(r)}, {'n', str(b * (L + 1) + r)}});
        }
        break;
      case Each::Upsample:
        for (std::int64_t b = 0; b + 1 < s.levels; ++b) {
          const auto l = s.levels - 1 - b;
          emit(*row, {{'b', str(b)}, {'l', str(l)}, {'n', str(b * (L + 1) + L)}, {'s', s.attention[l] ? "2" : "1"}});
        }
        break;
      case Each::ZeroConv:
        for (std::int64_t k = 0; k < 1 + s.levels * (L + 1) - 1; ++k) emit(*row, {{'k', str(k)}});
        break;
      case Each::HintBlock:
        for (std::int64_t k = 0; k < s.hint_blocks; ++k) emit(*row, {{'k', str(k)}, {'n', str(2 * k + 2)}});
        break;
      case Each::HintOut: emit(*row, {{'n', str(2 * s.hint_blocks + 2)}}); break;
    }
  }
}

bool starts_with_part(const std::string& s, const std::string& head) {
  return s.size() >= head.size() && s.compare(0, head.size(), head) == 0 &&
         (s.size() == head.size() || s[head.size()] == '.');
}

}  // namespace

void KeyMap::add(std::string ldm_module, Target target) {
  reverse_[target.other] = ldm_module;
  modules_[std::move(ldm_module)] = std::move(target);
}

std::vector<std::string> KeyMap::candidates(const std::string& name) const {
  // The longest mapped module path that `name` starts with.
  for (auto cut = name.rfind('.'); cut != std::string::npos && cut > 0; cut = name.rfind('.', cut - 1)) {
    auto it = modules_.find(name.substr(0, cut));
    if (it == modules_.end()) continue;
    const std::string rest = name.substr(cut + 1);
    if (it->second.leaves)
      for (const auto& leaf : *it->second.leaves)
        if (starts_with_part(rest, leaf.ldm)) {
          std::vector<std::string> out;
          for (const auto& o : leaf.other) out.push_back(it->second.other + "." + o + rest.substr(leaf.ldm.size()));
          return out;
        }
    return {it->second.other + "." + rest};
  }
  return {name};
}

std::string KeyMap::to_ldm(const std::string& name) const {
  for (auto cut = name.rfind('.'); cut != std::string::npos && cut > 0; cut = name.rfind('.', cut - 1)) {
    auto it = reverse_.find(name.substr(0, cut));
    if (it == reverse_.end()) continue;
    const auto& target = modules_.at(it->second);
    const std::string rest = name.substr(cut + 1);
    if (target.leaves)
      for (const auto& leaf : *target.leaves)
        for (const auto& o : leaf.other)
          if (starts_with_part(rest, o)) return it->second + "." + leaf.ldm + rest.substr(o.size());
    return it->second + "." + rest;
  }
  return name;
}

std::function<std::string(const std::string&)> KeyMap::renamer(const SafetensorsCheckpoint& ckpt,
                                                               const std::string& prefix) const {
  return [map = *this, &ckpt, prefix](const std::string& name) {
    auto c = map.candidates(name);
    for (const auto& n : c)
      if (ckpt.contains(prefix + n)) return n;
    return c.front();
  };
}

KeyMap unet_key_map(const UNetConfig& c, std::int64_t hint_blocks) {
  Shape s;
  s.levels = static_cast<std::int64_t>(c.levels());
  s.res = c.num_res_blocks;
  for (std::int64_t l = 0; l < s.levels; ++l) s.attention.push_back(c.has_attention(static_cast<std::size_t>(l)));
  s.hint_blocks = hint_blocks;
  s.added = c.adm_in_channels > 0;
  KeyMap map;
  expand(map, std::begin(kUNetRows), std::end(kUNetRows), s);
  if (hint_blocks > 0) expand(map, std::begin(kControlNetRows), std::end(kControlNetRows), s);
  return map;
}

KeyMap vae_key_map(const VaeConfig& c) {
  Shape s;
  s.levels = static_cast<std::int64_t>(c.levels());
  s.res = c.num_res_blocks;
  s.attention.assign(s.levels, false);
  KeyMap map;
  expand(map, std::begin(kVaeRows), std::end(kVaeRows), s);
  return map;
}

}  // namespace gen::models
