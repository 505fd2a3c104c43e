#include "editing/outpaint.hpp"

#include <cstdlib>
#include <sstream>
#include <vector>

#include "core/fail.hpp"

namespace gen::editing {

OutpaintSides parse_outpaint(const std::string& text, const std::string& subject) {
  OutpaintSides s;
  std::stringstream in(text);
  std::string part;
  auto bad = [&](const std::string& why) {
    fail(ErrorCode::InvalidArgument, subject, "'" + text + "': " + why + " (left:L,right:R,top:T,bottom:B)");
  };
  while (std::getline(in, part, ',')) {
    const auto colon = part.find(':');
    if (colon == std::string::npos) bad("'" + part + "' has no ':'");
    const std::string side = part.substr(0, colon), value = part.substr(colon + 1);
    char* end = nullptr;
    const long v = std::strtol(value.c_str(), &end, 10);
    if (value.empty() || *end || v < 0 || v > 4096) bad("'" + value + "' is not a number of pixels 0..4096");
    int* slot = side == "left" ? &s.left : side == "right" ? &s.right : side == "top" ? &s.top
              : side == "bottom" ? &s.bottom : nullptr;
    if (!slot) bad("unknown side '" + side + "'");
    *slot = static_cast<int>(v);
  }
  if (!s.any()) bad("no side to extend");
  return s;
}

OutpaintFill parse_outpaint_fill(const std::string& text, const std::string& subject) {
  OutpaintFill f;
  if (text == "edge") return f;
  if (text == "mirror") {
    f.fill = Fill::Mirror;
    return f;
  }
  if (text == "matched" || text.rfind("matched:", 0) == 0) {
    f.fill = Fill::Colour;  // mk2 pastes the image on a black canvas, then fills it
    f.matched = true;
    std::vector<std::string> parts;
    std::stringstream in(text);
    for (std::string part; std::getline(in, part, ':');) parts.push_back(part);
    if (text.back() == ':') parts.push_back("");
    double* slots[] = {&f.matched_options.noise_q, &f.matched_options.color_variation};
    const double limits[] = {4.0, 1.0};
    for (std::size_t k = 1; k < parts.size(); ++k) {
      char* end = nullptr;
      const double v = k < 3 ? std::strtod(parts[k].c_str(), &end) : -1;
      if (k >= 3 || parts[k].empty() || *end || !(v >= 0 && v <= limits[k - 1]))
        fail(ErrorCode::InvalidArgument, subject,
             "'" + text + "': matched takes a fall-off exponent 0..4 and a colour variation 0..1 (matched:Q:C)");
      *slots[k - 1] = v;
    }
    return f;
  }
  if (text.size() == 7 && text[0] == '#') {
    char* end = nullptr;
    const unsigned long v = std::strtoul(text.c_str() + 1, &end, 16);
    if (!*end) {
      f.fill = Fill::Colour;
      f.colour = Rgb8{static_cast<std::uint8_t>(v >> 16), static_cast<std::uint8_t>((v >> 8) & 255),
                      static_cast<std::uint8_t>(v & 255)};
      return f;
    }
  }
  fail(ErrorCode::InvalidArgument, subject, "'" + text + "' is not edge, mirror, matched[:Q[:C]] or a colour #rrggbb");
}

OutpaintSides round_sides(OutpaintSides s, int width, int height, int multiple, int max_side) {
  auto grow = [&](int size, int& first, int& second) {
    const int total = size + first + second;
    const int extra = (multiple - total % multiple) % multiple;
    (second > 0 || first == 0 ? second : first) += extra;
  };
  grow(width, s.left, s.right);
  grow(height, s.top, s.bottom);
  const int w = width + s.left + s.right, h = height + s.top + s.bottom;
  if (w > max_side || h > max_side)
    fail(ErrorCode::InvalidArgument, "outpaint",
         "the canvas would be " + std::to_string(w) + "x" + std::to_string(h) + ", over the " +
             std::to_string(max_side) + "-pixel limit of a side");
  return s;
}

}  // namespace gen::editing
