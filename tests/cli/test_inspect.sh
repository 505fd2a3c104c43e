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
