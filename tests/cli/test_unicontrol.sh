#!/usr/bin/env bash
# UniControl through the CLI (docs/unicontrol.md): a tiny UniControl made from the tiny
# ControlNet's encoder (its hint encoder replaced by UniControl's parts, random values, the
# HyperNet as wide as the tiny text encoder) runs with --control-task, alone, mixed and beside
# a plain ControlNet; weights are relative; the bad inputs end in one message each.
# The model call itself is checked against the reference in tests/unit/test_unicontrol.cpp.
source "$(dirname "$0")/lib.sh"
: "${GEN_SRC:?}" "${GEN_PYTHON:?GEN_PYTHON must point to the project venv python}"
make_tiny_models
C=$M/tiny-control-sd15-full.safetensors
U=$GEN_TMP/tiny-unicontrol.safetensors
cd "$GEN_TMP"
"$GEN_PYTHON" "$GEN_SRC/tools/make_tiny_unicontrol.py" "$C" "$P/text_encoder/config.json" "$U" ||
  { bad "making the tiny UniControl"; finish; }
"$GEN_PYTHON" -c 'from PIL import Image; import numpy as np
a = np.zeros((64, 64, 3), np.uint8); a[16:48, 16:48] = 255; a[:, :8] = 90; Image.fromarray(a).save("square.png")'

base=(-p "a house" -m "$P" -W 64 -H 64 --steps 3 --seed 5 -q)
run() { local out=$1; shift; "$GEN" "${base[@]}" "$@" -o "$out"; }
run depth.png --control "$U" --control-image square.png --control-task depth && pass "--control-task depth" ||
  bad "--control-task depth failed"
run canny.png --control "$U" --control-image square.png --control-task canny && pass "--control-task canny" ||
  bad "--control-task canny failed"
run depth2.png --control "$U" --control-image square.png --control-task depth
pixels_equal depth.png depth2.png && pass "same task and seed → same image" || bad "repeated run differs"
pixels_equal depth.png canny.png && bad "depth and canny give the same image" || pass "tasks differ"
run mix1.png --control "$U" --control-image square.png --control-task canny:0.6,depth:0.4
run mix2.png --control "$U" --control-image square.png --control-task depth:2,canny:3
[ -s mix1.png ] && pixels_equal mix1.png mix2.png && pass "task weights are relative" || bad "mix weights"
run one.png --control "$U" --control-image square.png --control-task depth:5
pixels_equal depth.png one.png && pass "one task at any weight is that task" || bad "depth:5 differs from depth"
run both.png --control "$U" --control-image square.png --control-task depth --control-scale 0.8 \
  --control-end 0.6 --control "$C" --control-image square.png && pass "UniControl beside a ControlNet" ||
  bad "UniControl beside a ControlNet"
run guess.png --control "$U" --control-image square.png --control-task depth --guess-mode && pass "guess mode" ||
  bad "guess mode"
"$GEN" --from depth.png -q -o from.png && pixels_equal depth.png from.png && pass "gen --from" || bad "gen --from"
# A single task is in the extension's unit text; a mix (':' and ',') cannot be, and stays in
# the gen request (docs/metadata.md).
"$GEN_PYTHON" -c 'import sys, json; from PIL import Image; t = Image.open(sys.argv[1]).text
sys.exit(0 if "UniControl Task: depth\"" in t["parameters"] else 1)' depth.png && pass "infotext names the task" ||
  bad "infotext lacks the task"
"$GEN_PYTHON" -c 'import sys, json; from PIL import Image; t = Image.open(sys.argv[1]).text
sys.exit(0 if "UniControl Task" not in t["parameters"] and json.loads(t["gen"])["controls"][0]["task"] == "canny:0.6,depth:0.4" else 1)' mix1.png &&
  pass "a task mix: in the gen request only" || bad "the task mix in the metadata"

expect_exit 2 "tiny-unicontrol.safetensors: is a UniControl model: give its task with --control-task" -- \
  "$GEN" "${base[@]}" --control "$U" --control-image square.png -o x.png
expect_exit 2 "is a plain ControlNet, not a UniControl" -- \
  "$GEN" "${base[@]}" --control "$C" --control-image square.png --control-task depth -o x.png
expect_exit 2 "unknown UniControl task 'sketch' \(known: hed, canny, seg, depth, normal, openpose, hedsketch, bbox, outpainting, grayscale, blur, inpainting\)" -- \
  "$GEN" "${base[@]}" --control "$U" --control-image square.png --control-task sketch -o x.png
expect_exit 2 "sum to 0.000000, not a positive number" -- \
  "$GEN" "${base[@]}" --control "$U" --control-image square.png --control-task canny:1,depth:-1 -o x.png
"$GEN" inspect "$U" 2>&1 | grep -q "UniControl" && pass "gen inspect names UniControl" || bad "gen inspect"
finish
