#!/usr/bin/env bash
# Plain `gen` generates: a tiny diffusers pipeline made here (tools/make_tiny_models.py),
# PNG metadata, `gen info`, `gen --from`, determinism, batches and seeds, ControlNet
# groups, and the argument errors (exit codes of docs/errors.md).
source "$(dirname "$0")/lib.sh"
: "${GEN_SRC:?}" "${GEN_PYTHON:?GEN_PYTHON must point to the project venv python}"
make_tiny_models
O=$GEN_TMP/out
mkdir -p "$O"
common=(-m "$P" -W 64 -H 64 --steps 3 -q)


"$GEN" -p "a red house" "${common[@]}" --seed 7 -o "$O/a-{index}-{seed}.png" && [ -f "$O/a-0-7.png" ] &&
  pass "generate a 64x64 image" || bad "generate"
"$GEN" info "$O/a-0-7.png" | grep -q "Seed: 7, Size: 64x64" && pass "gen info shows the A1111 parameters" || bad "gen info"
"$GEN" info --json "$O/a-0-7.png" | grep -q '"schema": "gen.request/1.3"' && pass "gen info --json" || bad "gen info --json"
"$GEN" -p "a red house" "${common[@]}" --seed 7 -o "$O/b.png" && pixels_equal "$O/a-0-7.png" "$O/b.png" &&
  pass "same request and seed → identical pixels" || bad "determinism"
"$GEN" --from "$O/a-0-7.png" -q -o "$O/c.png" && pixels_equal "$O/a-0-7.png" "$O/c.png" &&
  pass "gen --from re-runs the stored request" || bad "--from"
"$GEN" -p "a red house" "${common[@]}" --seed 8 -o "$O/d.png" && ! pixels_equal "$O/a-0-7.png" "$O/d.png" &&
  pass "another seed → another image" || bad "seed changes nothing"

# No existing file is replaced unless asked: the next free name (out-1.png, ...), said.
mkdir -p "$O/keep" && cp "$O/b.png" "$O/keep/out.png"
err=$("$GEN" -p "a red house" -m "$P" -W 64 -H 64 --steps 3 --seed 9 -o "$O/keep/out.png" 2>&1 >/dev/null)
pixels_equal "$O/a-0-7.png" "$O/keep/out.png" && [ -f "$O/keep/out-1.png" ] && grep -q "out.png exists, --overwrite replaces it" <<<"$err" &&
  pass "an existing output is kept: the image goes to out-1.png, said" || bad "overwrote an existing output: $err"
"$GEN" -p "a red house" "${common[@]}" --seed 9 -o "$O/keep/out.png" && [ -f "$O/keep/out-2.png" ] &&
  pass "… and then out-2.png" || bad "second free name"
"$GEN" -p "a red house" "${common[@]}" --seed 9 -o "$O/keep/out.png" --overwrite && pixels_equal "$O/keep/out.png" "$O/keep/out-1.png" &&
  [ ! -f "$O/keep/out-3.png" ] && pass "--overwrite replaces it" || bad "--overwrite"
"$GEN" preprocess "$O/b.png" -W 64 -H 64 -o "$O/keep/map.png" >/dev/null &&
  expect_exit 2 "exists: pass --overwrite" -- "$GEN" preprocess "$O/b.png" -W 64 -H 64 -o "$O/keep/map.png"
"$GEN" preprocess "$O/b.png" -W 64 -H 64 -o "$O/keep/map.png" --overwrite >/dev/null && pass "preprocess --overwrite" ||
  bad "preprocess --overwrite"

# The CLIP vocabulary set-up fetched (PyPI's clip-anytorch wheel) lies in share/gen/clip/ beside
# gen, with its licence, and is the last place gen looks: a model without tokenizer/ finds it
# (the tiny text encoder only knows 1000 tokens, so the run stops there, having found 49408).
vocab_dir="$(dirname "$GEN")/../share/gen/clip"
[ -f "$vocab_dir/bpe_simple_vocab_16e6.txt.gz" ] && grep -q "MIT License" "$vocab_dir/LICENSE" &&
  pass "the CLIP vocabulary and its licence are beside gen" || bad "no CLIP vocabulary in $vocab_dir"
