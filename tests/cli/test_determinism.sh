#!/usr/bin/env bash
# Determinism on the CPU: the same request and seed give the same file, byte for byte,
# across runs, through `gen --from`, through `gen batch`, with a fixed thread count, and
# whether 16-bit weights are widened at load or on use.
# docs/determinism.md says what differs across devices, thread counts and batch sizes.
source "$(dirname "$0")/lib.sh"
: "${GEN_SRC:?}" "${GEN_PYTHON:?GEN_PYTHON must point to the project venv python}"
make_tiny_models
C=$M/tiny-control-sd15-full.safetensors
cd "$GEN_TMP"
"$GEN_PYTHON" -c 'from PIL import Image; import numpy as np
a = np.zeros((64, 64, 3), np.uint8); a[16:48, 16:48] = 255; Image.fromarray(a).save("square.png")'

req=(-p "a (red:1.2) house" -n "blurry" -m "$P" -W 64 -H 64 --steps 4 --seed 11
     --control "$C" --control-image square.png --control-scale 0.7 -q)
# Each run writes out.png, then moved away: the metadata (which holds the output name) and
# the pixels must then be identical, byte for byte.
mkdir -p r1 r2 r3 t1 t2
for i in 1 2 3; do "$GEN" "${req[@]}" --sampler euler_a -o out.png && mv out.png "r$i/out.png" || bad "run $i"; done
cmp -s r1/out.png r2/out.png && cmp -s r1/out.png r3/out.png && pass "3 runs of one request → identical files" ||
  bad "repeated runs differ"
cp r1/out.png run1.png
for i in 1 2; do "$GEN" "${req[@]}" --sampler euler_a --threads 1 -o out.png && mv out.png "t$i/out.png" || bad "threads run $i"; done
cmp -s t1/out.png t2/out.png && pass "--threads 1 twice → identical files" || bad "--threads 1 runs differ"
"$GEN" --from run1.png -q -o from.png && pixels_equal run1.png from.png && pass "gen --from → identical pixels" ||
  bad "--from differs"
for sampler in dpmpp_2m_sde ddim lms; do
  mkdir -p "$sampler-1" "$sampler-2"
  "$GEN" "${req[@]}" --sampler $sampler -o out.png && mv out.png "$sampler-1/" &&
    "$GEN" "${req[@]}" --sampler $sampler -o out.png && mv out.png "$sampler-2/" &&
    cmp -s "$sampler-1/out.png" "$sampler-2/out.png" && pass "$sampler: repeated runs identical" || bad "$sampler differs"
done
# The same request as a job: the same pixels.
"$GEN_PYTHON" - "$P" "$C" <<'PY' > job.jsonl
import json, sys
print(json.dumps({"id": "same", "prompt": "a (red:1.2) house", "negative_prompt": "blurry", "model": sys.argv[1],
                  "width": 64, "height": 64, "steps": 4, "seed": 11, "sampler": "euler_a",
                  "controls": [{"model": sys.argv[2], "image": "square.png", "scale": 0.7}]}))
PY
"$GEN" batch job.jsonl -O jobs -q && pixels_equal run1.png jobs/same-0-11.png && pass "gen batch → identical pixels" ||
  bad "batch differs"
# 16-bit weights computed in fp32: kept 16-bit and widened layer by layer (--weights auto) or
# widened at load (wide); widening is exact, so the images are the same.
rm -rf p16 && cp -r "$P" p16
for f in p16/unet/diffusion_pytorch_model p16/vae/diffusion_pytorch_model p16/text_encoder/model; do
  "$GEN" convert "$f.safetensors" "$f.f16.safetensors" --dtype fp16 >/dev/null && mv "$f.f16.safetensors" "$f.safetensors" ||
    bad "convert $f"
done
half=(-p "a house" -m p16 -W 64 -H 64 --steps 3 --seed 5 -q
      --control "$M/tiny-control-v11-stripped-fp16.safetensors" --control-image square.png)
"$GEN" "${half[@]}" -o auto.png && "$GEN" "${half[@]}" --weights wide -o wide.png && pixels_equal auto.png wide.png &&
  pass "fp16 weights: --weights auto (kept 16-bit) = wide (widened at load), pixel for pixel" ||
  bad "--weights auto and wide differ"
finish
