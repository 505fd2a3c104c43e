// gen — the synthetic "shapes" data set of the demo model (docs/training.md#the-demo-model): one
// coloured shape (circle, square, triangle) on a plain background, its caption ("a red circle on
// a blue background"), its outline (white on black: the control image of the "fill" task
// ControlNet's authors trained first) and its filled mask (for measuring how well a generated
// image follows the outline). Everything is a function of (seed, index): no library RNG whose
// sequence could change between versions, integer geometry, OpenCV's anti-aliased drawing.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "gen/image.hpp"

namespace gen::training {

struct ShapeColour {
  const char* name;
  std::array<std::uint8_t, 3> rgb;
};
// The palette captions name (index = colour id).
const std::vector<ShapeColour>& shape_palette();
// The shape names (index = shape id).
const std::vector<std::string>& shape_names();

struct ShapeSample {
  int shape = 0, colour = 0, background = 0;  // ids
  int cx = 0, cy = 0, radius = 0, angle = 0;   // pixels; angle in degrees (squares, triangles)
  std::string caption;
  Image image, outline, mask;  // RGB 8-bit, RGB 8-bit (white on black), grey 8-bit (255 inside)
};

// The index-th sample of the set with this seed, `size` pixels square (32..1024).
ShapeSample make_shape_sample(std::uint64_t seed, std::uint64_t index, int size);
// Draws a sample from its parameters (shape, colours, geometry); fills caption and images.
void draw_shape_sample(ShapeSample& s, int size);

// The data set writer is gen::write_shapes_dataset (include/gen/training.hpp).

}  // namespace gen::training
