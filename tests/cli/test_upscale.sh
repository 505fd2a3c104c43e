#!/usr/bin/env bash
# ESRGAN-family upscalers through the CLI (docs/upscalers.md): `gen upscale` (sizes, --scale, the
# A1111 tiled result against tools/esrgan_reference.py's Pillow re-implementation, refusing to
# overwrite), hires fix with --hires-upscaler-model on the tiny pipeline (a file, a name in
# --upscaler-dir or $GEN_UPSCALER_DIR, the infotext, `gen --from` re-running it), `gen inspect`,
# and bad inputs with their exit codes (docs/errors.md).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cases.sh"
: "${GEN_SRC:?}" "${GEN_PYTHON:?GEN_PYTHON must point to the project venv python}"
make_tiny_models
O=$GEN_TMP/out U=$GEN_TMP/upscalers I=$GEN_TMP/images
mkdir -p "$O" "$I"
"$GEN_PYTHON" - "$I" <<'PY' || { bad "making the images failed"; finish; }
import sys, numpy as np
from PIL import Image
d = sys.argv[1]
rng = np.random.default_rng(3)
Image.fromarray((rng.random((28, 40, 3)) * 255).astype(np.uint8)).save(f"{d}/in.png")
Image.fromarray((rng.random((20, 20, 4)) * 255).astype(np.uint8), "RGBA").save(f"{d}/rgba.png")
open(f"{d}/not-an-image.png", "w").write("hello")
PY
"$GEN_PYTHON" "$GEN_SRC/tools/esrgan_reference.py" --out "$U" --only old_x4,basicsr_x4_st,unshuffle_x2 \
  --a1111 "$I/in.png" --tile 16 --overlap 4 >/dev/null 2>"$GEN_TMP/ref.err" || { cat "$GEN_TMP/ref.err"; bad "esrgan_reference.py failed"; finish; }
head -c 300000 "$U/old_x4.pth" >"$U/cut.pth"

# gen upscale
expect_exit 0 "" -- "$GEN" upscale "$I/in.png" --model "$U/old_x4.pth" -o "$O/x4.png"
[ "$(png_size "$O/x4.png")" = "160 112" ] && pass "x4 net: 40x28 → 160x112" || bad "x4 size: $(png_size "$O/x4.png")"
expect_exit 0 "" -- "$GEN" upscale "$I/in.png" --model "$U/old_x4.pth" --tile 16 --tile-overlap 4 -o "$O/t16.png"
"$GEN_PYTHON" - "$O/t16.png" "$U/a1111_old_x4.png" <<'PY' && pass "tiles of 16 (overlap 4) as A1111 on Pillow (at most 1 level, <1% of samples)" || bad "tiled upscale differs from A1111"
import sys, numpy as np
from PIL import Image
a, b = (np.asarray(Image.open(p).convert("RGB")).astype(int) for p in sys.argv[1:3])
d = np.abs(a - b)
print("max", d.max(), "differing", (d > 0).mean())
sys.exit(0 if a.shape == b.shape and d.max() <= 1 and (d > 0).mean() < 0.01 else 1)
PY
expect_exit 0 "" -- "$GEN" upscale "$I/in.png" --model "$U/basicsr_x4.safetensors" --scale 2 -o "$O/s2.png"
[ "$(png_size "$O/s2.png")" = "80 56" ] && pass "--scale 2 with a x4 net: 80x56 (Lanczos after one pass)" || bad "--scale 2: $(png_size "$O/s2.png")"
expect_exit 0 "" -- "$GEN" upscale "$I/rgba.png" --model "$U/unshuffle_x2.pth" -o "$O/rgba.png"
[ "$(png_size "$O/rgba.png")" = "40 40" ] && pass "Real-ESRGAN x2 (pixel-unshuffle) on an RGBA image: 40x40" || bad "x2: $(png_size "$O/rgba.png")"
expect_exit 2 "exists: pass --overwrite" -- "$GEN" upscale "$I/in.png" --model "$U/old_x4.pth" -o "$O/x4.png"
expect_exit 0 "" -- "$GEN" upscale "$I/in.png" --model "$U/old_x4.pth" -o "$O/x4.png" --overwrite
"$GEN" inspect "$U/old_x4.pth" | grep -q "load: *ok as an upscaler" && "$GEN" inspect --json "$U/basicsr_x4.safetensors" |
  "$GEN_PYTHON" -c 'import json,sys; j=json.load(sys.stdin); f=j["facts"]
