// gen — the pixel side of editing (docs/editing.md): the init image and mask of a request
// brought to the size that is denoised, and the finished image put back together.
//
//   prepare  read the init image (alpha flattened over white) and the mask (a file, the init
//            image's alpha, inverted); outpainting extends both (the new border is the mask);
//            --inpaint-area masked crops the mask's box plus padding (diffusers'
//            get_crop_region, i.e. padding_mask_crop); then both are fitted to the size as
//            diffusers' VaeImageProcessor does, the mask binarised; --inpaint-fill fill smears
//            colours into the masked area (A1111's masking.fill).
//   finish   with --overlay, --inpaint-area masked or outpainting, the generated image goes
//            back under the init image: diffusers' apply_overlay through the mask, or with
//            --mask-blur A1111's overlay through the blurred mask (doubled for the whole picture).
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <optional>
#include <string>

#include "editing/mask_ops.hpp"
#include "gen/request.hpp"

namespace gen::pipeline {

struct EditImages {
  at::Tensor image;  // [1, 3, H, W] float in [-1, 1] at the request size
  at::Tensor mask;   // [1, 1, H, W] float 0/1 (1 = repaint); undefined without a mask
  Image pixels;      // the 8-bit RGB `image` was made from (a control image for inpaint_only)
  // --inpaint-blend a1111: the 8-bit mask A1111 takes its latent mask from (the binarised mask at
  // the request size, blurred by --mask-blur, not doubled); empty otherwise.
  Image a1111_latent_source;
  // For finish_image (set when the result is put back under the init image).
  bool finish = false;
  Image original;                         // 8-bit RGB: the canvas the result goes back into
  Image overlay_mask;                     // 8-bit grey of original's size (blurred if asked)
  std::optional<editing::CropBox> crop;   // --inpaint-area masked: where the result goes
  bool a1111_overlay = false;             // blurred: A1111's overlay, else diffusers'
};

// The size an outpainting request renders at (the init image extended, rounded up to
// multiples of 8), or nullopt for other requests. `warn` says when the sides were rounded.
std::optional<std::pair<int, int>> outpaint_canvas(const Request& request,
                                                   const std::function<void(const std::string&)>& warn);

// Throws gen::Error naming the input; `warn` gets a line when an input is resized.
EditImages load_edit_images(const Request& request, const std::function<void(const std::string&)>& warn);

// The generated 8-bit RGB image (the request's size) finished as `e` says.
Image finish_image(const EditImages& e, const Image& generated);

}  // namespace gen::pipeline
