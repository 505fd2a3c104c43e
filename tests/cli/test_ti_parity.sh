#!/usr/bin/env bash
# Textual-inversion embeddings through gen's CLI against diffusers' load_textual_inversion on the
# same tiny model (tools/diffusers_ti_reference.py): A1111's .pt (one vector; three, found in a
# subfolder of --embeddings-dir), the emb_params .safetensors given with --embedding, diffusers'
# learned_embeds as .bin (a [C] vector) and .safetensors ([4, C]), two embeddings in one prompt,
# one of them in the negative prompt too. Tolerance: at most 1 level of 8 bits
# (tests/cli/parity.sh); each image's infotext must carry A1111's `TI hashes` (SHA-256 of the
# file, 12 hex digits; the prompt's embeddings, then the negative prompt's). Every case uses the
# prompts and seed of the case without embeddings and must differ from its image, so an
# embedding gen ignored cannot pass.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/parity.sh"
: "${GEN_SRC:?}" "${GEN_PYTHON:?GEN_PYTHON must point to the project venv python}"
reference_cases diffusers_ti_reference.py
differ_from_none "$O" embedding
# Without embeddings the infotext has no TI hashes.
if "$GEN_PYTHON" -c 'import sys; from PIL import Image
sys.exit(1 if "TI hashes" in Image.open(sys.argv[1]).text.get("parameters", "") else 0)' "$O/none-0.png"; then
  pass "none: no TI hashes in the infotext"
else
  bad "none: the infotext has TI hashes"
fi
finish