sys.exit(0 if j["kind"]=="upscaler" and j["layout"]=="basicsr" and f["scale"]==4 and f["features"]==8 and f["blocks"]==1 and j["load"]["as"]=="upscaler" and j["load"]["ok"] else 1)' &&
  pass "gen inspect names an ESRGAN file (layout, scale, features, blocks)" || bad "inspect: $("$GEN" inspect --json "$U/basicsr_x4.safetensors")"

# Bad inputs: one line naming the input, the documented exit code, nothing written.
up() { "$GEN" upscale "$@"; }
fails "upscale: no such model" 3 not-found "$U/nope.pth" "no such file" -- up "$I/in.png" --model "$U/nope.pth" -o "$O/o.png"
fails "upscale: truncated model" 5 invalid-format "$U/cut.pth" "." -- up "$I/in.png" --model "$U/cut.pth" -o "$O/o.png"
fails "upscale: a Stable Diffusion checkpoint as the model" 7 model-mismatch "$M/tiny-sd15.safetensors" \
  "not an ESRGAN-family upscaler.*Stable Diffusion|not an ESRGAN-family upscaler.*SD" -- up "$I/in.png" --model "$M/tiny-sd15.safetensors" -o "$O/o.png"
fails "upscale: not an image" 5 invalid-format "$I/not-an-image.png" "." -- up "$I/not-an-image.png" --model "$U/old_x4.pth" -o "$O/o.png"
fails "upscale: tile not above the overlap" 2 invalid-argument tile "larger than the overlap" -- \
  up "$I/in.png" --model "$U/old_x4.pth" --tile 8 --tile-overlap 8 -o "$O/o.png"
fails "upscale: a scale over 64" 2 invalid-argument scale "up to 64" -- \
  up "$I/in.png" --model "$U/old_x4.pth" --scale 100 -o "$O/o.png"

# Hires fix with the net: 64x48 → ×1.5 = 96x72 (the x4 net once, Lanczos down to 96x72).
works "hires fix with an ESRGAN file" 96 72 -- arg -H 48 --steps 2 --hires-scale 1.5 --hires-upscaler-model "$U/old_x4.pth"
works "hires fix with a net named in --upscaler-dir" 96 72 -- \
  arg -H 48 --steps 2 --hires-scale 1.5 --hires-upscaler-model basicsr_x4 --upscaler-dir "$U"
GEN_UPSCALER_DIR=$U works "hires fix with a net named in \$GEN_UPSCALER_DIR" 96 72 -- \
  arg -H 48 --steps 2 --hires-scale 1.5 --hires-upscaler-model basicsr_x4
rm -rf "$O"; mkdir -p "$O"
arg -H 48 --steps 2 --hires-scale 1.5 --hires-upscaler-model old_x4 --upscaler-dir "$U" -o "$O/h.png" &&
  "$GEN" info "$O/h.png" | grep -q "Hires upscale: 1.5, Hires upscaler: old_x4," &&
  pass "infotext: Hires upscaler: <model stem>" || bad "hires infotext: $("$GEN" info "$O/h.png")"
"$GEN" --from "$O/h.png" -q --upscaler-dir "$U" -o "$O/h2.png" && pixels_equal "$O/h.png" "$O/h2.png" &&
  pass "gen --from re-runs a hires request with an upscaler net pixel-identically" || bad "--from hires net"
arg -H 48 --steps 2 --hires-scale 1.5 --hires-upscaler lanczos -o "$O/l.png" && ! pixels_equal "$O/h.png" "$O/l.png" &&
  pass "the net changes the image (not the Lanczos path)" || bad "net vs lanczos identical"
fails "hires: a net name without a folder" 3 not-found hires_upscaler_model "upscaler-dir" -- \
  arg -H 48 --steps 1 --hires-scale 1.5 --hires-upscaler-model old_x4
fails "hires: no such net in the folder" 3 not-found hires_upscaler_model "no upscaler named 'nope'" -- \
  arg -H 48 --steps 1 --hires-scale 1.5 --hires-upscaler-model nope --upscaler-dir "$U"
fails "hires: a truncated net" 5 invalid-format "$U/cut.pth" "." -- \
  arg -H 48 --steps 1 --hires-scale 1.5 --hires-upscaler-model "$U/cut.pth"
GEN_UPSCALER_DIR=$GEN_TMP/nowhere fails "\$GEN_UPSCALER_DIR naming no folder" 3 not-found GEN_UPSCALER_DIR "does not exist" -- \
  arg -H 48 --steps 1 --hires-scale 1.5 --hires-upscaler-model old_x4
finish
