// Depth Anything V2 as the Hugging Face "-hf" repositories hold it (depth-anything/
// Depth-Anything-V2-{Small,Base,Large}-hf, model.safetensors: transformers'
// DepthAnythingForDepthEstimation, the names transformers 4 and 5 save) renamed to the original
// repository's names, the ones gen's network carries: the inverse of transformers'
// convert_depth_anything_to_hf.py, in one table. transformers 5's in-memory names for the
// attention (q_proj / k_proj / v_proj / o_proj, its conversion_mapping.py's Dinov2Model rules)
// are read too.
#include <ATen/ATen.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "annotators/depth_anything.hpp"
#include "core/fail.hpp"

namespace gen::annotators {

namespace {

// A transformers name → the original's.
struct Rename {
  const char* hf;
  const char* original;
};

// Per transformer block: backbone.encoder.layer.{i}. → pretrained.blocks.{i}.
constexpr Rename kBlock[] = {
    {"norm1.weight", "norm1.weight"},           {"norm1.bias", "norm1.bias"},
    {"norm2.weight", "norm2.weight"},           {"norm2.bias", "norm2.bias"},
    {"layer_scale1.lambda1", "ls1.gamma"},      {"layer_scale2.lambda1", "ls2.gamma"},
    {"mlp.fc1.weight", "mlp.fc1.weight"},       {"mlp.fc1.bias", "mlp.fc1.bias"},
    {"mlp.fc2.weight", "mlp.fc2.weight"},       {"mlp.fc2.bias", "mlp.fc2.bias"},
    {"attention.output.dense.weight", "attn.proj.weight"}, {"attention.output.dense.bias", "attn.proj.bias"},
    {"attention.o_proj.weight", "attn.proj.weight"},       {"attention.o_proj.bias", "attn.proj.bias"},
};

// Whole names.
constexpr Rename kFixed[] = {
    {"backbone.embeddings.cls_token", "pretrained.cls_token"},
    {"backbone.embeddings.mask_token", "pretrained.mask_token"},
    {"backbone.embeddings.position_embeddings", "pretrained.pos_embed"},
    {"backbone.embeddings.patch_embeddings.projection.weight", "pretrained.patch_embed.proj.weight"},
    {"backbone.embeddings.patch_embeddings.projection.bias", "pretrained.patch_embed.proj.bias"},
    {"backbone.layernorm.weight", "pretrained.norm.weight"},
    {"backbone.layernorm.bias", "pretrained.norm.bias"},
    {"head.conv1.weight", "depth_head.scratch.output_conv1.weight"},
    {"head.conv1.bias", "depth_head.scratch.output_conv1.bias"},
    {"head.conv2.weight", "depth_head.scratch.output_conv2.0.weight"},
    {"head.conv2.bias", "depth_head.scratch.output_conv2.0.bias"},
    {"head.conv3.weight", "depth_head.scratch.output_conv2.2.weight"},
    {"head.conv3.bias", "depth_head.scratch.output_conv2.2.bias"},
};

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

// "PREFIX{i}.REST" → {i, REST} for a plain decimal i (no sign, no leading zero) below `limit`;
// {-1, ""} otherwise, so a hostile name falls through to the unknown tensors (no stoi throw).
std::pair<int, std::string> indexed(const std::string& name, const std::string& prefix, int limit) {
  if (!starts_with(name, prefix)) return {-1, ""};
  const auto dot = name.find('.', prefix.size());
  if (dot == std::string::npos) return {-1, ""};
  const std::string digits = name.substr(prefix.size(), dot - prefix.size());
  if (digits.empty() || digits.size() > 4 || digits.find_first_not_of("0123456789") != std::string::npos ||
      (digits.size() > 1 && digits[0] == '0'))
    return {-1, ""};
  const int i = std::stoi(digits);
  return i < limit ? std::pair{i, name.substr(dot + 1)} : std::pair{-1, std::string()};
}

}  // namespace

std::map<std::string, at::Tensor> depth_anything_from_transformers(const std::map<std::string, at::Tensor>& hf,
                                                                   const std::string& subject) {
  std::map<std::string, at::Tensor> out;
  std::vector<std::string> left;  // names no rule took: refused together
  auto put = [&](const std::string& name, at::Tensor t) {
    if (!out.emplace(name, std::move(t)).second)
      fail(ErrorCode::ModelMismatch, subject, "two tensors for " + name + " (both attention naming schemes?)");
  };
  // q, k, v of each block: joined into attn.qkv in that order (the original's fused projection).
  std::map<std::string, std::map<std::string, at::Tensor>> qkv;  // "pretrained.blocks.{i}.attn.qkv.weight" → q/k/v
  for (const auto& [name, t] : hf) {
    bool done = false;
    for (const auto& r : kFixed)
      if (name == r.hf) {
        // The mask token is [1, C] in the original files; some saves keep [1, 1, C].
        put(r.original, name == "backbone.embeddings.mask_token" ? t.reshape({1, t.size(-1)}) : t);
        done = true;
      }
    if (const auto [i, rest] = indexed(name, "backbone.encoder.layer.", 10000); !done && i >= 0) {
      const std::string block = "pretrained.blocks." + std::to_string(i) + ".";
      for (const auto& r : kBlock)
        if (rest == r.hf) put(block + r.original, t), done = true;
      for (const char* part : {"q", "k", "v"})
        for (const char* kind : {"weight", "bias"}) {
          const std::string legacy = std::string("attention.attention.") +
                                     (part[0] == 'q' ? "query" : part[0] == 'k' ? "key" : "value") + "." + kind;
          const std::string v5 = std::string("attention.") + part + "_proj." + kind;
          if (rest == legacy || rest == v5) {
            auto& slot = qkv[block + "attn.qkv." + kind][part];
            if (slot.defined()) fail(ErrorCode::ModelMismatch, subject, "two tensors for " + name);
            slot = t, done = true;
          }
        }
    }
    // neck.reassemble_stage.layers.{i}.projection / .resize → depth_head.projects.{i} / resize_layers.{i}
    if (const auto [i, what] = indexed(name, "neck.reassemble_stage.layers.", 4); !done && i >= 0) {
      const std::string n = std::to_string(i);
      if (starts_with(what, "projection.")) put("depth_head.projects." + n + what.substr(10), t), done = true;
      else if (starts_with(what, "resize.")) put("depth_head.resize_layers." + n + what.substr(6), t), done = true;
    }
    // neck.convs.{i}.weight → depth_head.scratch.layer{i+1}_rn.weight
    if (const auto [i, what] = indexed(name, "neck.convs.", 4); !done && i >= 0 && what == "weight")
      put("depth_head.scratch.layer" + std::to_string(i + 1) + "_rn.weight", t), done = true;
    // neck.fusion_stage.layers.{4 - i} → depth_head.scratch.refinenet{i}: the order reversed
    if (const auto [j, what] = indexed(name, "neck.fusion_stage.layers.", 4); !done && j >= 0) {
      const std::string o = "depth_head.scratch.refinenet" + std::to_string(4 - j) + ".";
      if (starts_with(what, "projection.")) put(o + "out_conv" + what.substr(10), t), done = true;
      for (const char* u : {"1", "2"})
        for (const char* c : {"1", "2"}) {
          const std::string from = std::string("residual_layer") + u + ".convolution" + c + ".";
          if (starts_with(what, from))
            put(o + "resConfUnit" + u + ".conv" + c + "." + what.substr(from.size()), t), done = true;
        }
    }
    if (!done) left.push_back(name);
  }
  for (auto& [name, parts] : qkv) {
    if (parts.size() != 3)
      fail(ErrorCode::ModelMismatch, subject, name + ": the file lacks one of its query, key and value tensors");
    put(name, at::cat({parts["q"], parts["k"], parts["v"]}, 0));
  }
  if (!left.empty()) {
    std::string list;
    for (std::size_t i = 0; i < left.size() && i < 6; ++i) list += (i ? ", " : "") + left[i];
    if (left.size() > 6) list += ", …";
    fail(ErrorCode::ModelMismatch, subject,
         "a transformers Depth Anything file with " + std::to_string(left.size()) + " tensor(s) gen does not know: " + list);
  }
  return out;
}

}  // namespace gen::annotators
