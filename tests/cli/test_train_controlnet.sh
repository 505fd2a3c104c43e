#!/usr/bin/env bash
# gen train controlnet on the tiny SD 1.5 pipeline: progress lines, checkpoints every N steps,
# a killed-and-resumed run ends with the weights of the uninterrupted one (bit for bit), a resume
# with other settings is refused naming the difference, bad data sets end with clear errors.
source "$GEN_SRC/tests/cli/lib.sh"
make_tiny_models
T=$GEN_TMP

# A data set of 3 triples (64×64 pictures, outlines, captions).
"$GEN_PYTHON" - "$T/data" <<'PY'
import json, os, sys
from PIL import Image, ImageDraw
d = sys.argv[1]
os.makedirs(d, exist_ok=True)
rows = []
for i, (colour, name) in enumerate([((220, 30, 30), "red"), ((30, 200, 40), "green"), ((40, 60, 220), "blue")]):
    img = Image.new("RGB", (64, 64), (240, 240, 240)); ctl = Image.new("RGB", (64, 64), (0, 0, 0))
    box = (10 + 4 * i, 12, 50, 52 - 3 * i)
    ImageDraw.Draw(img).ellipse(box, fill=colour); ImageDraw.Draw(ctl).ellipse(box, outline=(255, 255, 255))
    img.save(f"{d}/img{i}.png"); ctl.save(f"{d}/ctl{i}.png")
    rows.append({"image": f"img{i}.png", "conditioning_image": f"ctl{i}.png", "text": f"a {name} circle"})
with open(f"{d}/metadata.jsonl", "w") as f:
    f.write("\n".join(json.dumps(r) for r in rows) + "\n")
PY
"$GEN" controlnet init "$P" "$T/cn0" --hint-channels 16,32,32,64 > /dev/null || { bad "controlnet init"; finish; }
OPTS=(train controlnet -m "$P" --controlnet "$T/cn0" --batch-size 2 --accumulation 2
        --learning-rate 1e-3 --empty-prompts 0.5 --seed 5 --checkpoint-every 2)
COMMON=("${OPTS[@]}" --data "$T/data")

"$GEN" "${COMMON[@]}" -o "$T/a" --steps 4 > "$T/a.log" 2> "$T/a.err" || bad "training run: $(cat "$T/a.err")"
grep -q "^step 4/4  loss [0-9.]*  [0-9.]* steps/s  ETA" "$T/a.log" && pass "progress lines" || bad "progress: $(cat "$T/a.log")"
for f in checkpoint-2/controlnet/config.json checkpoint-2/optimizer.safetensors checkpoint-2/state.json \
         checkpoint-4/state.json controlnet/diffusion_pytorch_model.safetensors; do
  [ -f "$T/a/$f" ] || bad "missing $f"
done
ls -a "$T/a" | grep -q '^\.gen-' && bad "temporary files left"

# Stopped after 2 steps, resumed to 4: the same weights as the run above.
"$GEN" "${COMMON[@]}" -o "$T/b" --steps 2 > /dev/null 2> "$T/b.err" || bad "first half: $(cat "$T/b.err")"
rm -rf "$T/b/controlnet"  # as if killed after the checkpoint
"$GEN" "${COMMON[@]}" -o "$T/b" --steps 4 --resume > "$T/b.log" 2> "$T/b.err" || bad "resume: $(cat "$T/b.err")"
head -1 "$T/b.log" | grep -q "^step 3/4" && pass "resumed at step 3" || bad "resume log: $(head -2 "$T/b.log")"
cmp -s "$T/a/controlnet/diffusion_pytorch_model.safetensors" "$T/b/controlnet/diffusion_pytorch_model.safetensors" \
  && pass "resumed run equals the uninterrupted one" || bad "resumed weights differ"
cmp -s "$T/cn0/diffusion_pytorch_model.safetensors" "$T/a/controlnet/diffusion_pytorch_model.safetensors" \
  && bad "training changed nothing"
# The weights moved, and the zero convolutions are no longer zero (they learn first).
"$GEN_PYTHON" - "$T/cn0" "$T/a/controlnet" <<'PY' && pass "zero convolutions trained" || bad "zero convolutions unchanged"
import sys
from safetensors.torch import load_file
a, b = (load_file(f"{d}/diffusion_pytorch_model.safetensors") for d in sys.argv[1:3])
k = "controlnet_down_blocks.0.weight"
sys.exit(0 if a[k].abs().max() == 0 and b[k].abs().max() > 0 else 1)
PY

# The trained ControlNet (and a checkpoint's) drives generation.
for cn in "$T/a/controlnet" "$T/a/checkpoint-2/controlnet"; do
  "$GEN" -p "a red circle" -m "$P" --control "$cn" --control-image "$T/data/ctl0.png" -W 64 -H 64 --steps 2 \
    --seed 1 -o "$T/gen.png" > /dev/null 2>&1 && pass "generates with $cn" || bad "cannot generate with $cn"
done

# Bad inputs.
rm -rf "$T/b/controlnet"
expect_exit 2 "learning_rate 0.001, this run has 0.002" -- "$GEN" train controlnet -m "$P" --controlnet "$T/cn0" \
  --data "$T/data" --batch-size 2 --accumulation 2 --learning-rate 2e-3 --empty-prompts 0.5 --seed 5 -o "$T/b" --steps 6 --resume
expect_exit 2 "holds checkpoints already" -- "$GEN" "${COMMON[@]}" -o "$T/b" --steps 6
expect_exit 3 "no-data" -- "$GEN" "${OPTS[@]}" -o "$T/c" --data "$T/no-data.jsonl"
: > "$T/empty.jsonl"
expect_exit 2 "holds no samples" -- "$GEN" "${OPTS[@]}" -o "$T/c" --data "$T/empty.jsonl"
printf '{"image": "img0.png", "conditioning_image": "ctl0.png"}\n' > "$T/data/nocap.jsonl"
expect_exit 5 'nocap.jsonl:1: no "text"' -- "$GEN" "${OPTS[@]}" -o "$T/c" --data "$T/data/nocap.jsonl"
"$GEN_PYTHON" -c 'from PIL import Image; Image.new("RGB", (32, 32)).save("'"$T/data/small.png"'")'
printf '{"image": "img0.png", "conditioning_image": "small.png", "text": "x"}\n' > "$T/data/sizes.jsonl"
expect_exit 2 "sizes.jsonl:1: image 64x64 and control image 32x32 differ" -- "$GEN" "${OPTS[@]}" -o "$T/c" --data "$T/data/sizes.jsonl"
finish
