#!/usr/bin/env bash
# LyCORIS through gen's CLI against the lycoris-lora package on the same tiny model
# (tools/lycoris_reference.py render): LoHa, LoKr (full and low-rank w1, low-rank w2) and LoCon
# with Tucker, made by lycoris' kohya-style network on the UNet and the text encoder, saved by
# lycoris, rendered with the network applied at multiplier 0.8. Tolerance: at most 1 level of 8
# bits (tests/cli/parity.sh); each case must also differ from the image without it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/parity.sh"
: "${GEN_SRC:?}" "${GEN_PYTHON:?GEN_PYTHON must point to the project venv python}"
reference_cases lycoris_reference.py render
differ_from_none "$O" LoRA
finish
