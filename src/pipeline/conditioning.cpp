#include "pipeline/conditioning.hpp"

#include <ATen/ATen.h>

#include <algorithm>

namespace gen::pipeline {

at::Tensor encode_tokens(const TextEncoder& enc, const text::PromptTokens& tokens) {
  const auto& model = *enc.model;
  auto device = c10::Device(c10::kCPU);
  at::ScalarType dtype = at::kFloat;
  // The model's device (and dtype, unless given) are those of its (first) parameter.
  bool found = false;
  const_cast<models::ClipTextModel&>(model).visit([&](const std::string&, models::Module::Param& p) {
    if (!found && p.value.defined()) {
      device = p.value.device();
      dtype = p.value.scalar_type();
      found = true;
    }
  });
  if (enc.dtype != at::ScalarType::Undefined) dtype = enc.dtype;
  if (enc.device) device = *enc.device;
  const auto k = tokens.windows, w = text::PromptTokens::kWindow;
  auto ids = at::tensor(std::vector<std::int64_t>(tokens.ids.begin(), tokens.ids.end()), at::kLong)
                 .view({k, w})
                 .to(device);
  auto z = model.forward(ids, enc.skip, dtype);  // [k, 77, C], each window separately
  const bool weighted = std::any_of(tokens.weights.begin(), tokens.weights.end(), [](float v) { return v != 1.0f; });
  if (weighted) {
    auto weights = at::tensor(tokens.weights, at::kFloat).view({k, w, 1}).to(device);
    auto zf = z.to(at::kFloat);
    auto m0 = zf.mean({1, 2}, true);
    zf = zf * weights;
    zf = zf * (m0 / zf.mean({1, 2}, true));
    z = zf.to(dtype);
  }
  return z.reshape({1, k * w, z.size(2)}).to(dtype);
}

std::pair<at::Tensor, at::Tensor> encode_prompts(const TextEncoder& enc, const std::string& prompt,
                                                 const std::string& negative) {
  text::PromptOptions opt;
  opt.padding = enc.padding;
  opt.emphasis = enc.emphasis;
  if (!enc.emphasis) opt.comma_backtrack = 0;
  auto pos = text::tokenize_prompt(*enc.tokenizer, prompt, opt);
  auto neg = text::tokenize_prompt(*enc.tokenizer, negative, opt);
  if (!enc.emphasis) {  // plain text, as diffusers: one 77-token window, the rest truncated
    for (auto* t : {&pos, &neg}) {
      t->windows = 1;
      t->ids.resize(text::PromptTokens::kWindow);
      t->weights.resize(text::PromptTokens::kWindow);
    }
  }
  const int k = std::max(pos.windows, neg.windows);
  text::pad_windows(pos, k, *enc.tokenizer, enc.padding);
  text::pad_windows(neg, k, *enc.tokenizer, enc.padding);
  return {encode_tokens(enc, neg), encode_tokens(enc, pos)};
}

}  // namespace gen::pipeline
