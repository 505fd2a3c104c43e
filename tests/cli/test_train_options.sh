#!/usr/bin/env bash
# gen train controlnet's options beyond the loop (docs/training.md) on the tiny SD 1.5 pipeline:
# validation images drawn by the generation pipeline (equal to `gen` with the saved ControlNet)
# without changing what is trained; control images made by --preprocess (equal to training on
# `gen preprocess`'s maps); --resolution (equal to training on torchvision's Resize + CenterCrop
# of the pictures) and --random-crop (deterministic, resumable bit for bit); gradient
# checkpointing (the losses of the plain run); bf16 autocast (a loss near float32's); bad options.
source "$GEN_SRC/tests/cli/lib.sh"
make_tiny_models
T=$GEN_TMP

# Three pictures with outlines at 64×64 (data/), the same pictures at 90×72 (big/), and
# torchvision's Resize(64, BILINEAR) + CenterCrop(64) of big/ (fitted/), as train_controlnet.py
# prepares its images.
"$GEN_PYTHON" - "$T" <<'PY'
import json, os, sys
from PIL import Image, ImageDraw
from torchvision import transforms
t = sys.argv[1]
fit = transforms.Compose([transforms.Resize(64, interpolation=transforms.InterpolationMode.BILINEAR),
                          transforms.CenterCrop(64)])
for d in ("data", "big", "fitted", "bare"):
    os.makedirs(f"{t}/{d}", exist_ok=True)
rows = {"data": [], "big": [], "fitted": [], "bare": []}
for i, (colour, name) in enumerate([((220, 30, 30), "red"), ((30, 200, 40), "green"), ((40, 60, 220), "blue")]):
    for d, (w, h) in (("data", (64, 64)), ("big", (90, 72))):
        img = Image.new("RGB", (w, h), (240, 240, 240)); ctl = Image.new("RGB", (w, h), (0, 0, 0))
        box = (10 + 4 * i, 12, w - 14, h - 12 - 3 * i)
        ImageDraw.Draw(img).ellipse(box, fill=colour); ImageDraw.Draw(ctl).ellipse(box, outline=(255, 255, 255))
        img.save(f"{t}/{d}/img{i}.png"); ctl.save(f"{t}/{d}/ctl{i}.png")
        if d == "big":
            fit(img).save(f"{t}/fitted/img{i}.png"); fit(ctl).save(f"{t}/fitted/ctl{i}.png")
    for d in ("data", "big", "fitted"):
        rows[d].append({"image": f"img{i}.png", "conditioning_image": f"ctl{i}.png", "text": f"a {name} circle"})
    rows["bare"].append({"image": f"../data/img{i}.png", "text": f"a {name} circle"})
for d, r in rows.items():
    with open(f"{t}/{d}/metadata.jsonl", "w") as f:
        f.write("\n".join(json.dumps(x) for x in r) + "\n")
PY
[ -f "$T/fitted/metadata.jsonl" ] || { bad "data sets"; finish; }
"$GEN" controlnet init "$P" "$T/cn0" --hint-channels 16,32,32,64 > /dev/null || { bad "controlnet init"; finish; }
OPTS=(train controlnet -m "$P" --controlnet "$T/cn0" --learning-rate 1e-2 --seed 5 --threads 1)
W=diffusion_pytorch_model.safetensors
same() { cmp -s "$1/$W" "$2/$W"; }
run() { local out=$1; shift; "$GEN" "${OPTS[@]}" -o "$T/$out" "$@" > "$T/$out.log" 2> "$T/$out.err" || bad "$out: $(cat "$T/$out.err")"; }

# --- Validation images: the ControlNet of the step through the pipeline, nothing else changed.
run a --data "$T/data" --steps 2
run v --data "$T/data" --steps 2 --validation-every 1 --validation-prompt "a red circle" \
  --validation-prompt "a blue circle" --validation-image "$T/data/ctl0.png" --validation-steps 4
for f in step-1-0 step-1-1 step-2-0 step-2-1; do
  [ -f "$T/v/validation/$f.png" ] || bad "missing validation/$f.png"