rm -rf "$O/notok" && cp -r "$P" "$O/notok" && rm -rf "$O/notok/tokenizer"
expect_exit 7 "the tokenizer has 49408 tokens" -- env -u GEN_VOCAB "$GEN" -p "a cat" -m "$O/notok" -W 64 -H 64 --steps 1 -o "$O/notok.png"
expect_exit 3 "/nonexistent/vocab.txt.gz: no such file" -- env GEN_VOCAB=/nonexistent/vocab.txt.gz "$GEN" -p "a cat" -m "$O/notok" -W 64 -H 64 --steps 1 -o "$O/notok.png"

# Batches: image i uses seed + i; a batch of 2 gives the same images as two single runs.
"$GEN" -p "a cat" "${common[@]}" --seed 100 --batch-size 2 --batch-count 2 -o "$O/batch-{index}-{seed}.png" &&
  [ -f "$O/batch-0-100.png" ] && [ -f "$O/batch-1-101.png" ] && [ -f "$O/batch-2-102.png" ] && [ -f "$O/batch-3-103.png" ] &&
  pass "batch size 2 × count 2 → seeds 100..103" || bad "batch seeds"
"$GEN" -p "a cat" "${common[@]}" --seed 101 -o "$O/single-101.png" &&
  "$GEN_PYTHON" -c 'import sys, numpy as np; from PIL import Image
a, b = (np.asarray(Image.open(p)).astype(int) for p in sys.argv[1:3]); sys.exit(0 if np.abs(a - b).max() <= 1 else 1)' \
    "$O/batch-1-101.png" "$O/single-101.png" &&
  pass "image 1 of a batch ≈ the same seed alone (±1 level)" || bad "batch image differs from single run"

# Progress as JSON lines.
"$GEN" -p x -m "$P" -W 64 -H 64 --steps 2 --seed 1 -o "$O/j.png" --progress json >"$GEN_TMP/progress.jsonl" &&
  [ "$(grep -c '"event":"step"' "$GEN_TMP/progress.jsonl")" = 2 ] && grep -q '"event":"image"' "$GEN_TMP/progress.jsonl" &&
  pass "--progress json: one line per step" || bad "--progress json"

# ControlNets: two groups with their own images, scales and ranges.
"$GEN" -p "a house" "${common[@]}" --seed 5 -o "$O/ctl.png" \
  --control "$M/tiny-control-v11.safetensors" --control-image "$O/a-0-7.png" --control-scale 0.7 --control-end 0.5 \
  --control "$M/tiny-control-v11-stripped-fp16.safetensors" --control-image "$O/b.png" --preprocess invert &&
  "$GEN" info "$O/ctl.png" | grep -q 'ControlNet 1: "Module: invert' && pass "two ControlNet groups" || bad "ControlNet groups"
"$GEN" --from "$O/ctl.png" -q -o "$O/ctl2.png" && pixels_equal "$O/ctl.png" "$O/ctl2.png" &&
  pass "--from re-runs the ControlNet settings" || bad "--from with ControlNets"

# The same ControlNet weights in every file layout give the same image.
layout_run() { "$GEN" -p "a house" "${common[@]}" --seed 11 -o "$1" --control "$2" --control-image "$O/a-0-7.png"; }
layout_run "$O/l-v11.png" "$M/tiny-control-v11.safetensors" || bad "ControlNet 1.1 layout"
for f in tiny-control-sd15-full.safetensors diffusers/tiny-controlnet \
         diffusers/tiny-controlnet/diffusion_pytorch_model.safetensors; do
  layout_run "$O/l-x.png" "$M/$f" && pixels_equal "$O/l-v11.png" "$O/l-x.png" &&
    pass "ControlNet layout $f → the same image as 1.1" || bad "ControlNet layout $f"
