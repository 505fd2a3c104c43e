#!/usr/bin/env bash
# A catalogue of bad inputs: hostile or broken weight files, images and arguments, each run
# through the real `gen` CLI. Every failing case must exit with the code of docs/errors.md,
# print exactly one line on stderr, `gen: error [<code-name>]: <subject>: <problem>`, whose
# subject names the input (the file or the option), and leave nothing in the output folder
# (not even a temporary file). Inputs gen must accept (16-bit, RGBA, 1x1 images) must give an
# image. The hostile files are made here, at run time, from the tiny models of
# tools/make_tiny_models.py. Cases marked "needs ..." wait for a fix outside src/io, src/image,
# src/models, src/control and src/tensor (the comment says where).
source "$(dirname "$0")/lib.sh"
: "${GEN_SRC:?}" "${GEN_PYTHON:?GEN_PYTHON must point to the project venv python}"
M=$GEN_TMP/models   # tiny models
H=$GEN_TMP/hostile  # broken weight files
I=$GEN_TMP/images   # broken and unusual images
# The output folder, $O, is emptied before each case and must stay empty when it fails. The
# three groups of cases run as two streams side by side, each with its own $O and log.
make_tiny_models
P=$M/diffusers/tiny-sd15-pipeline
SD=$M/tiny-sd15.safetensors
CN=$M/tiny-control-v11.safetensors
mkdir -p "$H" "$I"

# ---------------------------------------------------------------- the hostile files
"$GEN_PYTHON" - "$SD" "$CN" "$P" "$H" "$I" <<'EOF' || { bad "making the hostile files failed"; finish; }
import json, os, struct, sys, zlib
import numpy as np
import torch
from safetensors.torch import load_file, save_file

sd_path, cn_path, pipe, H, I = sys.argv[1:6]
raw = open(sd_path, "rb").read()
hlen = struct.unpack("<Q", raw[:8])[0]
w = lambda p, b: open(p, "wb").write(b)
unet = load_file(f"{pipe}/unet/diffusion_pytorch_model.safetensors")

# A copy of the tiny pipeline (links to its files) whose UNet weights are changed.
def variant(name, change):
    d = os.path.join(H, name)
    os.makedirs(f"{d}/unet")
    for part in ("model_index.json", "scheduler", "text_encoder", "tokenizer", "vae", "unet/config.json"):
        os.symlink(os.path.join(pipe, part), os.path.join(d, part))
    t = dict(unet)
    change(t)
    save_file(t, f"{d}/unet/diffusion_pytorch_model.safetensors")

