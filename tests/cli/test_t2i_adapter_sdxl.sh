#!/usr/bin/env bash
# SDXL T2I-Adapters (diffusers' full_adapter_xl, TencentARC's t2i-adapter-*-sdxl-1.0 layout)
# through gen's CLI against diffusers' StableDiffusionXLAdapterPipeline on the tiny SDXL model
# (tools/t2i_adapter_sdxl_reference.py): a diffusers folder and its weights file alone, a
# MultiAdapter of two with a batch of 2, a one-channel adapter without CFG on a resized image.
# Tolerance: at most 1 level of 8 bits (tests/cli/parity.sh); every adapter case must differ
# from the image without adapters. Then: an SD 1.x adapter on the SDXL model is refused.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/parity.sh"
: "${GEN_SRC:?}" "${GEN_PYTHON:?GEN_PYTHON must point to the project venv python}"
reference_cases t2i_adapter_sdxl_reference.py
differ_from_none "$O" "T2I-Adapter"

"$GEN_PYTHON" -c 'import sys; from diffusers import T2IAdapter
T2IAdapter(in_channels=3, channels=[32, 64], num_res_blocks=1, adapter_type="full_adapter").save_pretrained(sys.argv[1])' \
  "$GEN_TMP/sd1-adapter" 2>/dev/null || bad "could not make an SD 1.x adapter"
expect_exit 7 "an SD 1.x/2.x T2I-Adapter \(full_adapter\) does not fit an SDXL model" -- \
  "$GEN" -m "$R/sdxl-pipeline" -p "a lighthouse" -W 80 -H 64 --steps 2 --seed 5 -q \
  --adapter "$GEN_TMP/sd1-adapter" --adapter-image "$R/adapter0.png" -o "$O/x.png"
[ -e "$O/x.png" ] && bad "a failed run left $O/x.png"
finish