done
grep -q "^step 2/2 .*validation $T/v/validation/step-2-0.png  validation $T/v/validation/step-2-1.png" "$T/v.log" \
  && pass "progress names the validation images" || bad "progress: $(cat "$T/v.log")"
ls -A "$T/v/validation" | grep -q '^\.' && bad "temporary files left"
same "$T/a/controlnet" "$T/v/controlnet" && pass "validation does not change the training" || bad "validation changed the weights"
for k in 0 1; do
  p=$([ $k = 0 ] && echo "a red circle" || echo "a blue circle")
  "$GEN" -p "$p" -m "$P" --control "$T/v/controlnet" --control-image "$T/data/ctl0.png" -W 64 -H 64 --steps 4 \
    --sampler unipc --cfg-scale 7.5 --seed 5 --prompt-syntax plain --threads 1 -o "$T/gen$k.png" > /dev/null 2>&1 \
    || bad "gen with the trained ControlNet"
  pixels_equal "$T/v/validation/step-2-$k.png" "$T/gen$k.png" && pass "validation image $k = gen's image" \
    || bad "validation image $k differs from gen's"
done
"$GEN" -p "a red circle" -m "$P" --control "$T/cn0" --control-image "$T/data/ctl0.png" -W 64 -H 64 --steps 4 \
  --sampler unipc --cfg-scale 7.5 --seed 5 --prompt-syntax plain --threads 1 -o "$T/gen-cn0.png" > /dev/null 2>&1
pixels_equal "$T/v/validation/step-2-0.png" "$T/gen-cn0.png" && bad "validation drew with the untrained ControlNet"

# --- Control images made by a preprocessor: the maps `gen preprocess` writes.
mkdir -p "$T/maps"
for i in 0 1 2; do
  "$GEN" preprocess "$T/data/img$i.png" -o "$T/maps/ctl$i.png" --preprocess canny:50:100 -W 64 -H 64 > /dev/null || bad "gen preprocess"
  cp "$T/data/img$i.png" "$T/maps/img$i.png"
done
cp "$T/data/metadata.jsonl" "$T/maps/metadata.jsonl"
run maps --data "$T/maps" --steps 2
run pre --data "$T/bare" --steps 2 --preprocess canny:50:100
same "$T/maps/controlnet" "$T/pre/controlnet" && pass "--preprocess trains on gen preprocess's maps" || bad "--preprocess differs"
run always --data "$T/data" --steps 2 --preprocess canny:50:100 --preprocess-always
same "$T/maps/controlnet" "$T/always/controlnet" && pass "--preprocess-always replaces given control images" \
  || bad "--preprocess-always differs"
expect_exit 5 'bare/metadata.jsonl:1: no "conditioning_image"' -- "$GEN" "${OPTS[@]}" -o "$T/x" --data "$T/bare"
expect_exit 2 "preprocess.*nosuch" -- "$GEN" "${OPTS[@]}" -o "$T/x" --data "$T/bare" --preprocess nosuch
expect_exit 2 "--preprocess-always.*needs --preprocess" -- "$GEN" "${OPTS[@]}" -o "$T/x" --data "$T/data" --preprocess-always

# --- --resolution: torchvision's Resize + CenterCrop; --random-crop: a function of (seed, index).
run fit --data "$T/big" --steps 2 --resolution 64
run pre-fitted --data "$T/fitted" --steps 2
same "$T/fit/controlnet" "$T/pre-fitted/controlnet" && pass "--resolution = torchvision Resize + CenterCrop" \
  || bad "--resolution differs from torchvision's"
