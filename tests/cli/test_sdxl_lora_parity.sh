#!/usr/bin/env bash
# LoRA and textual inversion on SDXL through gen's CLI against diffusers on the tiny SDXL models
# (tools/diffusers_sdxl_lora_reference.py): PEFT LoRAs on the UNet and both text encoders in the
# PEFT layout (`unet.`, `text_encoder.`, `text_encoder_2.`), converted to kohya by diffusers
# (`lora_unet_`, `lora_te1_`, `lora_te2_`) and with sd-scripts' sgm UNet names, on the diffusers
# folder and the LDM single file (OpenCLIP's fused in-projection), merged, fused and on the fly,
# UNet / text-encoder weights, a prompt tag, two files; SDXL embeddings (clip_l + clip_g) loaded
# into both encoders. Tolerance: at most 1 level of 8 bits (tests/cli/parity.sh). Every case
# differs from its image without the adapter. Then the refusals: an SD 1.x LoRA and an SD 1.x
# embedding on SDXL (exit 7, naming the family).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/parity.sh"
: "${GEN_SRC:?}" "${GEN_PYTHON:?GEN_PYTHON must point to the project venv python}"
reference_cases diffusers_sdxl_lora_reference.py
mkdir -p "$O/lora" "$O/ti"
mv "$O"/ti_*.png "$O/ti/" && mv "$O"/*-0.png "$O/lora/"
mv "$O/ti/ti_none-0.png" "$O/ti/none-0.png"
differ_from_none "$O/lora" LoRA
differ_from_none "$O/ti" embedding

X=$M/diffusers/tiny-sdxl-pipeline
run_gen() { "$GEN" -m "$X" -p "$1" -W 64 -H 64 --steps 1 --seed 1 -q -o "$GEN_TMP/bad.png" "${@:2}" 2>"$GEN_TMP/bad.err"; }
rm -f "$GEN_TMP/bad.png"
run_gen "a red house" --lora "$R/loras/sd15-kohya.safetensors"
rc=$?
if [ "$rc" = 7 ] && grep -q "sd1" "$GEN_TMP/bad.err" && grep -q "sdxl" "$GEN_TMP/bad.err" && [ ! -e "$GEN_TMP/bad.png" ]; then
  pass "an SD 1.x LoRA on SDXL: exit 7 naming both families"
else
  bad "an SD 1.x LoRA on SDXL: exit $rc: $(cat "$GEN_TMP/bad.err")"
fi
"$GEN_PYTHON" -c 'import sys, torch; from safetensors.torch import save_file
save_file({"emb_params": torch.randn(2, 64)}, sys.argv[1])' "$GEN_TMP/ticat.safetensors"
run_gen "a ticat" --embedding "$GEN_TMP/ticat.safetensors"
rc=$?
if [ "$rc" = 7 ] && grep -q "SDXL" "$GEN_TMP/bad.err" && grep -q "clip_g" "$GEN_TMP/bad.err" && [ ! -e "$GEN_TMP/bad.png" ]; then
  pass "a one-encoder embedding on SDXL: exit 7 naming clip_l / clip_g"
else
  bad "a one-encoder embedding on SDXL: exit $rc: $(cat "$GEN_TMP/bad.err")"
fi
# gen inspect names the family of each layout.
for f in style-peft style-kohya style-sgm; do
  if "$GEN" inspect "$R/loras/$f.safetensors" 2>&1 | grep -q "LoRA for SDXL"; then pass "inspect $f: for SDXL"
  else bad "inspect $f: $("$GEN" inspect "$R/loras/$f.safetensors" 2>&1 | head -3)"; fi
done
finish
