#!/usr/bin/env bash
# Editing through the `gen` CLI (docs/editing.md): the inputs gen must accept (an init image of
# another size, 16-bit, with alpha; a mask of another size; the mask from the alpha channel; an
# inpainting UNet in an LDM single file) and the bad ones, each failing with one line naming the
# input, the exit code of docs/errors.md and nothing written. Parity with diffusers:
# test_edit_parity.sh.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cases.sh"
: "${GEN_SRC:?}" "${GEN_PYTHON:?GEN_PYTHON must point to the project venv python}"
make_tiny_models
O=$GEN_TMP/out I=$GEN_TMP/images
SD=$M/tiny-sd15.safetensors
mkdir -p "$I"
"$GEN_PYTHON" - "$I" "$SD" "$P" <<'PY' || { bad "making the images failed"; finish; }
import sys, numpy as np, torch
from PIL import Image
from safetensors.torch import load_file, save_file
d = sys.argv[1]
rng = np.random.default_rng(5)
rgb = (rng.random((64, 64, 3)) * 255).astype(np.uint8)
Image.fromarray(rgb).save(f"{d}/init.png")
Image.fromarray((rng.random((40, 90, 3)) * 255).astype(np.uint8)).save(f"{d}/init-90x40.png")
Image.fromarray(np.zeros((8, 8300, 3), np.uint8)).save(f"{d}/init-8300x8.png")
Image.fromarray((rng.random((64, 64)) * 65535).astype(np.uint16)).save(f"{d}/init-16bit.png")
rgba = np.dstack([rgb, np.full((64, 64), 255, np.uint8)])
rgba[20:40, 20:40, 3] = 0  # a transparent hole: the alpha mask repaints it
Image.fromarray(rgba, "RGBA").save(f"{d}/init-alpha.png")
mask = np.zeros((64, 64), np.uint8)
mask[16:48, 16:48] = 255
Image.fromarray(mask).save(f"{d}/mask.png")
Image.fromarray(np.zeros((64, 64), np.uint8)).save(f"{d}/black.png")
Image.fromarray(np.full((30, 50), 255, np.uint8)).save(f"{d}/mask-50x30.png")
open(f"{d}/not-an-image.png", "w").write("hello")
# An inpainting UNet as an LDM single file: conv_in takes 9 channels.
sd = load_file(sys.argv[2])
k = "model.diffusion_model.input_blocks.0.0.weight"
w = sd[k]
sd[k] = torch.cat([w, 0.1 * torch.randn(w.shape[0], 5, *w.shape[2:], generator=torch.Generator().manual_seed(1))], 1)
save_file(sd, f"{d}/inpainting.safetensors")
# The same as a diffusers folder (a copy of the tiny pipeline with a 9-channel conv_in).
import glob, json, os, shutil
shutil.copytree(sys.argv[3], f"{d}/inpainting-folder")
cfg_path = f"{d}/inpainting-folder/unet/config.json"
cfg = json.load(open(cfg_path)); cfg["in_channels"] = 9; json.dump(cfg, open(cfg_path, "w"))
wf = glob.glob(f"{d}/inpainting-folder/unet/*.safetensors")[0]
u = load_file(wf)
w = u["conv_in.weight"]
u["conv_in.weight"] = torch.cat([w, 0.1 * torch.randn(w.shape[0], 5, *w.shape[2:], generator=torch.Generator().manual_seed(1))], 1)
save_file(u, wf)
PY
init=(-i "$I/init.png")
mkdir -p "$O"

works "img2img" 64 64 -- arg "${init[@]}" --steps 4 --strength 0.5
works "img2img with --init-img (A1111's and stable-diffusion.cpp's spelling)" 64 64 -- \
  arg --init-img "$I/init.png" --steps 4 --strength 0.5
