#!/usr/bin/env bash
# The SDXL refiner through the `gen` CLI against diffusers (fp32, CPU; docs/sdxl.md): the
# refiner as image-to-image (StableDiffusionXLImg2ImgPipeline with aesthetic score: two
# samplers, two strengths, aesthetic-score and micro-conditioning variants, a batch, an empty
# negative prompt, the LDM single file), the base as image-to-image, and the base → refiner
# hand-off (--refiner, --refiner-switch: denoising_end / denoising_start) with Euler, DPM++ 2M
# and Euler a, from text, from the base's image-to-image and from a ControlNet on the base, and
# the base as 4-channel inpainting (tools/diffusers_sdxl_refiner_reference.py; at most 1 level of 8 bits, with the
# A1111 infotext's "Refiner" keys). Then `gen --from` re-runs a hand-off pixel-identically,
# and the bad inputs fail with one line and the exit code of docs/errors.md.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/parity.sh"
: "${GEN_SRC:?}" "${GEN_PYTHON:?GEN_PYTHON must point to the project venv python}"
reference_cases diffusers_sdxl_refiner_reference.py
B=$R/sdxl-pipeline
F=$R/sdxl-refiner
P=$M/diffusers/tiny-sd15-pipeline
run() { "$GEN" -p "a red house" -W 64 -H 64 --steps 4 -q "$@"; }

# The request in the image re-runs to the same pixels (its refiner and switch included).
if run -m "$B" --refiner "$F" --refiner-switch 0.7 --sampler euler_a --seed 5 -o "$GEN_TMP/h.png"; then
  "$GEN" --from "$GEN_TMP/h.png" -q -o "$GEN_TMP/h2.png" && pixels_equal "$GEN_TMP/h.png" "$GEN_TMP/h2.png" &&
    pass "gen --from re-runs a hand-off pixel-identically" || bad "--from hand-off"
  "$GEN_PYTHON" -c 'import sys, json; from PIL import Image
t = Image.open(sys.argv[1]).text
r = json.loads(t["gen"])
sys.exit(0 if r["refiner"].endswith("sdxl-refiner") and r["refiner_switch"] == 0.7 and
         "Refiner: sdxl-refiner, Refiner switch at: 0.7" in t["parameters"] else 1)' "$GEN_TMP/h.png" &&
    pass "the image's request and infotext name the refiner and switch" || bad "refiner metadata"
  run -m "$B" --seed 5 --sampler euler_a -o "$GEN_TMP/no-refiner.png" &&
    ! pixels_equal "$GEN_TMP/h.png" "$GEN_TMP/no-refiner.png" && pass "the refiner changes the image" ||
    bad "the hand-off gave the base's image"
else
  bad "the hand-off failed"
fi

# Bad inputs.
expect_exit 2 "sdxl-refiner: an SDXL refiner .* give --init-image" -- run -m "$F" -o "$GEN_TMP/x.png"
expect_exit 2 "refiner: the base model .*tiny-sd15-pipeline is not SDXL" -- run -m "$P" --refiner "$F" -o "$GEN_TMP/x.png"
expect_exit 7 "tiny-sd15-pipeline: is not an SDXL model" -- run -m "$B" --refiner "$P" -o "$GEN_TMP/x.png"
expect_exit 3 "no-such-refiner" -- run -m "$B" --refiner "$GEN_TMP/no-such-refiner" -o "$GEN_TMP/x.png"
expect_exit 2 "refiner_switch: must be between 0 and 1" -- run -m "$B" --refiner "$F" --refiner-switch 1 -o "$GEN_TMP/x.png"
expect_exit 2 "refiner_switch: at 0.05.* leaves the base model no step" -- \
  run -m "$B" --refiner "$F" --refiner-switch 0.05 -o "$GEN_TMP/x.png"
expect_exit 2 "refiner_switch: at 0.9995.* leaves the refiner no step" -- \
  run -m "$B" --refiner "$F" --refiner-switch 0.9995 -o "$GEN_TMP/x.png"
expect_exit 6 "refiner: the hand-off to a refiner with a mask .* not supported yet" -- \
  run -m "$B" --refiner "$F" --init-image "$R/init.png" --mask "$R/mask.png" -o "$GEN_TMP/x.png"
expect_exit 6 "refiner: the hand-off to a refiner with hires fix is not supported yet" -- \
  run -m "$B" --refiner "$F" --hires-scale 2 -o "$GEN_TMP/x.png"
expect_exit 2 "aesthetic_score" -- run -m "$F" --init-image "$R/init.png" --aesthetic-score 11 -o "$GEN_TMP/x.png"
[ ! -e "$GEN_TMP/x.png" ] && pass "no output written by the failures" || bad "a failure wrote x.png"
finish
