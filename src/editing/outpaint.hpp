// gen — outpainting requests: the --outpaint sides and the --outpaint-fill mode, parsed and
// checked, and the extended canvas sized to the VAE's multiple (docs/editing.md#outpainting).
#pragma once

#include <string>

#include "editing/mask_ops.hpp"
#include "editing/matched_noise.hpp"
#include "gen/image.hpp"

namespace gen::editing {

struct OutpaintSides {
  int left = 0, right = 0, top = 0, bottom = 0;
  bool any() const { return left || right || top || bottom; }
};

// "left:L,right:R,top:T,bottom:B", any subset in any order, each 0..4096 pixels, at least one
// above 0. InvalidArgument naming `subject` otherwise.
OutpaintSides parse_outpaint(const std::string& text, const std::string& subject = "outpaint");

struct OutpaintFill {
  Fill fill = Fill::Edge;
  Rgb8 colour = kBlack;
  bool matched = false;          // A1111's outpainting mk2 noise over a black border
  MatchedNoiseOptions matched_options;
};
// "edge", "mirror", "#rrggbb" or "matched[:Q[:C]]" (mk2's fall-off exponent Q in 0..4, default 1,
// and colour variation C in 0..1, default 0.05). InvalidArgument naming `subject` otherwise.
OutpaintFill parse_outpaint_fill(const std::string& text, const std::string& subject = "outpaint_fill");

// The sides grown so that the canvas (width + left + right, height + top + bottom) is a
// multiple of `multiple` in each direction: the extra pixels go to the sides that were asked
// for (right before left, bottom before top). InvalidArgument when the canvas would exceed
// `max_side`.
OutpaintSides round_sides(OutpaintSides s, int width, int height, int multiple, int max_side);

}  // namespace gen::editing