works "img2img from an init image of another size (resized, said)" 64 64 -- arg -i "$I/init-90x40.png" --steps 2
works "img2img without -W/-H: the init image's size rounded down to 8 (90x40 → 88x40)" 88 40 -- \
  gen_t -p x -m "$P" --steps 2 --seed 1 -q -i "$I/init-90x40.png" -o "$O/out.png"
works "img2img, crop resize" 64 64 -- arg -i "$I/init-90x40.png" --init-resize crop --steps 2
works "img2img from a 16-bit init image" 64 64 -- arg -i "$I/init-16bit.png" --steps 2
for sampler in ddim euler euler_a heun lms dpmpp_2m dpmpp_2m_sde unipc lcm; do  # (pndm: test_edit_parity.sh)
  works "img2img and inpainting with $sampler" 64 64 -- arg "${init[@]}" --mask "$I/mask.png" --steps 4 --strength 0.5 --sampler $sampler
done
works "img2img, A1111 step count" 64 64 -- arg "${init[@]}" --steps 4 --strength 0.3 --strength-steps a1111
works "img2img, A1111 fixed steps" 64 64 -- arg "${init[@]}" --steps 2 --strength 0.5 --strength-steps a1111_fixed
works "inpainting (4-channel UNet)" 64 64 -- arg "${init[@]}" --mask "$I/mask.png" --steps 2 --strength 1
works "inpainting, inverted mask" 64 64 -- arg "${init[@]}" --mask "$I/mask.png" --invert-mask --steps 2
works "inpainting, a mask of another size (resized, said)" 64 64 -- \
  arg "${init[@]}" --mask "$I/mask-50x30.png" --steps 2
works "inpainting, the mask from the init image's alpha" 64 64 -- \
  arg -i "$I/init-alpha.png" --mask-from-alpha --steps 2
works "an inpainting UNet (9 channels)" 64 64 -- \
  arg -m "$I/inpainting-folder" "${init[@]}" --mask "$I/mask.png" --steps 2 --strength 1

# ControlNet 1.1 inpaint and tile preprocessors.
works "ControlNet inpaint_only (the init image masked, no control image)" 64 64 -- \
  arg "${init[@]}" --mask "$I/mask.png" --steps 2 --strength 1 --control "$M/diffusers/tiny-controlnet" --preprocess inpaint_only
works "ControlNet tile_resample with img2img" 64 64 -- \
  arg "${init[@]}" --steps 4 --strength 0.5 --control "$M/diffusers/tiny-controlnet" --control-image "$I/init.png" \
  --preprocess tile_resample:2

# Outpainting: the canvas grows (rounded up to multiples of 8, said), the border is painted and
# the original pixels are put back unchanged (the overlay through the unblurred mask).
works "outpainting 64x64 by left:10,right:20,top:5 → 96x72" 96 72 -- \
  arg "${init[@]}" --outpaint left:10,right:20,top:5 --steps 2
works "outpainting, mirror fill, blurred seam" 80 64 -- \
  arg "${init[@]}" --outpaint right:16 --outpaint-fill mirror --mask-blur 4 --steps 2
works "outpainting, colour fill" 64 72 -- arg "${init[@]}" --outpaint bottom:8 --outpaint-fill '#808080' --steps 2
works "outpainting, A1111 mk2 matched noise" 80 64 -- arg "${init[@]}" --outpaint left:8,right:8 --outpaint-fill matched:0.5:0.2 --steps 2
rm -rf "$O"; mkdir -p "$O"
arg "${init[@]}" --outpaint left:16 --steps 2 -o "$O/wide.png" &&
  "$GEN_PYTHON" -c 'import sys, numpy as np; from PIL import Image
a = np.asarray(Image.open(sys.argv[1])); b = np.asarray(Image.open(sys.argv[2]).convert("RGB"))
sys.exit(0 if a.shape == (64, 80, 3) and (a[:, 16:] == b).all() and (a[:, :16] != b[:, :16]).any() else 1)' \
    "$O/wide.png" "$I/init.png" && pass "outpainting keeps the original pixels and paints the border" ||
  bad "outpainting changed the original or left the border"
