#!/usr/bin/env bash
# gen inspect on the committed tiny fixtures (tests/data/layouts): exit codes, the
# JSON document and its kind / layout, and the errors for bad paths.
source "$(dirname "$0")/lib.sh"
: "${GEN_SRC:?GEN_SRC must point to the repository root}"
L=$GEN_SRC/tests/data/layouts
PY=${GEN_PYTHON:-python3}
[ -x "$PY" ] || PY=python3

# json_field FILE KEY: one top-level field of a JSON document (python's json module parses it).
json_field() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# check PATH KIND LAYOUT FAMILY
check() {
  local path=$1 kind=$2 layout=$3 family=$4 out=$GEN_TMP/out.json
  if ! "$GEN" inspect "$L/$path" --json >"$out" 2>"$GEN_TMP/err"; then
    bad "inspect $path --json failed: $(cat "$GEN_TMP/err")"; return
  fi
  local got
  got="$(json_field "$out" kind) $(json_field "$out" layout) $(json_field "$out" family)" ||
    { bad "inspect $path: JSON does not parse"; return; }
  [ "$(json_field "$out" schema)" = gen.inspect/1 ] || { bad "inspect $path: schema"; return; }
  if [ "$got" = "$kind $layout $family" ]; then pass "$path → $got"; else bad "$path → $got, wanted $kind $layout $family"; fi
}

check tiny-sd15.safetensors sd1-checkpoint ldm sd1
check tiny-sd21.safetensors sd2-checkpoint ldm sd2
check tiny-sdxl.safetensors sdxl-checkpoint ldm sdxl
check tiny-unet.safetensors unet ldm sd1
check tiny-vae.safetensors vae ldm unknown
check tiny-text-encoder.safetensors text-encoder hf-clip sd1
check tiny-control-sd15-full.safetensors controlnet controlnet-1.0-full sd1
check tiny-control-v11.safetensors controlnet control-model-prefixed sd1
check tiny-control-v11-stripped-fp16.safetensors controlnet prefix-stripped sd1
check tiny-control-difference.safetensors controlnet difference sd1
check tiny-lora-kohya.safetensors lora lora-kohya sd1
check tiny-lora-peft.safetensors lora lora-peft sd1
check tiny-vae.ckpt vae ldm unknown
check diffusers/tiny-controlnet controlnet diffusers sd1
check diffusers/tiny-sharded vae diffusers unknown
check diffusers/tiny-sharded/diffusion_pytorch_model.safetensors.index.json vae diffusers unknown
check diffusers/tiny-sd15-pipeline pipeline diffusers-pipeline sd1

# Human output: one line saying what it is, the groups, every tensor with --tensors.
out=$("$GEN" inspect "$L/tiny-sd15.safetensors") && grep -q "sd1-checkpoint" <<<"$out" &&
  grep -q "model.diffusion_model" <<<"$out" && pass "human output" || bad "human output: $out"
n=$("$GEN" inspect "$L/tiny-unet.safetensors" --tensors | grep -c "model.diffusion_model\.")
[ "$n" -gt 50 ] && pass "--tensors lists $n tensors" || bad "--tensors listed $n tensors"
"$GEN" inspect "$L/diffusers/tiny-sd15-pipeline" | grep -q "scheduler: DDIMScheduler" &&
  pass "pipeline components" || bad "pipeline components"

# The "load" verdict is what gen itself does: on the fixtures, then for every file and folder
# of tools/make_tiny_models.py, run in the role inspect names (the model, --control, --vae),
# gen fails with inspect's code and reason when inspect says no, and renders when it says
# "ok" (one render per role here; tests/unit/test_load_verdict.cpp loads every one).
load_field() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["load"].get(sys.argv[2], ""))' "$1" "$2"; }
"$GEN" inspect "$L/tiny-vae.ckpt" --json >"$GEN_TMP/out.json" &&
  [ "$(load_field "$GEN_TMP/out.json" ok)" = False ] && [ "$(load_field "$GEN_TMP/out.json" code)" = unsupported ] &&
  pass "load verdict in the JSON" || bad "load verdict in the JSON: $(cat "$GEN_TMP/out.json")"
"$GEN" inspect "$L/diffusers/tiny-controlnet" | grep -q "load: *ok as a ControlNet (--control)" &&
  pass "load verdict in the human output" || bad "load verdict in the human output"
