#include "arch/config_bounds.hpp"

#include <cmath>
#include <cstdio>
#include <vector>

#include "core/fail.hpp"

namespace gen::arch {
namespace {

using std::int64_t;

void range(const std::string& subject, const std::string& key, double v, double lo, double hi) {
  if (!(v >= lo && v <= hi)) {  // NaN fails too
    char text[64];
    std::snprintf(text, sizeof text, "%.17g", v);
    fail(ErrorCode::InvalidFormat, subject,
         key + " = " + text + " is out of range (" + std::to_string(static_cast<int64_t>(lo)) + " to " +
             std::to_string(static_cast<int64_t>(hi)) + "; no real model goes beyond)");
  }
}

void each(const std::string& subject, const std::string& key, const std::vector<int64_t>& v, double lo, double hi) {
  for (std::size_t i = 0; i < v.size(); ++i) range(subject, key + "[" + std::to_string(i) + "]", double(v[i]), lo, hi);
}

void groups_divide(const std::string& subject, int64_t groups, const std::vector<int64_t>& channels) {
  range(subject, "norm_num_groups", double(groups), 1, 1024);
  for (const int64_t c : channels)
    if (c % groups != 0)
      fail(ErrorCode::InvalidFormat, subject,
           "norm_num_groups = " + std::to_string(groups) + " does not divide the " + std::to_string(c) +
               " channels of a level (GroupNorm needs whole groups)");
}

constexpr double kMaxChannels = 16384, kMaxLevels = 8, kMaxLayers = 16, kMaxDepth = 64, kMaxHeads = 1024;

}  // namespace

void check_bounds(const models::UNetConfig& c, const std::string& subject) {
  range(subject, "in_channels", double(c.in_channels), 1, 64);
  range(subject, "out_channels", double(c.out_channels), 1, 64);
  range(subject, "block_out_channels (levels)", double(c.block_channels.size()), 1, kMaxLevels);
  range(subject, "block_out_channels[0] (conv_in)", double(c.model_channels), 1, kMaxChannels);
  each(subject, "block_out_channels", c.block_channels, 1, kMaxChannels);
  range(subject, "layers_per_block", double(c.num_res_blocks), 1, kMaxLayers);
  range(subject, "transformer_layers_per_block", double(c.transformer_depth), 0, kMaxDepth);
  each(subject, "transformer_layers_per_block", c.level_depth, 0, kMaxDepth);
  each(subject, "reverse_transformer_layers_per_block", c.up_level_depth, 0, kMaxDepth);
  range(subject, "transformer_layers_per_block (middle)", double(c.mid_depth), 0, kMaxDepth);
  each(subject, "attention_head_dim", c.level_heads, 1, kMaxHeads);
  if (c.num_head_channels > 0) range(subject, "attention_head_dim", double(c.num_head_channels), 1, kMaxChannels);
  else range(subject, "num_attention_heads", double(c.num_heads), 1, kMaxHeads);
  range(subject, "cross_attention_dim", double(c.context_dim), 1, kMaxChannels);
  std::vector<int64_t> channels = c.block_channels;
  channels.push_back(c.model_channels);
  groups_divide(subject, c.norm_groups, channels);
}

void check_bounds(const models::VaeConfig& c, const std::string& subject) {
  range(subject, "in_channels", double(c.in_channels), 1, 64);
  range(subject, "out_channels", double(c.out_channels), 1, 64);
  range(subject, "latent_channels", double(c.latent_channels), 1, 64);
  range(subject, "block_out_channels (levels)", double(c.block_channels.size()), 1, kMaxLevels);
  each(subject, "block_out_channels", c.block_channels, 1, kMaxChannels);
  range(subject, "layers_per_block", double(c.num_res_blocks), 1, kMaxLayers);
  range(subject, "scaling_factor", c.scaling_factor, 1e-6, 1e6);
  groups_divide(subject, c.norm_groups, c.block_channels);
}

void check_bounds(const models::ClipTextConfig& c, const std::string& subject) {
  range(subject, "vocab_size", double(c.vocab_size), 1, 1 << 20);
  range(subject, "max_position_embeddings", double(c.max_positions), 1, 8192);
  range(subject, "hidden_size", double(c.width), 1, kMaxChannels);
  range(subject, "num_hidden_layers", double(c.layers), 1, 128);
  range(subject, "num_attention_heads", double(c.heads), 1, kMaxHeads);
  range(subject, "intermediate_size", double(c.ff_dim), 1, 4 * kMaxChannels);
  if (c.width % c.heads != 0)
    fail(ErrorCode::InvalidFormat, subject,
         "hidden_size = " + std::to_string(c.width) + " is not a multiple of num_attention_heads = " +
             std::to_string(c.heads));
  if (!(c.eps > 0 && c.eps < 1)) fail(ErrorCode::InvalidFormat, subject, "layer_norm_eps must be between 0 and 1");
}

double min_weights(const models::UNetConfig& c, bool encoder_only) {
  double n = 0;
  const std::size_t levels = c.block_channels.size();
  for (std::size_t l = 0; l < levels; ++l) {
    const double ch = double(c.block_channels[l]);
    const double conv = 9 * ch * ch;  // each resnet's second 3×3 convolution
    const double attn = 4 * ch * ch;  // each transformer's self-attention q, k, v, out
    const bool has_attn = c.has_attention(l);
    n += double(c.num_res_blocks) * (conv + (has_attn ? double(c.depth_down(l)) * attn : 0));
    if (!encoder_only)
      n += double(c.num_res_blocks + 1) * (conv + (has_attn ? double(c.depth_up(l)) * attn : 0));
  }
  const double last = levels ? double(c.block_channels.back()) : 0;
  n += 2 * 9 * last * last + double(c.depth_mid()) * 4 * last * last;  // the middle block
  return n;
}

double min_weights(const models::VaeConfig& c) {
  double n = 0;
  for (const int64_t ch : c.block_channels)  // encoder: layers_per_block resnets, decoder: one more
    n += double(2 * c.num_res_blocks + 1) * 9 * double(ch) * double(ch);
  const double last = c.block_channels.empty() ? 0 : double(c.block_channels.back());
  return n + 4 * 9 * last * last;  // two resnets in each middle block
}

double min_weights(const models::ClipTextConfig& c) {
  const double w = double(c.width);
  return double(c.layers) * (4 * w * w + 2 * w * double(c.ff_dim)) + double(c.vocab_size) * w;
}

void check_weights_fit(double needed, std::uint64_t held, const std::string& subject, const std::string& weights) {
  if (needed <= double(held)) return;
  char text[160];
  std::snprintf(text, sizeof text, "describes a model of at least %.3g weights, but %s holds %.3g", needed, "%s",
                double(held));
  std::string what = text;
  what.replace(what.find("%s"), 2, weights);
  fail(ErrorCode::InvalidFormat, subject,
       what + ": the config does not belong to these weights (refused before anything is allocated)");
}

}  // namespace gen::arch