done
layout_run "$O/l-diff.png" "$M/tiny-control-difference.safetensors" &&
  "$GEN_PYTHON" -c 'import sys, numpy as np; from PIL import Image
a, b = (np.asarray(Image.open(p)).astype(int) for p in sys.argv[1:3]); sys.exit(0 if np.abs(a - b).max() <= 1 else 1)' \
    "$O/l-v11.png" "$O/l-diff.png" && pass "difference ControlNet (base UNet added) ≈ the full weights (±1 level)" ||
  bad "difference ControlNet"
"$GEN" -p "a house" "${common[@]}" --seed 11 -o "$O/l-pool.png" --control "$M/tiny-control-v11.safetensors" \
  --control-image "$O/a-0-7.png" --control-pool && ! pixels_equal "$O/l-v11.png" "$O/l-pool.png" &&
  pass "--control-pool changes the residuals" || bad "--control-pool"

# gen preprocess writes the map a ControlNet would get; generation takes the same spec.
"$GEN" preprocess "$GEN_SRC/tests/data/control/source.png" --preprocess canny:100:200 -W 64 -H 64 -o "$O/map.png" >/dev/null &&
  [ -f "$O/map.png" ] && pass "gen preprocess canny" || bad "gen preprocess"
"$GEN" -p "edges" "${common[@]}" --seed 3 -o "$O/canny.png" --control "$M/tiny-control-v11.safetensors" \
  --control-image "$GEN_SRC/tests/data/control/source.png" --preprocess canny:100:200 --control-resize crop &&
  pass "generation with a canny preprocessor and crop resize" || bad "canny generation"
expect_exit 2 "unknown preprocessor 'sobel'" -- "$GEN" preprocess "$GEN_SRC/tests/data/control/source.png" \
  --preprocess sobel -o "$O/e11.png"

# Errors: one line, the documented code, no output file.
expect_exit 2 "width: 65 is not a multiple of 8" -- "$GEN" -p x -m "$P" -W 65 -H 64 -o "$O/e1.png"
expect_exit 2 "unknown sampler 'nope'" -- "$GEN" -p x -m "$P" --sampler nope -o "$O/e2.png"
expect_exit 2 "steps: must be between 1 and 1000" -- "$GEN" -p x -m "$P" --steps 0 -o "$O/e3.png"
expect_exit 2 "cfg_scale" -- "$GEN" -p x -m "$P" --cfg-scale -1 -o "$O/e4.png"
expect_exit 3 "no-such-model" -- "$GEN" -p x -m "$GEN_TMP/no-such-model" -W 64 -H 64 -o "$O/e5.png"
expect_exit 2 "before any --control" -- "$GEN" -p x -m "$P" --control-image "$O/b.png" -o "$O/e6.png"
expect_exit 2 "start is after end" -- "$GEN" -p x -m "$P" --control "$M/tiny-control-v11.safetensors" \
  --control-image "$O/b.png" --control-start 0.8 --control-end 0.2 -o "$O/e7.png"
expect_exit 3 "missing.png" -- "$GEN" -p x "${common[@]}" --control "$M/tiny-control-v11.safetensors" \
  --control-image "$GEN_TMP/missing.png" -o "$O/e8.png"
expect_exit 2 "b: unexpected argument" -- "$GEN" -p x -m "$P" --control a b --control-image c -o "$O/e10.png"
expect_exit 3 "output folder .* does not exist" -- "$GEN" -p x -m "$P" -W 64 -H 64 -o "$GEN_TMP/no/such/dir/x.png"
expect_exit 3 "no gen request" -- "$GEN" --from "$GEN_SRC/tests/data/images/rgb16.png" -o "$O/e9.png"
ls "$O"/e*.png >/dev/null 2>&1 && bad "a failed run left an output file" || pass "failed runs left no output"
finish