err=$(gen_t -p x -m "$P" --steps 2 -o "$O/w.png" "${init[@]}" --outpaint left:10 2>&1 >/dev/null)
grep -q "outpaint: the canvas is 80x64 (sides left:16" <<<"$err" && pass "outpainting says how the sides were rounded" ||
  bad "outpaint rounding not said: $err"
# Inpainting options (A1111's): overlay, mask blur, masked content.
works "inpainting, overlay through the blurred mask" 64 64 -- \
  arg "${init[@]}" --mask "$I/mask.png" --overlay --mask-blur 4 --steps 2
rm -rf "$O"; mkdir -p "$O"
arg "${init[@]}" --mask "$I/mask.png" --overlay --steps 2 -o "$O/ov.png" &&
  "$GEN_PYTHON" -c 'import sys, numpy as np; from PIL import Image
a = np.asarray(Image.open(sys.argv[1])); b = np.asarray(Image.open(sys.argv[2])); m = np.asarray(Image.open(sys.argv[3]))
sys.exit(0 if (a[m == 0] == b[m == 0]).all() and (a[m == 255] != b[m == 255]).any() else 1)' \
    "$O/ov.png" "$I/init.png" "$I/mask.png" && pass "--overlay keeps every unmasked pixel of the init image" ||
  bad "--overlay changed unmasked pixels"
for sampler in euler dpmpp_2m ddim heun; do
  works "inpainting, A1111's blend ($sampler)" 64 64 -- arg "${init[@]}" --mask "$I/mask.png" --inpaint-blend a1111 --sampler $sampler --steps 3
done
works "inpainting UNet, A1111's blend" 64 64 -- \
  arg -m "$I/inpainting-folder" "${init[@]}" --mask "$I/mask.png" --inpaint-blend a1111 --steps 2 --strength 1
rm -rf "$O"; mkdir -p "$O"
arg "${init[@]}" --mask "$I/mask.png" --inpaint-area masked --mask-padding 4 --invert-mask \
  --inpaint-fill latent_noise --mask-blur 2 --steps 2 -o "$O/a.png" &&
  "$GEN" info "$O/a.png" | grep -q "Denoising strength: 0.75, Mask mode: Inpaint not masked, Mask blur: 2, Inpaint area: Only masked, Masked area padding: 4, Masked content: latent noise" &&
  pass "infotext: A1111's inpainting fields" || bad "inpainting infotext: $("$GEN" info "$O/a.png")"
for fill in fill latent_noise latent_nothing; do
  works "inpainting, masked content $fill" 64 64 -- arg "${init[@]}" --mask "$I/mask.png" --inpaint-fill $fill --strength 0.5 --steps 4
done

# Hires fix: a first pass, the latents (or the image) upscaled, a second img2img pass.
for u in latent latent_antialiased latent_bicubic latent_bicubic_antialiased latent_nearest latent_nearest_exact lanczos; do
  works "hires fix ×1.5 with the $u upscaler" 96 72 -- arg -H 48 --steps 2 --hires-scale 1.5 --hires-upscaler $u
done
works "hires fix to 128x64 from 64x48 (covered, latents cut), own steps, sampler and prompt" 128 64 -- \
  arg -H 48 --steps 2 --hires-width 128 --hires-height 64 --hires-steps 2 --hires-sampler euler_a --hires-prompt "a big house"
works "hires fix with a ControlNet (its image at each pass's size)" 96 96 -- \
  arg --steps 2 --hires-scale 1.5 --control "$M/diffusers/tiny-controlnet" --control-image "$I/init.png"
rm -rf "$O"; mkdir -p "$O"
arg -H 48 --steps 2 --hires-scale 1.5 --hires-steps 3 --hires-upscaler latent_bicubic -o "$O/h.png" &&
  "$GEN" --from "$O/h.png" -q -o "$O/h2.png" && pixels_equal "$O/h.png" "$O/h2.png" &&
  pass "gen --from re-runs a hires-fix request pixel-identically" || bad "--from hires"
