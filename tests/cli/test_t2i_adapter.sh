#!/usr/bin/env bash
# T2I-Adapters through gen's CLI against diffusers' StableDiffusionAdapterPipeline on the tiny
# SD 1.5 model (tools/t2i_adapter_reference.py): full, light and one-channel adapters from
# diffusers folders and TencentARC's original .pth layout, one adapter and several (MultiAdapter),
# with and without CFG, batch 2, a resized image. Tolerance: at most 1 level of 8 bits
# (tests/cli/parity.sh); every adapter case must differ from the image without adapters.
# Then: with a ControlNet in one request, job files, --from, inspect and the bad inputs.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/parity.sh"
: "${GEN_SRC:?}" "${GEN_PYTHON:?GEN_PYTHON must point to the project venv python}"
reference_cases t2i_adapter_reference.py
differ_from_none "$O" "T2I-Adapter"

P=$M/diffusers/tiny-sd15-pipeline
CN=$M/diffusers/tiny-controlnet
A=$R/adapter-full APTH=$R/adapter-light.pth IMG=$R/adapter0.png
small=(-m "$P" -p "a lighthouse" -W 80 -H 64 --steps 2 --seed 5 -q)

# A ControlNet and an adapter in one request: runs, and differs from each alone.
"$GEN" "${small[@]}" --control "$CN" --control-image "$IMG" -o "$O/cn.png" &&
  "$GEN" "${small[@]}" --adapter "$A" --adapter-image "$IMG" -o "$O/ad.png" &&
  "$GEN" "${small[@]}" --control "$CN" --control-image "$IMG" --adapter "$A" --adapter-image "$IMG" \
    -o "$O/both.png" || bad "ControlNet + T2I-Adapter run failed"
if pixels_equal "$O/both.png" "$O/cn.png" || pixels_equal "$O/both.png" "$O/ad.png"; then
  bad "ControlNet + T2I-Adapter equals one of them alone"
else
  pass "ControlNet + T2I-Adapter differs from each alone"
fi

# The request in the PNG (gen --from) and a job file repeat the adapters: the same pixels.
"$GEN" --from "$O/both.png" -q -o "$O/from.png" 2>"$GEN_TMP/from.err" || bad "--from failed: $(cat "$GEN_TMP/from.err")"
pixels_equal "$O/both.png" "$O/from.png" && pass "--from repeats the adapter request" || bad "--from differs"
printf '{"model": "%s", "prompt": "a lighthouse", "width": 80, "height": 64, "steps": 2, "seed": 5, "output": "job.png", "adapters": [{"model": "%s", "image": "%s", "scale": 1.0}]}\n' \
  "$P" "$A" "$IMG" >"$GEN_TMP/jobs.jsonl"
"$GEN" batch "$GEN_TMP/jobs.jsonl" -O "$O/jobs" -q 2>"$GEN_TMP/batch.err" || bad "gen batch failed: $(cat "$GEN_TMP/batch.err")"
pixels_equal "$O/ad.png" "$O/jobs/job.png" && pass "a job file's adapters give the CLI's pixels" || bad "job file differs"
"$GEN_PYTHON" -c 'import sys; from PIL import Image
t = Image.open(sys.argv[1]).text["parameters"]; sys.exit(0 if "T2I-Adapter 0: \"Model: " in t else 1)' "$O/ad.png" &&
  pass "infotext names the adapter" || bad "infotext lacks the adapter"

# gen inspect recognises both layouts, and a diffusers folder.
for f in "$APTH" "$A/diffusion_pytorch_model.safetensors" "$A"; do
  if "$GEN" inspect "$f" 2>&1 | grep -q "kind: *t2i-adapter"; then
    "$GEN" inspect "$f" | grep -q "ok as a T2I-Adapter (--adapter)" && pass "inspect $f: a T2I-Adapter, loads" ||
      bad "inspect $f: not loadable as a T2I-Adapter"
  else
    bad "inspect $f: not recognised as a T2I-Adapter: $("$GEN" inspect "$f" 2>&1 | head -3)"
  fi
done

# Bad input: one message each, the documented exit code.
expect_exit 7 "not a T2I-Adapter: .*ControlNet" -- "$GEN" "${small[@]}" --adapter "$CN/diffusion_pytorch_model.safetensors" --adapter-image "$IMG" -o "$O/x.png"
expect_exit 7 "not a ControlNet: .*T2IAdapter folder.*--adapter" -- "$GEN" "${small[@]}" --control "$A" --control-image "$IMG" -o "$O/x.png"
expect_exit 7 "not a ControlNet: Full T2I-Adapter.*--adapter" -- "$GEN" "${small[@]}" --control "$A/diffusion_pytorch_model.safetensors" --control-image "$IMG" -o "$O/x.png"
expect_exit 3 "nothing.png" -- "$GEN" "${small[@]}" --adapter "$A" --adapter-image "$GEN_TMP/nothing.png" -o "$O/x.png"
printf 'not an image' >"$GEN_TMP/broken.png"
expect_exit 5 "broken.png" -- "$GEN" "${small[@]}" --adapter "$A" --adapter-image "$GEN_TMP/broken.png" -o "$O/x.png"
expect_exit 2 "--adapter-scale" -- "$GEN" "${small[@]}" --adapter "$A" --adapter-image "$IMG" --adapter-scale abc -o "$O/x.png"
expect_exit 2 "--adapter-image: comes before any --adapter" -- "$GEN" "${small[@]}" --adapter-image "$IMG" --adapter "$A" -o "$O/x.png"
expect_exit 2 "adapters\[0\].image" -- "$GEN" "${small[@]}" --adapter "$A" -o "$O/x.png"
# An SDXL adapter (diffusers' full_adapter_xl, here with random weights) on the SD 1.5 model.
"$GEN_PYTHON" -c 'import sys, torch; from diffusers import T2IAdapter
T2IAdapter(in_channels=3, channels=[32, 64, 64, 64], num_res_blocks=1, downscale_factor=16,
           adapter_type="full_adapter_xl").save_pretrained(sys.argv[1])' \
  "$GEN_TMP/xl" 2>/dev/null || bad "could not make an XL adapter"
expect_exit 7 "an SDXL T2I-Adapter \(full_adapter_xl\) needs an SDXL model, and the model is SD 1.x" -- \
  "$GEN" "${small[@]}" --adapter "$GEN_TMP/xl" --adapter-image "$IMG" -o "$O/x.png"
[ -e "$O/x.png" ] && bad "a failed run left $O/x.png"
finish
