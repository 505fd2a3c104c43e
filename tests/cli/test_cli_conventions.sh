#!/usr/bin/env bash
# The conventions SD users bring (docs/cli.md): stable-diffusion.cpp's and A1111's spellings
# (-s, -b, -t, --cfg, --sampling-method, --control-net, --control-strength), sampler labels as
# A1111 writes them and as stable-diffusion.cpp names them (refused by name when gen has no such
# sampler), --help in groups and wrapped, a missing value said as such, "did you mean" for a
# near-miss option, and --control-resize per group.
source "$(dirname "$0")/lib.sh"
: "${GEN_SRC:?}" "${GEN_PYTHON:?GEN_PYTHON must point to the project venv python}"

# 1. --help: grouped, in order, wrapped to $COLUMNS ------------------------------------
help=$(COLUMNS=72 "$GEN" --help)
order=$(grep -nE '^(Generation|Model files|ControlNet and adapters|Editing \(.*\)|Output|Performance):$' <<<"$help" | cut -d: -f2 | tr '\n' ',')
[ "$order" = "Generation,Model files,ControlNet and adapters,Editing (image-to-image, inpainting, outpainting, hires fix),Output,Performance," ] &&
  pass "--help groups in order" || bad "--help groups: $order"
section() { awk -v g="$1" '$0 == g ":" {on = 1; next} /^[A-Z][^ ]*.*:$/ {on = 0} on' <<<"$help"; }
section Generation | grep -q -- "--steps" && section "Model files" | grep -q -- "--vae" &&
  section "ControlNet and adapters" | grep -q -- "--control-image" && section Output | grep -q -- "--overwrite" &&
  section Performance | grep -q -- "--threads" && section "Editing (image-to-image, inpainting, outpainting, hires fix)" | grep -q -- "--mask-blur" &&
  pass "--help: options in their groups" || bad "--help: an option in the wrong group"
long=$(awk 'length > 72' <<<"$help")
[ -z "$long" ] && pass "--help wrapped to 72 columns" || bad "--help lines over 72 columns: $long"
wide=$(COLUMNS=200 "$GEN" --help | awk 'length > 100' | wc -l)
[ "$wide" -gt 0 ] && pass "--help uses a wide terminal ($wide long lines at 200 columns)" || bad "--help ignores \$COLUMNS"
for a in -s,--seed -b,--batch-count -t,--threads -i,--init-image,--init-img --sampler,--sampling-method \
         --cfg-scale,--cfg --control,--control-net --control-scale,--control-strength; do
  grep -qE -- "^  $a( |$)" <<<"$help" && pass "--help lists $a" || bad "--help lacks $a"
done

# 2. A missing value, a near miss, a far miss -----------------------------------------
expect_exit 2 "^gen: error \[invalid-argument\]: --steps needs a value \(a number\)$" -- "$GEN" -p x --steps
expect_exit 2 "^gen: error \[invalid-argument\]: --steps needs a value \(a number\)$" -- "$GEN" -p x --steps --seed 1
expect_exit 2 "^gen: error \[invalid-argument\]: -W needs a value \(a number\)$" -- "$GEN" -p x -W -H 64
expect_exit 2 "^gen: error \[invalid-argument\]: --shard needs a value \(text\)$" -- "$GEN" batch jobs.jsonl --shard --resume
expect_exit 2 "--sampler needs a value \(one of ddim, euler, euler_a, .* or lcm\)$" -- "$GEN" -p x --sampler
expect_exit 2 "^gen: error \[invalid-argument\]: -p needs a value \(text\)$" -- "$GEN" -p
expect_exit 2 "--control-scale needs a value \(a number\)$" -- "$GEN" -p x --control c --control-scale
expect_exit 2 "^gen: error \[invalid-argument\]: --stpes 20: unknown options \(did you mean --steps\? see gen --help\)$" -- "$GEN" -p x --stpes 20
expect_exit 2 "--sed: unknown option \(did you mean --seed\?" -- "$GEN" -p x --sed
expect_exit 2 "--negativ-prompt: unknown option \(did you mean --negative-prompt\?" -- "$GEN" -p x --negativ-prompt
expect_exit 2 "--resum: unknown option \(did you mean --resume\?" -- "$GEN" batch jobs.jsonl --resum
expect_exit 2 "^gen: error \[invalid-argument\]: --progress: 'bars' is not one of auto, bar, json, none$" -- "$GEN" -p x --progress bars
expect_exit 2 "^gen: error \[invalid-argument\]: --frobnicate: unknown option \(see gen --help\)$" -- "$GEN" -p x --frobnicate