"$GEN" info "$O/h.png" | grep -q "Denoising strength: 0.7, Hires upscale: 1.5, Hires upscaler: Latent (bicubic), Hires steps: 3" &&
  pass "infotext: A1111's hires fields" || bad "hires infotext: $("$GEN" info "$O/h.png")"

# What gen says about inputs it adapts (one warning line each).
loud=(-p x -m "$P" -W 64 -H 64 --steps 2 -o "$O/w.png")  # not -q: the warnings are the point
err=$(gen_t "${loud[@]}" -i "$I/init-90x40.png" 2>&1 >/dev/null)
grep -q "init image .*init-90x40.png is 90x40: resized to 64x64 (just)" <<<"$err" &&
  pass "an init image of another size is resized, with a warning" || bad "resize warning: $err"
err=$(gen_t "${loud[@]}" -i "$I/init-alpha.png" 2>&1 >/dev/null)
grep -q "has transparency: composited over white" <<<"$err" && pass "an init image with alpha: said" || bad "alpha warning: $err"
"$GEN" inspect "$I/inpainting.safetensors" | grep -q "inpainting UNet (9 input channels)" &&
  pass "gen inspect names the inpainting UNet" || bad "gen inspect: inpainting"

# The stored request re-runs pixel-identically (init image, mask, strength).
rm -rf "$O"; mkdir -p "$O"
arg "${init[@]}" --mask "$I/mask.png" --strength 0.7 --steps 3 --sampler euler_a -o "$O/a.png" &&
  "$GEN" --from "$O/a.png" -q -o "$O/b.png" && pixels_equal "$O/a.png" "$O/b.png" &&
  pass "gen --from re-runs an inpainting request pixel-identically" || bad "--from inpainting"
"$GEN" info "$O/a.png" | grep -q "Denoising strength: 0.7" && pass "infotext: Denoising strength" ||
  bad "infotext lacks Denoising strength"

fails "strength 0" 2 invalid-argument strength "must be above 0" -- arg "${init[@]}" --strength 0
fails "strength above 1" 2 invalid-argument strength "between 0 and 1" -- arg "${init[@]}" --strength 1.5
fails "a strength that leaves no step" 2 invalid-argument strength "runs no step" -- \
  arg "${init[@]}" --strength 0.1 --steps 5
fails "a mask without an init image" 2 invalid-argument mask "needs an init image" -- arg --mask "$I/mask.png"
fails "a mask and --mask-from-alpha" 2 invalid-argument mask_from_alpha "not both" -- \
  arg -i "$I/init-alpha.png" --mask "$I/mask.png" --mask-from-alpha
fails "--mask-from-alpha on an image without alpha" 2 invalid-argument "$(re "$I/init.png")" "no alpha channel" -- \
  arg "${init[@]}" --mask-from-alpha
fails "an all-black mask (nothing to repaint)" 2 invalid-argument "$(re "$I/black.png")" "all black" -- \
  arg "${init[@]}" --mask "$I/black.png"
fails "an all-white mask inverted" 2 invalid-argument "$(re "$I/mask-50x30.png")" "all black.*invert" -- \
  arg "${init[@]}" --mask "$I/mask-50x30.png" --invert-mask
fails "a missing init image" 3 not-found "$(re "$I/nope.png")" "" -- arg -i "$I/nope.png"
fails "an init image that is not an image" 5 invalid-format "$(re "$I/not-an-image.png")" "" -- \
  arg -i "$I/not-an-image.png"
fails "a mask that is not an image" 5 invalid-format "$(re "$I/not-an-image.png")" "" -- \
  arg "${init[@]}" --mask "$I/not-an-image.png"
