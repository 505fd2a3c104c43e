#!/usr/bin/env bash
# LoRA through gen's CLI against diffusers + PEFT on the same tiny model (tools/
# diffusers_lora_reference.py): the PEFT layout (lora_alpha from the file's metadata) and the
# kohya layout (diffusers' convert_state_dict_to_kohya), UNet and text-encoder weights, the
# A1111 prompt tag in --lora-dir, two LoRAs at once, merged and on the fly; PEFT's DoRA
# (use_dora=True: weights, on the fly, fused, after a plain LoRA). Tolerance: at most 1
# level of 8 bits (tests/cli/parity.sh). Every LoRA case must also differ from the image
# without LoRA, so a LoRA gen ignored cannot pass.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/parity.sh"
: "${GEN_SRC:?}" "${GEN_PYTHON:?GEN_PYTHON must point to the project venv python}"
reference_cases diffusers_lora_reference.py
differ_from_none "$O" LoRA
if "$GEN" inspect "$R/loras/dora-peft.safetensors" 2>&1 | grep -q "DoRA"; then pass "inspect names PEFT's DoRA"
else bad "inspect dora-peft: $("$GEN" inspect "$R/loras/dora-peft.safetensors" 2>&1 | head -3)"; fi
finish