# Weight files.
w(f"{H}/truncated.safetensors", raw[: 8 + hlen + (len(raw) - 8 - hlen) // 2])  # header intact, half the data
w(f"{H}/truncated-header.safetensors", raw[:200])                               # cut inside the JSON header
w(f"{H}/text.safetensors", b"this is a text file, not a model\n" * 4)
w(f"{H}/empty.safetensors", b"")
w(f"{H}/junk.ckpt", b"not a zip archive and not a pickle either\n" * 8)
# A header whose length field claims 2^62 bytes.
w(f"{H}/huge-header.safetensors", struct.pack("<Q", 1 << 62) + b'{"__metadata__":{}}')
# A header whose one tensor claims 2^40 x 2^40 floats (and offsets far past the end of the file).
hdr = json.dumps({"w": {"dtype": "F32", "shape": [1 << 40, 1 << 40], "data_offsets": [0, 1 << 62]}}).encode()
hdr += b" " * (-len(hdr) % 8)
w(f"{H}/huge-tensor.safetensors", struct.pack("<Q", len(hdr)) + hdr + b"\0" * 64)
# Tensors that are there but wrong.
variant("int32", lambda t: t.update({"conv_in.weight": (t["conv_in.weight"] * 100).to(torch.int32)}))
variant("bool", lambda t: t.update({"conv_out.weight": t["conv_out.weight"] > 0}))
variant("missing", lambda t: t.pop("conv_out.bias"))
variant("unexpected", lambda t: t.update({"conv_out.extra": torch.zeros(4)}))
variant("misshaped", lambda t: t.update({"time_embedding.linear_1.weight":
                                          torch.zeros(t["time_embedding.linear_1.weight"].shape[0] + 1,
                                                      t["time_embedding.linear_1.weight"].shape[1])}))
variant("nan", lambda t: t.update({"conv_out.weight": torch.full_like(t["conv_out.weight"], float("nan"))}))
# A ControlNet cut short.
cn = open(cn_path, "rb").read()
w(f"{H}/truncated-control.safetensors", cn[: len(cn) - 1000])

# Images, written by hand (zlib + struct) so that every byte is under control.
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

def png(width, height, color, depth, rows, idat=None):
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0)
    if idat is None:
        idat = zlib.compress(b"".join(b"\0" + r for r in rows))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")

g = np.random.default_rng(7)
rgb8 = g.integers(0, 256, (48, 40, 3), dtype=np.uint8)
good = png(40, 48, 2, 8, [r.tobytes() for r in rgb8])
w(f"{I}/good.png", good)
corrupt = bytearray(good)
corrupt[60:70] = bytes(b ^ 0x5A for b in corrupt[60:70])  # inside IDAT: bad CRC and bad zlib data
w(f"{I}/corrupt.png", bytes(corrupt))
w(f"{I}/empty.png", b"")
w(f"{I}/text.png", b"not an image\n")
rgb16 = g.integers(0, 65536, (24, 32, 3), dtype=np.uint16)
w(f"{I}/rgb16.png", png(32, 24, 2, 16, [r.astype(">u2").tobytes() for r in rgb16]))
rgba = g.integers(0, 256, (24, 32, 4), dtype=np.uint8)
w(f"{I}/rgba.png", png(32, 24, 6, 8, [r.tobytes() for r in rgba]))
w(f"{I}/one.png", png(1, 1, 2, 8, [bytes([200, 30, 90])]))
w(f"{I}/strip.png", png(2000, 1, 0, 8, [bytes(range(250)) * 8]))  # 2000x1 grey
# 20000 x 20000 RGB claimed in IHDR, with a few bytes of (truncated) image data: 400 MP.
w(f"{I}/bomb.png", png(20000, 20000, 2, 8, None, idat=zlib.compress(b"\0" * 60000)[:40]))
# A JPEG cut in half (Pillow writes it whole first).
from PIL import Image
import io
buf = io.BytesIO()
Image.fromarray(g.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG", quality=90)
w(f"{I}/truncated.jpg", buf.getvalue()[: len(buf.getvalue()) // 2])
# A PNG file with a .safetensors name (for the weight-file cases).
w(f"{H}/image.safetensors", good)
Image.fromarray(rgb8).save(f"{I}/image.gif")  # a valid image gen does not read
EOF
mkdir -p "$H/not-a-model"; echo "just a folder" >"$H/not-a-model/README.txt"
cp "$SD" "$H/unreadable.safetensors"; chmod 000 "$H/unreadable.safetensors"

source "$(dirname "$0")/cases.sh"  # fails, works, arg, ldm, ctl, re, png_size

# ---------------------------------------------------------------- weight files
weight_files() {
  fails "truncated safetensors (half the data)" 5 invalid-format "$(re "$H/truncated.safetensors")" \
    "truncated|end of (the )?file|past the end|shorter|size" -- ldm "$H/truncated.safetensors"
  fails "safetensors cut inside its JSON header" 5 invalid-format "$(re "$H/truncated-header.safetensors")" \
    "truncated|end of (the )?file|header|shorter" -- ldm "$H/truncated-header.safetensors"
  fails "a PNG named .safetensors" 5 invalid-format "$(re "$H/image.safetensors")" "safetensors|header" \
    -- ldm "$H/image.safetensors"
  fails "a text file named .safetensors" 5 invalid-format "$(re "$H/text.safetensors")" "safetensors|header" \
    -- ldm "$H/text.safetensors"
  fails "an empty .safetensors file" 5 invalid-format "$(re "$H/empty.safetensors")" "empty" \
    -- ldm "$H/empty.safetensors"
  fails "a header length of 2^62 bytes" 5 invalid-format "$(re "$H/huge-header.safetensors")" "header" \
    -- ldm "$H/huge-header.safetensors"
  fails "a tensor claiming 2^80 floats" 5 invalid-format "$(re "$H/huge-tensor.safetensors")" \
    "64 bits|overflow|too large|past the end" -- ldm "$H/huge-tensor.safetensors"
  fails "gen inspect on a tensor claiming 2^80 floats" 5 invalid-format "$(re "$H/huge-tensor.safetensors")" \
    "64 bits|overflow|too large|past the end" -- "$GEN" inspect "$H/huge-tensor.safetensors"
  fails "a .ckpt that is neither zip nor pickle, as --model" 5 invalid-format "$(re "$H/junk.ckpt")" \
    "zip|pickle|checkpoint" -- ldm "$H/junk.ckpt"
  fails "a real torch.save checkpoint as --model" 6 unsupported "$(re "$M/tiny-sd15.ckpt")" "gen convert" \
    -- ldm "$M/tiny-sd15.ckpt"
  cp "$M/tiny-sd15.ckpt" "$H/pickle.safetensors"
  fails "a torch.save checkpoint named .safetensors" 6 unsupported "$(re "$H/pickle.safetensors")" "gen convert" \
    -- ldm "$H/pickle.safetensors"
  fails "gen convert of a .ckpt that is neither zip nor pickle" 5 invalid-format "$(re "$H/junk.ckpt")" \
    "zip|pickle|checkpoint" -- "$GEN" convert "$H/junk.ckpt" "$O/out.safetensors"
  U=unet/diffusion_pytorch_model.safetensors  # in the changed copies of the pipeline
  fails "an int32 weight where floats are expected" 7 model-mismatch "$(re "$H/int32/$U")" \
    "conv_in\.weight.*I32|I32.*conv_in\.weight" -- arg -m "$H/int32"
  fails "a bool weight where floats are expected" 7 model-mismatch "$(re "$H/bool/$U")" \
    "conv_out\.weight.*BOOL|BOOL.*conv_out\.weight" -- arg -m "$H/bool"
  fails "a missing tensor" 7 model-mismatch "$(re "$H/missing/$U")" "missing.*conv_out\.bias" -- arg -m "$H/missing"
  fails "an unexpected tensor" 7 model-mismatch "$(re "$H/unexpected/$U")" "unexpected.*conv_out\.extra" \
    -- arg -m "$H/unexpected"
  fails "a mis-shaped tensor" 7 model-mismatch "$(re "$H/misshaped/$U")" \
    "mis-shaped.*time_embedding\.linear_1\.weight" -- arg -m "$H/misshaped"
  # needs the NaN check in src/pipeline
  fails "NaN weights" 7 model-mismatch "$(re "$H/nan/$U")|$(re "$H/nan")" "NaN|Inf|non-finite" -- arg -m "$H/nan"
  fails "a folder that is not a diffusers pipeline" 3 not-found "$(re "$H/not-a-model")" "model_index\.json" \
    -- ldm "$H/not-a-model"
  if [ "$(id -u)" = 0 ]; then
    echo "skip: a weight file without read permission (running as root, who can read it anyway)"
  else
    fails "a weight file without read permission" 4 io "$(re "$H/unreadable.safetensors")" "permission" \
      -- ldm "$H/unreadable.safetensors"
  fi
  fails "a truncated ControlNet file" 5 invalid-format "$(re "$H/truncated-control.safetensors")" \
    "truncated|end of (the )?file|past the end|shorter|size" \
    -- arg --control "$H/truncated-control.safetensors" --control-image "$I/good.png"
  fails "a Stable Diffusion file given as a ControlNet" 7 model-mismatch "$(re "$SD")" "not a ControlNet" \
    -- arg --control "$SD" --control-image "$I/good.png"
  fails "a text file as --vae" 5 invalid-format "$(re "$H/text.safetensors")" "safetensors|header" \
    -- arg --vae "$H/text.safetensors"
}

# ---------------------------------------------------------------- images
images() {
  for via in control preprocess; do
    if [ $via = control ]; then img() { ctl "$@"; }
    else img() { "$GEN" preprocess "$1" -W 64 -H 64 -o "$O/out.png"; }; fi
    fails "$via: a corrupt PNG" 5 invalid-format "$(re "$I/corrupt.png")" "PNG" -- img "$I/corrupt.png"
    fails "$via: a truncated JPEG" 5 invalid-format "$(re "$I/truncated.jpg")" "JPEG" -- img "$I/truncated.jpg"
    fails "$via: an empty image file" 5 invalid-format "$(re "$I/empty.png")" "empty" -- img "$I/empty.png"
    fails "$via: a text file named .png" 5 invalid-format "$(re "$I/text.png")" "not a PNG or JPEG" \
      -- img "$I/text.png"
    fails "$via: a folder as the image" 2 invalid-argument "$(re "$I")" "folder" -- img "$I"
    fails "$via: a PNG claiming 20000x20000" 6 unsupported "$(re "$I/bomb.png")" "20000x20000.*limit" \
      -- img "$I/bomb.png"
    works "$via: a 16-bit RGB PNG" 64 64 -- img "$I/rgb16.png"
    works "$via: an RGBA PNG" 64 64 -- img "$I/rgba.png"
    works "$via: a 1x1 image (resized)" 64 64 -- img "$I/one.png"
  done
  fails "preprocess: a GIF" 6 unsupported "$(re "$I/image.gif")" "GIF" \
    -- "$GEN" preprocess "$I/image.gif" -W 64 -H 64 -o "$O/out.png"
  for mode in crop fill; do
    works "preprocess: a 1x1 image, --control-resize $mode" 64 64 -- \
      "$GEN" preprocess "$I/one.png" --control-resize $mode -W 64 -H 64 -o "$O/out.png"
    works "preprocess: a 2000x1 image, --control-resize $mode" 64 64 -- \
      "$GEN" preprocess "$I/strip.png" --control-resize $mode -W 64 -H 64 -o "$O/out.png"
  done
  fails "gen info: a corrupt PNG" 5 invalid-format "$(re "$I/corrupt.png")" "PNG" -- "$GEN" info "$I/corrupt.png"
  fails "gen info: an empty file" 5 invalid-format "$(re "$I/empty.png")" "empty" -- "$GEN" info "$I/empty.png"
  fails "gen info: a PNG claiming 20000x20000" 6 unsupported "$(re "$I/bomb.png")" "20000x20000.*limit" \
    -- "$GEN" info "$I/bomb.png"
}

# ---------------------------------------------------------------- arguments
arguments() {
  W='--width|width' Hh='--height|height' S='--steps|steps'
  fails "width not a multiple of 8" 2 invalid-argument "$W" "multiple of 8" -- arg -W 65
  fails "height not a multiple of 8" 2 invalid-argument "$Hh" "multiple of 8" -- arg -H 100
  fails "width 0" 2 invalid-argument "$W" "between 8 and" -- arg -W 0
  fails "width -64" 2 invalid-argument "$W" "between 8 and" -- arg -W -64
  fails "height 100000" 2 invalid-argument "$Hh" "between 8 and" -- arg -H 100000
  fails "steps 0" 2 invalid-argument "$S" "between 1 and 1000" -- arg --steps 0
  fails "steps -1" 2 invalid-argument "$S" "between 1 and 1000" -- arg --steps -1
  fails "steps 100000" 2 invalid-argument "$S" "between 1 and 1000" -- arg --steps 100000
  fails "a negative cfg scale" 2 invalid-argument "--cfg-scale|cfg_scale" "between 0 and" -- arg --cfg-scale -2
  fails "an unknown sampler" 2 invalid-argument "--sampler|sampler" "unknown sampler 'nope'" -- arg --sampler nope
  fails "an unknown weights mode" 2 invalid-argument "--weights|weights" "must be auto, wide or offload" -- arg --weights narrow
  fails "an unknown VAE tiling" 2 invalid-argument "--vae-tiling|vae_tiling" "must be auto, on, off, exact or blended" \
    -- arg --vae-tiling sometimes
  for t in exact blended; do works "VAE tiling $t" 64 64 -- arg --vae-tiling "$t"; done
  c=(--control "$CN" --control-image "$I/good.png")
  fails "a negative control scale" 2 invalid-argument "--control-scale|controls\[0\]\.scale" "between 0 and" \
    -- arg "${c[@]}" --control-scale -0.5
  fails "control start below 0" 2 invalid-argument "--control-start|controls\[0\]\.start" "between 0 and 1" \
    -- arg "${c[@]}" --control-start -0.1
  fails "control end above 1" 2 invalid-argument "--control-end|controls\[0\]\.end" "between 0 and 1" \
    -- arg "${c[@]}" --control-end 1.5
  fails "control start after end" 2 invalid-argument "--control-start|--control-end|controls\[0\]" \
    "start is after end" -- arg "${c[@]}" --control-start 0.7 --control-end 0.3
  fails "an unknown preprocessor" 2 invalid-argument "--preprocess|preprocess" "unknown preprocessor 'sobel'" \
    -- arg "${c[@]}" --preprocess sobel
  fails "gen preprocess: an unknown preprocessor" 2 invalid-argument "--preprocess|preprocess" \
    "unknown preprocessor 'sobel'" -- "$GEN" preprocess "$I/good.png" --preprocess sobel -o "$O/out.png"
  # needs the subject fix in tools/gen/cmd_preprocess.cpp (it says "size", not the option)
  fails "gen preprocess: width 0" 2 invalid-argument "$W|-W" "multiple|between" \
    -- "$GEN" preprocess "$I/good.png" -W 0 -H 64 -o "$O/out.png"
  fails "a missing output folder" 3 not-found "$(re "$O/no/such/dir/out.png")|--output" "does not exist" \
    -- arg -o "$O/no/such/dir/out.png"
  # needs the subject fix in tools/gen/main.cpp (CLI11's errors come out as "gen: <CLI11 text>")
  fails "width not a number" 2 invalid-argument "$W|-W" "abc" -- arg -W abc
  # needs the subject fix in tools/gen/main.cpp
  fails "an unknown option" 2 invalid-argument "--bogus" "unknown|not expected" -- arg --bogus
}

# ---------------------------------------------------------------- run
# stream NAME FUNCTION...: the functions in a background shell with their own output folder;
# their report goes to NAME.log and their failure count to NAME.failures.
stream() {
  local name=$1 f; shift
  ( O=$GEN_TMP/out-$name failures=0
    for f in "$@"; do "$f"; done
    echo "$failures" >"$GEN_TMP/$name.failures" ) >"$GEN_TMP/$name.log" 2>&1 &
}
stream a weight_files
stream b images arguments
wait
chmod 600 "$H/unreadable.safetensors"
for s in a b; do
  cat "$GEN_TMP/$s.log"
  failures=$((failures + $(cat "$GEN_TMP/$s.failures" 2>/dev/null || echo 1)))
done
finish