fails "outpainting with a mask" 2 invalid-argument outpaint "no mask" -- \
  arg "${init[@]}" --outpaint left:8 --mask "$I/mask.png"
fails "outpainting without an init image" 2 invalid-argument outpaint "needs an init image" -- arg --outpaint left:8
fails "an outpainting side that is not a number" 2 invalid-argument outpaint "not a number" -- \
  arg "${init[@]}" --outpaint left:many
fails "an outpainting canvas over the size limit" 2 invalid-argument outpaint "over the 16384-pixel limit" -- \
  arg -i "$I/init-8300x8.png" --outpaint left:4096,right:4096 --steps 2
fails "an unknown outpainting fill" 2 invalid-argument outpaint_fill "edge, mirror, matched" -- \
  arg "${init[@]}" --outpaint left:8 --outpaint-fill noise
fails "a matched-noise fall-off out of range" 2 invalid-argument outpaint_fill "fall-off exponent 0..4" -- \
  arg "${init[@]}" --outpaint left:8 --outpaint-fill matched:5
fails "--overlay without a mask" 2 invalid-argument overlay "give a mask" -- arg "${init[@]}" --overlay
fails "gen preprocess inpaint_only (needs a request's mask)" 2 invalid-argument "--preprocess" "use it in a --control group" -- \
  gen_t preprocess "$I/init.png" --preprocess inpaint_only -W 64 -H 64 -o "$O/map.png"
rm -rf "$O"; mkdir -p "$O"
gen_t preprocess "$I/init.png" --preprocess tile_resample:2 -W 64 -H 64 -o "$O/tile.png" >/dev/null &&
  [ "$(png_size "$O/tile.png")" = "64 64" ] && pass "gen preprocess tile_resample:2" || bad "gen preprocess tile_resample"
fails "inpaint_only without a mask" 2 invalid-argument "controls\\[0\\]\\.preprocess" "give --init-image and a mask" -- \
  arg "${init[@]}" --control "$M/diffusers/tiny-controlnet" --preprocess inpaint_only
fails "--inpaint-blend a1111 without a mask" 2 invalid-argument inpaint_blend "give a mask" -- \
  arg "${init[@]}" --inpaint-blend a1111
fails "--inpaint-area masked without a mask" 2 invalid-argument inpaint_area "give a mask" -- \
  arg "${init[@]}" --inpaint-area masked
fails "hires fix with an init image" 2 invalid-argument hires_scale "not with an init image" -- \
  arg "${init[@]}" --hires-scale 2
fails "hires fix with a scale and a size" 2 invalid-argument hires_scale "not both" -- \
  arg --hires-scale 2 --hires-width 128
fails "hires fix, unknown sampler" 2 invalid-argument --hires-sampler "unknown sampler 'fast'" -- arg --hires-scale 2 --hires-sampler fast
fails "hires fix to less than one latent" 2 invalid-argument hires_scale "outside 8..16384" -- arg --hires-scale 0.1
fails "--inpaint-area masked with a control image of another size" 2 invalid-argument "$(re "$I/mask-50x30.png")" \
  "must be the same size" -- arg "${init[@]}" --mask "$I/mask.png" --inpaint-area masked \
  --control "$M/diffusers/tiny-controlnet" --control-image "$I/mask-50x30.png"
works "--inpaint-area masked, an init image of another size (pasted back at its size)" 90 40 -- \
  arg -i "$I/init-90x40.png" --mask "$I/mask-50x30.png" --inpaint-area masked --mask-padding 4 --steps 2
fails "an inpainting UNet without a mask" 2 invalid-argument "$(re "$I/inpainting-folder")" \
  "inpainting model.*--mask" -- arg -m "$I/inpainting-folder" "${init[@]}" --steps 2
fails "an inpainting UNet without an init image" 2 invalid-argument "$(re "$I/inpainting-folder")" \
  "inpainting model" -- arg -m "$I/inpainting-folder"
finish
