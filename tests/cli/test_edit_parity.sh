#!/usr/bin/env bash
# Editing through gen's CLI against diffusers on the same tiny models, images and seeds
# (tools/diffusers_edit_reference.py): image-to-image over samplers and strengths (1.0, one
# step), inpainting with a 4-channel UNet and with a 9-channel inpainting UNet, ControlNet
# img2img and ControlNet inpainting. Tolerance: at most 1 level of 8 bits (tests/cli/parity.sh).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/parity.sh"
: "${GEN_SRC:?}" "${GEN_PYTHON:?GEN_PYTHON must point to the project venv python}"
M=$GEN_TMP/models R=$GEN_TMP/ref O=$GEN_TMP/out
"$GEN_PYTHON" "$GEN_SRC/tools/make_tiny_models.py" --out "$M" >/dev/null 2>"$GEN_TMP/err" &&
  "$GEN_PYTHON" "$GEN_SRC/tools/diffusers_edit_reference.py" --models "$M" --out "$R" >/dev/null 2>>"$GEN_TMP/err" ||
  { cat "$GEN_TMP/err"; bad "reference generation failed"; finish; }
compare_cases "$R" "$O"
finish
