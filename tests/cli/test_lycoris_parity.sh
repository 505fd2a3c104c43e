#!/usr/bin/env bash
# LyCORIS through gen's CLI against the lycoris-lora package on the same tiny model
# (tools/lycoris_reference.py render): LoHa, LoKr (full and low-rank w1, low-rank w2) and LoCon
# with Tucker, made by lycoris' kohya-style network on the UNet and the text encoder, saved by
# lycoris, rendered with the network applied at multiplier 0.8. Tolerance: at most 1 level of 8
# bits (tests/cli/parity.sh); each case must also differ from the image without it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/parity.sh"
: "${GEN_SRC:?}" "${GEN_PYTHON:?GEN_PYTHON must point to the project venv python}"
M=$GEN_TMP/models R=$GEN_TMP/ref O=$GEN_TMP/out
"$GEN_PYTHON" "$GEN_SRC/tools/make_tiny_models.py" --out "$M" >/dev/null 2>"$GEN_TMP/err" &&
  "$GEN_PYTHON" "$GEN_SRC/tools/lycoris_reference.py" render --models "$M" --out "$R" >/dev/null 2>>"$GEN_TMP/err" ||
  { cat "$GEN_TMP/err"; bad "reference generation failed"; finish; }
compare_cases "$R" "$O"
for f in "$O"/*-0.png; do
  name=$(basename "$f" -0.png)
  [ "$name" = none ] && continue
  d=$("$GEN_PYTHON" -c 'import sys, numpy as np; from PIL import Image
a, b = (np.asarray(Image.open(p)).astype(int) for p in sys.argv[1:3]); print(int(np.abs(a - b).max()))' "$f" "$O/none-0.png")
  if [ "$d" -gt 8 ]; then pass "$name differs from no LoRA (max $d)"; else bad "$name: only $d levels from no LoRA"; fi
done
finish