make_tiny_models
n=0 rendered=" "
for f in "$M"/*.safetensors "$M"/*.ckpt "$M"/diffusers/* "$M"/diffusers/*/vae "$M"/diffusers/*/unet; do
  "$GEN" inspect "$f" --json >"$GEN_TMP/v.json" 2>/dev/null || { bad "inspect $f failed"; continue; }
  as=$(load_field "$GEN_TMP/v.json" as)
  case $as in
    model) args=(-m "$f")  # an SDXL refiner refines an image (inspect says so)
           grep -q '"SDXL refiner' "$GEN_TMP/v.json" && args+=(-i "$GEN_SRC/tests/data/control/source.png" --strength 1) ;;
    controlnet) args=(-m "$P" --control "$f" --control-image "$GEN_SRC/tests/data/control/source.png") ;;
    vae) args=(-m "$P" --vae "$f") ;;
    *) bad "$f: load.as is '$as'"; continue ;;
  esac
  if [ "$(load_field "$GEN_TMP/v.json" ok)" = True ]; then
    case $rendered in *" $as "*) n=$((n + 1)); continue ;; esac
    rendered="$rendered$as "
  fi
  err=$("$GEN" -p "a red house" "${args[@]}" --vocab "$P/tokenizer" -W 64 -H 64 --steps 1 -o "$GEN_TMP/v.png" 2>&1 >/dev/null)
  rc=$?
  if [ "$(load_field "$GEN_TMP/v.json" ok)" = True ]; then
    want="" want_rc=0
  else
    want="gen: error [$(load_field "$GEN_TMP/v.json" code)]: $(load_field "$GEN_TMP/v.json" reason)"
    want_rc=$("$PY" -c 'import sys; print(dict(n.split("=") for n in sys.argv[2].split(","))[sys.argv[1]])' \
      "$(load_field "$GEN_TMP/v.json" code)" "invalid-argument=2,not-found=3,invalid-format=5,unsupported=6,model-mismatch=7")
  fi
  if [ "$rc" = "$want_rc" ] && { [ "$rc" = 0 ] || [ "$err" = "$want" ]; }; then n=$((n + 1)); else bad "$f as $as: gen exits $rc '$err', inspect says $want_rc '$want'"; fi
done
[ "$n" -ge 25 ] && pass "inspect's load verdict is what gen does, for $n tiny models" || bad "only $n tiny models agreed"

# Annotator files (.pth and .safetensors, tiny, with the original releases' names:
# tools/make_annotator_files.py --tiny): kind, file kind, variant, the --preprocess names, the
# gen convert command for a .pth.
A=$GEN_TMP/annotator_files
if "$PY" "$GEN_SRC/tools/make_annotator_files.py" --tiny "$A" >"$GEN_TMP/err" 2>&1; then
  parts() { "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["kind"], d["layout"], *d["parts"], d["load"]["as"], d["load"]["ok"])' "$1"; }
  for f in ControlNetHED.pth:"annotator original hed annotator False" \
           ControlNetHED.safetensors:"annotator original hed annotator True" \
           table5_pidinet.pth:"annotator original pidinet annotator False" \
           body_pose_model.safetensors:"annotator original openpose_body annotator" \
           depth_anything_v2_vits.safetensors:"annotator original depth_anything annotator True"; do
    "$GEN" inspect "$A/${f%%:*}" --json >"$GEN_TMP/a.json" 2>"$GEN_TMP/err" || { bad "inspect ${f%%:*}: $(cat "$GEN_TMP/err")"; continue; }
    got=$(parts "$GEN_TMP/a.json")
    case "$got" in "${f#*:}"*) pass "${f%%:*} → $got" ;; *) bad "${f%%:*} → $got, wanted ${f#*:}" ;; esac
  done
  out=$("$GEN" inspect "$A/ControlNetHED.pth")
  grep -qF "gen convert $A/ControlNetHED.pth $A/ControlNetHED.safetensors" <<<"$out" &&
    grep -q "read by --preprocess hed" <<<"$out" && pass "a .pth names its --preprocess and gen convert" ||
    bad "annotator .pth human output: $out"
  "$GEN" inspect "$A/depth_anything_v2_vitb.pth" | grep -q "variant vitb" && pass "Depth Anything variant" ||
    bad "Depth Anything variant not named"
  "$GEN" inspect "$A/sk_model2.safetensors" | grep -q "lineart, lineart_coarse" && pass "line-art: both names" ||
    bad "line-art names"
else
  bad "tools/make_annotator_files.py --tiny failed: $(tail -3 "$GEN_TMP/err")"
fi

# Errors: one line on stderr naming the path, the documented exit codes.
expect_exit 3 "does-not-exist.safetensors" -- "$GEN" inspect "$GEN_TMP/does-not-exist.safetensors"
printf 'definitely not a safetensors file' >"$GEN_TMP/corrupt.safetensors"
expect_exit 5 "corrupt.safetensors" -- "$GEN" inspect "$GEN_TMP/corrupt.safetensors"
head -c 100 "$L/tiny-vae.safetensors" >"$GEN_TMP/truncated.safetensors"
expect_exit 5 "truncated.safetensors" -- "$GEN" inspect "$GEN_TMP/truncated.safetensors"
mkdir -p "$GEN_TMP/photos" && echo hi >"$GEN_TMP/photos/a.txt"
expect_exit 3 "not a model folder" -- "$GEN" inspect "$GEN_TMP/photos"
printf '\x80\x02}q\x00.' >"$GEN_TMP/model.ckpt"
expect_exit 6 "model.ckpt" -- "$GEN" inspect "$GEN_TMP/model.ckpt"
expect_exit 2 "inspect|required" -- "$GEN" inspect
finish
