#include "models/sdxl_text.hpp"

#include <ATen/ATen.h>

#include "core/fail.hpp"

namespace gen::models {

SdxlText encode_sdxl_text(const ClipTextModel* first, const ClipTextModel& second, const at::Tensor& ids1,
                          const at::Tensor& ids2, std::int64_t clip_skip, at::ScalarType dtype,
                          const std::vector<TokenOverride>& overrides2) {
  if (second.config().projection_dim <= 0)
    fail(ErrorCode::InvalidArgument, "text encoder 2", "SDXL's second text encoder needs its text_projection");
  if (clip_skip < 0) fail(ErrorCode::InvalidArgument, "text encoder", "clip skip must not be negative");
  auto two = second.encode(ids2, clip_skip + 1, true, dtype, overrides2);
  SdxlText out;
  out.pooled = two.pooled;
  if (!first) {
    out.context = two.hidden;
    return out;
  }
  if (ids1.dim() != 2 || ids2.dim() != 2 || ids1.size(0) != ids2.size(0) || ids1.size(1) != ids2.size(1))
    fail(ErrorCode::InvalidArgument, "text encoder", "the two SDXL text encoders need token ids of the same shape");
  auto one = first->encode(ids1, clip_skip + 1, false, dtype);
  out.context = at::cat({one.hidden, two.hidden.to(one.hidden.scalar_type())}, -1);
  return out;
}

}  // namespace gen::models
