#!/usr/bin/env bash
# gen: train the demo model (models/demo) from nothing, with gen's own code, on this CPU.
#   scripts/train_demo.sh [OUT]          (default build/demo; needs build/tools/gen)
# Every stage is deterministic (one CPU thread, seeds fixed, data drawn from (seed, index)), so
# the weights equal the committed ones bit for bit on x86-64 with the same libtorch build; the
# stages skip what OUT already holds, so an interrupted run continues with the same result.
#   1. the data set: 2,000 shapes at 64² (gen train shapes), and 16 others to evaluate on
#   2. random weights from models/demo/config (gen train init)
#   3. the VAE (gen train vae), then its latents' scaling factor
#   4. the UNet on those latents, 10 % empty captions for guidance (gen train unet)
#   5. a ControlNet copied from the UNet (gen controlnet init), trained on the outlines
#      (gen train controlnet), a checkpoint every 100 steps
#   6. models/demo/{model,controlnet} in fp16 (gen convert) and, with GEN_PYTHON (numpy +
#      Pillow), the convergence curve (tools/demo_eval.py: docs/images/demo_convergence.svg)
# Environment: GEN (the gen binary), GEN_PYTHON, VAE_STEPS / UNET_STEPS / CN_STEPS to shorten
# a trial run (the committed weights use the defaults), INSTALL=0 to leave models/demo alone.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
GEN=${GEN:-$root/build/tools/gen}
OUT=${1:-$root/build/demo}
VAE_STEPS=${VAE_STEPS:-2000} UNET_STEPS=${UNET_STEPS:-4000} CN_STEPS=${CN_STEPS:-4000}
T="--threads 1 --seed 0"
mkdir -p "$OUT"
t0=$(date +%s)
log() { printf '[demo %5ss] %s\n' "$(( $(date +%s) - t0 ))" "$*" >&2; }
assemble() {  # assemble DEST FROM PART DIR: the model FROM with PART replaced by DIR
  [ -d "$1" ] && return 0
  rm -rf "$1.tmp" && cp -r "$2" "$1.tmp" && rm -rf "$1.tmp/$3" && cp -r "$4" "$1.tmp/$3" && mv "$1.tmp" "$1"
}

[ -d "$OUT/data" ] || { log "data"; "$GEN" train shapes "$OUT/data" --count 2000 --size 64 --seed 0; }
[ -d "$OUT/eval" ] || "$GEN" train shapes "$OUT/eval" --count 16 --size 64 --seed 1
[ -d "$OUT/init" ] || { log "init"; "$GEN" train init models/demo/config "$OUT/init" --seed 0; }
if [ ! -d "$OUT/vae/vae" ]; then
  log "VAE: $VAE_STEPS steps"
  "$GEN" train vae -m "$OUT/init" --data "$OUT/data" -o "$OUT/vae" --steps "$VAE_STEPS" --batch-size 16 \
    --learning-rate 1e-3 --checkpoint-every 200 --resume $T
fi
assemble "$OUT/with-vae" "$OUT/init" vae "$OUT/vae/vae"
if [ ! -d "$OUT/unet/unet" ]; then
  log "UNet: $UNET_STEPS steps"
  "$GEN" train unet -m "$OUT/with-vae" --data "$OUT/data" -o "$OUT/unet" --steps "$UNET_STEPS" --batch-size 32 \
    --learning-rate 1e-3 --empty-prompts 0.1 --checkpoint-every 500 --resume $T
fi
assemble "$OUT/model" "$OUT/with-vae" unet "$OUT/unet/unet"
[ -d "$OUT/controlnet-init" ] || "$GEN" controlnet init "$OUT/model" "$OUT/controlnet-init" --hint-channels 16 32 64 64 --seed 0
if [ ! -d "$OUT/cn/controlnet" ]; then
  log "ControlNet: $CN_STEPS steps"
  "$GEN" train controlnet -m "$OUT/model" --controlnet "$OUT/controlnet-init" --data "$OUT/data" -o "$OUT/cn" \
    --steps "$CN_STEPS" --batch-size 16 --learning-rate 1e-4 --empty-prompts 0.1 --checkpoint-every 100 --resume $T
fi
log "trained"

if [ "${INSTALL:-1}" = 1 ]; then
  dest=$root/models/demo
  rm -rf "$dest/model" "$dest/controlnet" && mkdir -p "$dest/model" "$dest/controlnet"
  (cd "$OUT/model" && find . -name '*.json' -o -name '*.txt') | while read -r f; do
    mkdir -p "$dest/model/$(dirname "$f")" && cp "$OUT/model/$f" "$dest/model/$f"; done
  for part in unet/diffusion_pytorch_model vae/diffusion_pytorch_model text_encoder/model; do
    "$GEN" convert "$OUT/model/$part.safetensors" "$dest/model/$part.safetensors" --dtype fp16 >/dev/null
  done
  cp "$OUT/cn/controlnet/config.json" "$dest/controlnet/"
  "$GEN" convert "$OUT/cn/controlnet/diffusion_pytorch_model.safetensors" \
    "$dest/controlnet/diffusion_pytorch_model.safetensors" --dtype fp16 >/dev/null
  log "installed into models/demo ($(du -sh "$dest" | cut -f1))"
fi
if [ -n "${GEN_PYTHON:-}" ]; then
  cks=$(ls -d "$OUT"/cn/checkpoint-* | sort -t- -k2 -n | sed 's#$#/controlnet#')
  "$GEN_PYTHON" tools/demo_eval.py --gen "$GEN" --model "$OUT/model" --data "$OUT/eval" --controlnet $cks \
    --csv "$OUT/convergence.csv" --svg docs/images/demo_convergence.svg
  log "convergence: $OUT/convergence.csv, docs/images/demo_convergence.svg"
fi