run rc4 --data "$T/big" --steps 4 --resolution 64 --random-crop --checkpoint-every 2
run rc --data "$T/big" --steps 2 --resolution 64 --random-crop
rm -rf "$T/rc/controlnet"
run rc --data "$T/big" --steps 4 --resolution 64 --random-crop --checkpoint-every 2 --resume
same "$T/rc4/controlnet" "$T/rc/controlnet" && pass "random crops resume bit for bit" || bad "random-crop resume differs"
same "$T/rc4/checkpoint-2/controlnet" "$T/fit/controlnet" && bad "--random-crop trained on the centre crops"
expect_exit 2 "big/metadata.jsonl:1: image sides must be multiples of 8 \(or give --resolution\)" \
  -- "$GEN" "${OPTS[@]}" -o "$T/x" --data "$T/big"
expect_exit 2 "--random-crop.*needs --resolution" -- "$GEN" "${OPTS[@]}" -o "$T/x" --data "$T/data" --random-crop
expect_exit 2 "--resolution.*multiple of 8" -- "$GEN" "${OPTS[@]}" -o "$T/x" --data "$T/data" --resolution 60

# --- Gradient checkpointing: the plain run's losses (its gradients: TrainingCheckpointing.* in the
# unit tests; the weights are not compared: AdamW's first steps turn a gradient's last-bit
# difference near zero into ±learning rate).
run gc --data "$T/data" --steps 2 --gradient-checkpointing
[ "$(awk '/^step/ {print $1, $2, $3, $4}' "$T/a.log")" = "$(awk '/^step/ {print $1, $2, $3, $4}' "$T/gc.log")" ] \
  && pass "gradient checkpointing: the plain run's losses" || bad "gradient checkpointing: other losses"
for u in u u-gc; do
  "$GEN" train unet -m "$P" --data "$T/data" -o "$T/$u" --steps 2 --learning-rate 1e-3 --threads 1 \
    $([ $u = u-gc ] && echo --gradient-checkpointing) > "$T/$u.log" 2>&1 || bad "gen train unet: $(cat "$T/$u.log")"
done
[ "$(awk '/^step/ {print $1, $2, $3, $4}' "$T/u.log")" = "$(awk '/^step/ {print $1, $2, $3, $4}' "$T/u-gc.log")" ] \
  && pass "gen train unet --gradient-checkpointing: the plain run's losses" || bad "unet checkpointing: other losses"

# --- bf16 autocast: the first step's loss within 2 % of float32's; fp16 refused.
run bf --data "$T/data" --steps 2 --mixed-precision bf16
l32=$(awk '/^step 1\/2/ {print $4}' "$T/a.log"); l16=$(awk '/^step 1\/2/ {print $4}' "$T/bf.log")
"$GEN_PYTHON" -c "import sys; a, b = $l32, $l16; print('loss fp32', a, 'bf16', b); sys.exit(0 if a != b and abs(a - b) <= 0.02 * a else 1)" \
  && pass "bf16 loss near fp32's" || bad "bf16 loss $l16 vs fp32 $l32"
expect_exit 6 "--mixed-precision.*fp16 needs a GPU.*bf16" -- "$GEN" "${OPTS[@]}" -o "$T/x" --data "$T/data" --mixed-precision fp16
expect_exit 2 "--mixed-precision.*'fp8'" -- "$GEN" "${OPTS[@]}" -o "$T/x" --data "$T/data" --mixed-precision fp8

# --- Bad validation options.
expect_exit 2 "--validation-prompt.*2 prompts and 3 images do not pair" -- "$GEN" "${OPTS[@]}" -o "$T/x" --data "$T/data" \
  --validation-every 1 --validation-prompt a --validation-prompt b --validation-image "$T/data/ctl0.png" \
  --validation-image "$T/data/ctl1.png" --validation-image "$T/data/ctl2.png"
expect_exit 2 "--validation-image.*is needed with --validation-every" -- "$GEN" "${OPTS[@]}" -o "$T/x" --data "$T/data" \
  --validation-every 1 --validation-prompt a
expect_exit 3 "nothing.png.*no such validation image" -- "$GEN" "${OPTS[@]}" -o "$T/x" --data "$T/data" \
  --validation-every 1 --validation-prompt a --validation-image "$T/nothing.png"
[ -e "$T/x" ] && [ -n "$(ls -A "$T/x")" ] && bad "a refused run left files in its output folder"
finish
