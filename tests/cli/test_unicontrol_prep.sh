#!/usr/bin/env bash
# UniControl's task preparations (docs/unicontrol.md): gen preprocess with unicontrol_grayscale,
# _blur, _outpainting, _inpainting and _hedsketch against the maps of the reference's own code
# (tests/data/unicontrol_prep, made by tools/unicontrol_prep_reference.py from
# salesforce/UniControl's annotators and demos), within 1 level of 8 bits (the number of values
# that differ at all is printed); `--preprocess unicontrol` in a UniControl group makes the map
# of its --control-task; the bad inputs end in one message each.
source "$(dirname "$0")/lib.sh"
: "${GEN_SRC:?}" "${GEN_PYTHON:?GEN_PYTHON must point to the project venv python}"
D=$GEN_SRC/tests/data/unicontrol_prep
P0=$GEN_SRC/tests/data/control/source.png
cd "$GEN_TMP"
# The random HED weights the fixtures were made with (hedsketch runs the HED network first).
"$GEN_PYTHON" "$GEN_SRC/tools/unicontrol_prep_reference.py" --hed-weights ControlNetHED.safetensors 2>/dev/null ||
  { bad "making the HED weights"; finish; }
compare() {  # compare GEN REF NAME: same shape, every value within 1 level
  "$GEN_PYTHON" -c 'import sys, numpy as np; from PIL import Image
a, b = (np.asarray(Image.open(p).convert("RGB"), int) for p in sys.argv[1:3])
if a.shape != b.shape: print("  shapes", a.shape, b.shape); sys.exit(1)
d = np.abs(a - b); print("  %s: max difference %d, %d of %d values differ" % (sys.argv[3], d.max(), (d > 0).sum(), d.size))
sys.exit(0 if d.max() <= 1 else 1)' "$1" "$2" "$3"
}
while read -r name spec seed; do
  "$GEN" preprocess "$P0" --preprocess "$spec" --preprocess-resolution 128 -W 128 -H 128 --seed "$seed" \
    --annotator-dir "$GEN_TMP" -o "$name.png" > /dev/null || { bad "gen preprocess $spec"; continue; }
  compare "$name.png" "$D/$name.png" "$spec" && pass "$spec (seed $seed) equals the reference" ||
    bad "$spec differs from the reference"
done < <("$GEN_PYTHON" -c 'import json, sys
for c in json.load(open(sys.argv[1]))["cases"]: print(c["name"], c["spec"], c.get("seed", 0))' "$D/cases.json")

# In a UniControl group: --preprocess unicontrol is the task's preparation (at the preprocess
# resolution, then resized as any control image): the same image as the map given ready.
make_tiny_models
C=$M/tiny-control-sd15-full.safetensors
U=$GEN_TMP/tiny-unicontrol.safetensors
"$GEN_PYTHON" "$GEN_SRC/tools/make_tiny_unicontrol.py" "$C" "$P/text_encoder/config.json" "$U" ||
  { bad "making the tiny UniControl"; finish; }
base=(-p "a house" -m "$P" -W 64 -H 64 --steps 2 --seed 5 -q)
for t in "blur:ksize=31 unicontrol_blur:ksize=31" "inpainting unicontrol_inpainting" "hedsketch unicontrol_hedsketch"; do
  set -- $t
  task=${1%%:*}; opts=${1#"$task"}
  "$GEN" preprocess "$P0" --preprocess "$2" --preprocess-resolution 64 -W 64 -H 64 --seed 5 --annotator-dir "$GEN_TMP" \
    -o "map-$task.png" > /dev/null
  "$GEN" "${base[@]}" --control "$U" --control-image "$P0" --control-task "$task" --preprocess "unicontrol$opts" \
    --preprocess-resolution 64 --annotator-dir "$GEN_TMP" -o "prep-$task.png" &&
    "$GEN" "${base[@]}" --control "$U" --control-image "map-$task.png" --control-task "$task" -o "ready-$task.png" &&
    pixels_equal "prep-$task.png" "ready-$task.png" && pass "--preprocess unicontrol$opts with task $task" ||
    bad "--preprocess unicontrol$opts with task $task differs from its map given ready"
done
pixels_equal prep-blur.png prep-inpainting.png && bad "blur and inpainting preparations give the same image" ||
  pass "the preparations differ"
printf '{"model": "%s", "prompt": "a house", "width": 64, "height": 64, "steps": 2, "seed": 5, "output": "job.png", "controls": [{"model": "%s", "image": "%s", "task": "blur", "preprocess": "unicontrol:ksize=31", "preprocess_resolution": 64}]}\n' \
  "$P" "$U" "$P0" > jobs.jsonl
"$GEN" batch jobs.jsonl -O jobs -q 2> batch.err && pixels_equal prep-blur.png jobs/job.png &&
  pass "a job file's preprocess unicontrol gives the CLI's pixels" || bad "job file: $(cat batch.err)"
"$GEN" --from prep-blur.png -q -o from.png && pixels_equal prep-blur.png from.png && pass "gen --from repeats it" ||
  bad "gen --from"

expect_exit 2 "'unicontrol' prepares the image for the group's UniControl task: give --control-task" -- \
  "$GEN" "${base[@]}" --control "$C" --control-image "$P0" --preprocess unicontrol -o x.png
expect_exit 2 "no 'unicontrol' preparation for task 'depth'.*MiDaS dpt_large" -- \
  "$GEN" "${base[@]}" --control "$U" --control-image "$P0" --control-task depth --preprocess unicontrol -o x.png
expect_exit 2 "the task mix 'blur:0.5,grayscale:0.5' has no preparation" -- \
  "$GEN" "${base[@]}" --control "$U" --control-image "$P0" --control-task blur:0.5,grayscale:0.5 --preprocess unicontrol -o x.png
expect_exit 2 "ksize must be odd" -- \
  "$GEN" preprocess "$P0" --preprocess unicontrol_blur:ksize=10 -o x.png
expect_exit 2 "here name the preparation: unicontrol_grayscale" -- \
  "$GEN" preprocess "$P0" --preprocess unicontrol -o x.png
expect_exit 2 "height must be a whole number in 0" -- \
  "$GEN" preprocess "$P0" --preprocess unicontrol_outpainting:height=101 -o x.png
[ -e x.png ] && bad "a refused request left x.png" || pass "no output left by the refusals"
finish
