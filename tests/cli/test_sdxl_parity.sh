#!/usr/bin/env bash
# gen's CLI against diffusers' StableDiffusionXLPipeline on the tiny SDXL models (fp32, CPU):
# samplers, CFG on and off, a batch, the micro-conditioning options of both halves,
# force_zeros_for_empty_prompt, the same weights as an LDM single file, and A1111's prompt
# syntax on SDXL (BREAK, emphasis, a prompt over 75 tokens with the comma rule: windows through
# both encoders, built by the reference script as A1111 builds them and rendered by diffusers
# from prompt_embeds) (tools/diffusers_sdxl_reference.py). Tolerance: at most 1 level of 8 bits
# (tests/cli/parity.sh).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/parity.sh"
: "${GEN_SRC:?}" "${GEN_PYTHON:?GEN_PYTHON must point to the project venv python}"
reference_cases diffusers_sdxl_reference.py
finish
