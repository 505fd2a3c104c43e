#!/usr/bin/env bash
# gen's CLI against diffusers' StableDiffusionXLControlNetPipeline on the tiny SDXL models with
# random SDXL ControlNets (fp32, CPU): one ControlNet (a diffusers folder, and the same weights
# as an LDM single file with control_model.* names), two at once, start/end, guess mode, a
# "small"-like ControlNet (transformer_layers_per_block 0) — tools/diffusers_sdxl_controlnet_reference.py.
# Tolerance: at most 1 level of 8 bits (tests/cli/parity.sh). The ControlNet must matter: the
# one-ControlNet image is far from the same request without it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/parity.sh"
: "${GEN_SRC:?}" "${GEN_PYTHON:?GEN_PYTHON must point to the project venv python}"
reference_cases diffusers_sdxl_controlnet_reference.py
d=$("$GEN_PYTHON" -c 'import sys, numpy as np; from PIL import Image
a, b = (np.asarray(Image.open(p)).astype(int) for p in sys.argv[1:3]); print(int(np.abs(a - b).max()))' \
  "$O/one-0.png" "$O/none-0.png")
if [ "$d" -gt 8 ]; then pass "the ControlNet changes the image (max $d)"; else bad "the ControlNet changes only $d levels"; fi
# gen inspect names them.
out=$("$GEN" inspect "$R/controlnet-xl") && grep -q "ControlNet for SDXL" <<<"$out" && grep -q "load: *ok" <<<"$out" &&
  pass "inspect: SDXL ControlNet folder" || bad "inspect SDXL ControlNet folder: $out"
out=$("$GEN" inspect "$R/controlnet-xl-ldm.safetensors") && grep -q "ControlNet for SDXL" <<<"$out" &&
  grep -q "load: *ok" <<<"$out" && pass "inspect: SDXL ControlNet single file" || bad "inspect SDXL ControlNet file: $out"
finish