# 3. Samplers gen lacks, named; unknown ones; a label that contradicts --scheduler --------
expect_exit 2 "--sampler: A1111's sampler 'DPM2 a' is not one gen has: must be ddim, euler" -- "$GEN" -p x --sampler "DPM2 a"
expect_exit 2 "--sampler: A1111's sampler 'DPM\+\+ SDE' is not one gen has" -- "$GEN" -p x --sampler "DPM++ SDE Karras"
expect_exit 2 "--sampler: stable-diffusion.cpp's sampler 'dpm\+\+2mv2' is not one gen has" -- "$GEN" -p x --sampling-method dpm++2mv2
expect_exit 2 "--sampler: gen has the sampler 'DPM\+\+ 2M SDE' but not the schedule 'Exponential'" -- "$GEN" -p x --sampler "DPM++ 2M SDE Exponential"
expect_exit 2 "--sampler: unknown sampler 'warp': must be" -- "$GEN" -p x --sampler warp
expect_exit 2 "--sampler: 'DPM\+\+ 2M Karras' names the karras schedule but --scheduler says 'normal'" -- "$GEN" -p x --sampler "DPM++ 2M Karras" --scheduler normal
expect_exit 2 "--hires-sampler: 'Euler a Karras' names a schedule" -- "$GEN" -p x --hires-scale 2 --hires-sampler "Euler a Karras"

# 4. What the aliases and labels set: the request stored in the image -------------------
make_tiny_models
cd "$GEN_TMP"
mkdir -p out
request() { "$GEN" info --json "$1"; }
field() { "$GEN_PYTHON" -c 'import json, sys; r = json.load(sys.stdin); print(eval(sys.argv[1], {}, {"r": r}))' "$1"; }
"$GEN_PYTHON" -c 'from PIL import Image; Image.new("RGB", (64, 64), (255, 0, 0)).save("out/c.png")'
"$GEN" -p x -m "$P" -W 64 -H 64 --steps 1 -q -s 42 -b 2 -t 1 --cfg 3.5 --sampling-method "DPM++ 2M Karras" \
  --control-resize crop --control-net "$M/tiny-control-v11.safetensors" --control-image out/c.png --control-strength 0.4 \
  --control "$M/tiny-control-v11.safetensors" --control-image out/c.png --control-resize fill -o "out/a-{index}.png" &&
  [ -f out/a-0.png ] && [ -f out/a-1.png ] && pass "generate with the aliases" || bad "generate with the aliases"
got=$(request out/a-1.png | field '(r["seed"], r["cfg_scale"], r["sampler"], r["scheduler"], [(c["scale"], c["resize"]) for c in r["controls"]])')
[ "$got" = "(43, 3.5, 'dpmpp_2m', 'karras', [(0.4, 'crop'), (1.0, 'fill')])" ] &&
  pass "-s -b --cfg --sampling-method LABEL --control-net --control-strength; --control-resize before any --control: every group's, after one: that group's" ||
  bad "aliases set: $got"
for case in "Euler a|euler_a|auto" "euler a|euler_a|auto" "euler_a|euler_a|auto" "dpm++2m|dpmpp_2m|auto" \
            "DPM++ 2M SDE|dpmpp_2m_sde|auto" "LMS Karras|lms|karras" "UniPC|unipc|auto" "ddim|ddim|auto"; do
  IFS='|' read -r label want sched <<<"$case"
  rm -f out/s.png
  "$GEN" -p x -m "$P" -W 64 -H 64 --steps 1 -q --seed 1 -t 1 --sampler "$label" -o out/s.png &&
    got=$(request out/s.png | field '(r["sampler"], r["scheduler"])') &&
    [ "$got" = "('$want', '$sched')" ] && pass "--sampler '$label' → $want, scheduler $sched" || bad "--sampler '$label' → $got"
done
finish
