#!/usr/bin/env bash
# gen's CLI against diffusers' StableDiffusionXLControlNetUnionPipeline on the tiny SDXL model with
# a random 8-type ControlNet Union (fp32, CPU; tools/diffusers_sdxl_union_reference.py): one
# control type (a diffusers folder, and the same weights as xinsir's single .safetensors file),
# two types at once (their scales inside the fusion), two with start/end, guess mode with one
# and two types, and a batch of two (the condition transformer attends across the batch).
# Tolerance: at most 1 level of 8 bits (tests/cli/parity.sh). The Union must matter: the
# one-type image is far from the same request without it. Then the Union's bad inputs, one
# message and a documented exit code each.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/parity.sh"
: "${GEN_SRC:?}" "${GEN_PYTHON:?GEN_PYTHON must point to the project venv python}"
reference_cases diffusers_sdxl_union_reference.py
maxdiff() { "$GEN_PYTHON" -c 'import sys, numpy as np; from PIL import Image
a, b = (np.asarray(Image.open(p)).astype(int) for p in sys.argv[1:3]); print(int(np.abs(a - b).max()))' "$1" "$2"; }
d=$(maxdiff "$O/one-0.png" "$O/none-0.png")
if [ "$d" -gt 8 ]; then pass "the Union changes the image (max $d)"; else bad "the Union changes only $d levels"; fi
# The type matters: the same image as another type gives another picture.
base=(-p "a red house by the sea" -n fog -m "$R/sdxl-pipeline" -W 80 -H 64 --steps 4 --seed 1 -q
      --control "$R/controlnet-union" --control-scale 0.8 --control-image "$R/control0.png")
"$GEN" "${base[@]}" --control-type normal -o "$O/other-type.png" 2>"$GEN_TMP/err" || bad "other type: $(cat "$GEN_TMP/err")"
d=$(maxdiff "$O/one-0.png" "$O/other-type.png")
if [ "$d" -gt 8 ]; then pass "the control type changes the image (max $d)"; else bad "the control type changes only $d levels"; fi
# The index works as the name.
"$GEN" "${base[@]}" --control-type 1 -o "$O/by-index.png" 2>"$GEN_TMP/err" || bad "by index: $(cat "$GEN_TMP/err")"
pixels_equal "$O/one-0.png" "$O/by-index.png" && pass "--control-type 1 = depth" || bad "--control-type 1 differs from depth"

# gen --from re-renders a two-type image bit for bit (the conditions are in the request it stores).
"$GEN" --from "$O/two-0.png" -q -o "$O/two-again.png" 2>"$GEN_TMP/err" || bad "--from: $(cat "$GEN_TMP/err")"
pixels_equal "$O/two-0.png" "$O/two-again.png" && pass "gen --from re-renders the two-type image" ||
  bad "gen --from gives another image"
# A job file with the conditions in JSON gives the same image.
"$GEN_PYTHON" - "$R" "$GEN_TMP/jobs.jsonl" <<'EOF'
import json, sys
r, out = sys.argv[1:3]
job = {"prompt": "a cat", "negative_prompt": "", "model": f"{r}/sdxl-pipeline", "width": 80, "height": 64,
       "steps": 4, "cfg_scale": 7.5, "seed": 2,
       "controls": [{"model": f"{r}/controlnet-union", "type": "openpose", "image": f"{r}/control0.png", "scale": 0.7,
                     "conditions": [{"type": "canny", "image": f"{r}/control1.png"}]}]}
open(out, "w").write(json.dumps(job) + "\n")
EOF
mkdir -p "$O/batch"
"$GEN" batch "$GEN_TMP/jobs.jsonl" -O "$O/batch" -q 2>"$GEN_TMP/err" || bad "gen batch: $(cat "$GEN_TMP/err")"
img=$(ls "$O/batch"/*.png 2>/dev/null | head -1)
[ -n "$img" ] && pixels_equal "$O/two-0.png" "$img" && pass "a job file's conditions give the two-type image" ||
  bad "the job file's image differs from the two-type one ($img)"

# gen inspect names them (the single file by its name: ProMax).
out=$("$GEN" inspect "$R/controlnet-union") && grep -q "ControlNet Union (SDXL" <<<"$out" && grep -q "load: *ok" <<<"$out" &&
  pass "inspect: Union folder" || bad "inspect Union folder: $out"
out=$("$GEN" inspect "$R/controlnet-union_promax.safetensors") && grep -q "ControlNet Union ProMax (SDXL" <<<"$out" &&
  grep -q "load: *ok" <<<"$out" && pass "inspect: ProMax single file" || bad "inspect ProMax file: $out"

# Bad inputs.
U=$R/controlnet-union C0=$R/control0.png C1=$R/control1.png
XL=$R/sdxl-pipeline SD15=$M/diffusers/tiny-sd15-pipeline
run=("$GEN" -p x -W 80 -H 64 --steps 1 -o "$GEN_TMP/bad.png")
expect_exit 2 "is a ControlNet Union: give each control image its type with --control-type \(this file knows openpose \(0\), depth \(1\), hed/pidi/scribble/ted \(2\)" -- \
  "${run[@]}" -m "$XL" --control "$U" --control-image "$C0"
expect_exit 2 "unknown control type 'sketch' \(this Union file knows openpose" -- \
  "${run[@]}" -m "$XL" --control "$U" --control-type sketch --control-image "$C0"
expect_exit 2 "control type '9' .* is not in this Union file, which has 8 types" -- \
  "${run[@]}" -m "$XL" --control "$U" --control-type 9 --control-image "$C0"
expect_exit 2 "more control images than control types" -- \
  "${run[@]}" -m "$XL" --control "$U" --control-type depth --control-image "$C0" --control-image "$C1"
expect_exit 2 "more control types than control images" -- \
  "${run[@]}" -m "$XL" --control "$U" --control-type depth --control-image "$C0" --control-type canny
expect_exit 2 "9 control images in one group, but this ControlNet Union has 8 control types" -- \
  "${run[@]}" -m "$XL" --control "$U" $(for t in 0 1 2 3 4 5 6 7 1; do echo --control-type $t --control-image "$C0"; done)
expect_exit 2 "is not a ControlNet Union: --control-type 'depth' does not apply" -- \
  "${run[@]}" -m "$SD15" --control "$M/diffusers/tiny-controlnet" --control-type depth --control-image "$C0"
expect_exit 7 "a ControlNet Union \(SDXL: 8 control types.*needs an SDXL model" -- \
  "${run[@]}" -m "$SD15" --control "$U" --control-type depth --control-image "$C0"
[ -e "$GEN_TMP/bad.png" ] && bad "a refused request left $GEN_TMP/bad.png" || pass "no output file from the refused requests"
finish
