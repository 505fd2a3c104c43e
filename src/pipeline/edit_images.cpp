#include "pipeline/edit_images.hpp"

#include <ATen/ATen.h>

#include "core/fail.hpp"
#include "editing/a1111_mask.hpp"
#include "editing/outpaint.hpp"
#include "editing/pil_ops.hpp"

namespace gen::pipeline {
namespace {

// The request's resize mode as diffusers' VaeImageProcessor resize_mode: just = "default"
// (Lanczos to the size), crop, fill (margins stretched with Pillow's bicubic, as diffusers does:
// docs/masks.md).
editing::ResizeMode resize_of(ResizeMode m) {
  return m == ResizeMode::Crop ? editing::ResizeMode::Crop
         : m == ResizeMode::Fill ? editing::ResizeMode::Fill
                                 : editing::ResizeMode::Default;
}

at::Tensor to_tensor(const Image& img) {  // 8-bit, HWC → [1, C, H, W] float in [0, 1]
  auto t = at::from_blob(const_cast<std::uint8_t*>(img.data8.data()), {img.height, img.width, img.channels}, at::kByte);
  return t.permute({2, 0, 1}).unsqueeze(0).to(at::kFloat).div(255.0).contiguous();
}

std::string size_text(int w, int h) { return std::to_string(w) + "x" + std::to_string(h); }

Image read_init(const Request& r) { return r.init_pixels.empty() ? read_image(r.init_image) : r.init_pixels; }

}  // namespace

std::optional<std::pair<int, int>> outpaint_canvas(const Request& r,
                                                   const std::function<void(const std::string&)>& warn) {
  if (r.outpaint.empty()) return std::nullopt;
  const Image init = read_init(r);
  const auto asked = editing::parse_outpaint(r.outpaint);
  const auto s = editing::round_sides(asked, init.width, init.height, 8, 16384);
  const int w = init.width + s.left + s.right, h = init.height + s.top + s.bottom;
  if (warn && (s.left != asked.left || s.right != asked.right || s.top != asked.top || s.bottom != asked.bottom))
    warn("outpaint: the canvas is " + size_text(w, h) + " (sides left:" + std::to_string(s.left) + ",right:" +
         std::to_string(s.right) + ",top:" + std::to_string(s.top) + ",bottom:" + std::to_string(s.bottom) +
         ", rounded up to multiples of 8)");
  return std::make_pair(w, h);
}

EditImages load_edit_images(const Request& r, const std::function<void(const std::string&)>& warn) {
  EditImages out;
  const std::string image_name = r.init_pixels.empty() ? r.init_image : "init_pixels";
  const Image init = read_init(r);
  if (warn && r.outpaint.empty() && r.inpaint_area == InpaintArea::Whole &&
      (init.width != r.width || init.height != r.height))
    warn("init image " + image_name + " is " + size_text(init.width, init.height) + ": resized to " +
         size_text(r.width, r.height) + " (" + name_of(r.init_resize) + ")");
  if (warn && init.has_alpha() && !r.mask_from_alpha)
    warn("init image " + image_name + " has transparency: composited over white (--mask-from-alpha uses it as the mask)");
  Image rgb = to_rgb8(init);
  auto mode = resize_of(r.init_resize);

  // The mask at its own size: the outpainting border, the init image's alpha, or a file
  // (diffusers resizes a mask as given and takes its grey afterwards).
  Image mask;
  std::string mask_name;
  if (!r.outpaint.empty()) {
    const auto s = editing::round_sides(editing::parse_outpaint(r.outpaint), rgb.width, rgb.height, 8, 16384);
    const auto fill = editing::parse_outpaint_fill(r.outpaint_fill);
    mask = editing::extend_canvas_mask(rgb.width, rgb.height, s.left, s.right, s.top, s.bottom);
    rgb = editing::extend_canvas(rgb, s.left, s.right, s.top, s.bottom, fill.fill, fill.colour);
    if (fill.matched) rgb = editing::matched_noise_fill(rgb, mask, fill.matched_options);
    mask_name = "outpaint";
  } else if (r.mask_from_alpha) {
    mask_name = image_name;
    mask = editing::mask_from_image(init, true, r.invert_mask, image_name);
  } else if (r.has_mask()) {
    mask_name = r.mask_pixels.empty() ? r.mask : "mask_pixels";
    mask = r.mask_pixels.empty() ? read_image(r.mask) : r.mask_pixels;
    mask = r.invert_mask ? editing::mask_from_image(mask, false, true, mask_name) : to_8bit(mask);
  }
  if (mask.empty()) {
    out.pixels = editing::preprocess_image(rgb, r.width, r.height, mode, nullptr, 8, image_name);
    out.image = to_tensor(out.pixels) * 2.0 - 1.0;
    return out;
  }
  if (warn && r.outpaint.empty() && !r.mask_from_alpha && (mask.width != init.width || mask.height != init.height))
    warn("mask " + mask_name + " is " + size_text(mask.width, mask.height) + ", the init image " +
         size_text(init.width, init.height) + ": " +
         (r.inpaint_area == InpaintArea::Masked ? "resized to the init image's size" : "both resized to the output size"));

  // --inpaint-area masked: the mask's box plus padding, at the output's aspect (diffusers'
  // padding_mask_crop); both images are cropped to it and fitted with resize mode "fill".
  const editing::CropBox* crop = nullptr;
  if (r.inpaint_area == InpaintArea::Masked) {
    if (mask.width != rgb.width || mask.height != rgb.height)
      mask = editing::resize_mode(mask, rgb.width, rgb.height, editing::ResizeMode::Default, mask_name);
    out.crop = editing::crop_region(mask, r.width, r.height, r.mask_padding, mask_name);
    crop = &*out.crop;
    mode = editing::ResizeMode::Fill;
  }
  Image pixels = editing::preprocess_image(rgb, r.width, r.height, mode, crop, 8, image_name);
  const Image binary = editing::preprocess_mask(mask, r.width, r.height, mode, crop, 8, mask_name);
  bool any = false;
  for (auto v : binary.data8) any |= v != 0;
  if (!any)
    fail(ErrorCode::InvalidArgument, mask_name,
         std::string("the mask is all black: nothing to repaint") + (r.invert_mask ? " (after --invert-mask)" : "") +
             "; white marks what is repainted");
  if (r.inpaint_fill == InpaintFill::Fill) pixels = editing::a1111_fill(pixels, binary);
  out.image = to_tensor(pixels) * 2.0 - 1.0;
  out.pixels = pixels;
  out.mask = to_tensor(binary).gt(0.5).to(at::kFloat);
  if (r.inpaint_blend == InpaintBlend::A1111) {
    out.a1111_latent_source = editing::pil_to_l(binary, mask_name);
    if (r.mask_blur > 0)
      out.a1111_latent_source = editing::a1111_mask_blur(out.a1111_latent_source, r.mask_blur, r.mask_blur, mask_name);
  }

  // What finish_image needs.
  if (!(r.overlay || crop || !r.outpaint.empty())) return out;
  out.finish = true;
  if (crop) {  // back into the whole init image, through its mask
    out.original = rgb;
    out.overlay_mask = editing::pil_to_l(mask, mask_name);
  } else {  // over the resized init image, through the mask at the output size
    out.original = pixels;
    out.overlay_mask = editing::pil_to_l(editing::resize_mode(mask, r.width, r.height, mode, mask_name), mask_name);
  }
  if (r.mask_blur > 0) {  // A1111: the blurred mask (doubled for the whole picture)
    out.overlay_mask = editing::a1111_mask_blur(out.overlay_mask, r.mask_blur, r.mask_blur, mask_name);
    if (!crop) out.overlay_mask = editing::a1111_whole_picture_overlay_mask(out.overlay_mask, mask_name);
    out.a1111_overlay = true;
  }
  return out;
}

Image finish_image(const EditImages& e, const Image& generated) {
  if (!e.finish) return generated;
  const editing::CropBox* crop = e.crop ? &*e.crop : nullptr;
  if (e.a1111_overlay)
    return editing::a1111_apply_overlay(generated, editing::masked_original(e.overlay_mask, e.original), crop);
  return editing::apply_overlay(e.overlay_mask, e.original, generated, crop);
}

}  // namespace gen::pipeline
