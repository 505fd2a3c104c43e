#!/usr/bin/env bash
# UniControl, whole pipelines through the CLI against the reference's own sampling
# (docs/unicontrol.md): salesforce/UniControl's DDIMSampler and ControlLDM.apply_model with its
# ControlNet (v1.0 and v1.1) and ControlledUnetModel on the tiny SD 1.5, fixed noise — the images
# in tests/data/unicontrol_pipeline, made by tools/unicontrol_pipeline_reference.py. gen renders
# the same requests from the same weights (a copy of the tiny pipeline whose scheduler config is
# the reference's schedule): every value within 1 level of the reference's image, and each image
# more than 8 levels from the same request without the UniControl.
source "$(dirname "$0")/lib.sh"
: "${GEN_SRC:?}" "${GEN_PYTHON:?GEN_PYTHON must point to the project venv python}"
D=$GEN_SRC/tests/data/unicontrol_pipeline
make_tiny_models
W=$GEN_TMP/work
"$GEN_PYTHON" "$GEN_SRC/tools/unicontrol_pipeline_reference.py" --models "$M" --work "$W" > "$GEN_TMP/prep.json" ||
  { bad "making the files"; finish; }
# The fixtures were made from these weights: refuse to compare with stale ones.
"$GEN_PYTHON" -c 'import json, sys
a, b = json.load(open(sys.argv[1]))["checksums"], json.load(open(sys.argv[2]))["checksums"]
bad = [k for k in b if abs(a[k] - b[k]) > 1e-6 * abs(b[k])]
print("  stale fixtures (rerun tools/unicontrol_pipeline_reference.py):", bad) if bad else None
sys.exit(1 if bad else 0)' "$GEN_TMP/prep.json" "$D/cases.json" && pass "the weights are the fixtures' weights" ||
  { bad "the tiny models changed since the fixtures were made"; finish; }
cd "$GEN_TMP"
while IFS=$'\t' read -r name file task prompt guidance steps seed; do
  "$GEN" -m "$W/pipeline" -p "$prompt" -n "" -W 64 -H 64 --steps "$steps" --cfg-scale "$guidance" --seed "$seed" \
    --sampler ddim --control "$W/$file" --control-image "$W/hint.png" --control-task "$task" -q -o "$name.png" ||
    { bad "$name: gen failed"; continue; }
  "$GEN" -m "$W/pipeline" -p "$prompt" -n "" -W 64 -H 64 --steps "$steps" --cfg-scale "$guidance" --seed "$seed" \
    --sampler ddim -q -o "$name-plain.png"
  "$GEN_PYTHON" -c 'import sys, numpy as np; from PIL import Image; from safetensors.numpy import load_file
ref = load_file(sys.argv[1])[sys.argv[2]].astype(np.float64)
a = np.asarray(Image.open(sys.argv[3]).convert("RGB"), np.float64); p = np.asarray(Image.open(sys.argv[4]).convert("RGB"), np.float64)
d = np.abs(a - ref); print("  %s: max |gen - reference| %.3f levels (mean %.3f); without UniControl %.1f" % (sys.argv[2], d.max(), d.mean(), np.abs(p - ref).max()))
sys.exit(0 if d.max() <= 1.0 and np.abs(p - ref).max() > 8 else 1)' "$D/images.safetensors" "$name" "$name.png" "$name-plain.png" &&
    pass "$name within 1 level of the reference" || bad "$name differs from the reference"
done < <("$GEN_PYTHON" -c 'import json, sys
for c in json.load(open(sys.argv[1]))["cases"]: print(*(c[k] for k in ("name", "file", "task", "prompt", "guidance", "steps", "seed")), sep="\t")' "$D/cases.json")
finish
