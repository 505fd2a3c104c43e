#!/usr/bin/env bash
# PNG metadata (issue 13 item 8, docs/metadata.md): --metadata portable|full|none for gen and
# gen batch; the A1111 text's Model/Model hash, RNG and ControlNet units in the extension's
# words; `gen --from` and `gen info` on a PNG A1111 wrote (made here with Pillow, its text in
# A1111's format): files found by name, what gen cannot honour one clear error unless the
# command line sets it, unknown keys a warning.
. "$(dirname "$0")/lib.sh"
make_tiny_models
O=$GEN_TMP/out
mkdir -p "$O/sub" "$GEN_TMP/jobs"
chunks() { "$GEN_PYTHON" -c 'import sys, json; from PIL import Image
t = Image.open(sys.argv[1]).text; print(eval(sys.argv[2]))' "$@"; }
sha10() { "$GEN_PYTHON" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest()[:10])' "$1"; }
# The ControlNet extension's model hash: A1111's old hash, the SHA-256 of the 64 KiB at 1 MiB.
oldhash() { "$GEN_PYTHON" -c 'import hashlib, sys; f = open(sys.argv[1], "rb"); f.seek(0x100000)
print(hashlib.sha256(f.read(0x10000)).hexdigest()[:8])' "$1"; }
common=(-p "a red circle" -W 64 -H 64 --steps 2 --seed 5 --sampler euler_a -q)

# --metadata portable (default): no absolute path in either chunk, paths relative to the image.
"$GEN" -m "$P" "${common[@]}" -o "$O/sub/p.png" || { bad "generating failed"; finish; }
got=$(chunks "$O/sub/p.png" 'sorted(t), json.loads(t["gen"])["model"]')
want="(['gen', 'parameters'], '$("$GEN_PYTHON" -c 'import os, sys; print(os.path.relpath(sys.argv[1], sys.argv[2]))' "$P" "$O/sub")')"
[ "$got" = "$want" ] && pass "portable: the model path is relative to the image" || bad "portable: $got, wanted $want"
got=$(chunks "$O/sub/p.png" '"/" in t["parameters"] or any(v.startswith("/") for v in [json.loads(t["gen"])[k] for k in ("model", "vae", "vocab")])')
[ "$got" = "False" ] && pass "portable: no absolute path" || bad "portable wrote an absolute path: $(chunks "$O/sub/p.png" 't')"
# A folder model: "Model" is its name, no "Model hash" (A1111 has none for folders); RNG: CPU.
got=$(chunks "$O/sub/p.png" 't["parameters"].split("\n")[-1]')
want="Steps: 2, Sampler: Euler a, CFG scale: 7.5, Seed: 5, Size: 64x64, Model: tiny-sd15-pipeline, RNG: CPU, Version: gen"
[ "$got" = "$want" ] && pass "the A1111 line of a folder model" || bad "A1111 line: $got, wanted $want"

# --metadata full: absolute paths; none: no text chunk at all.
"$GEN" -m "$P" "${common[@]}" --metadata full -o "$O/f.png" || bad "--metadata full failed"
got=$(chunks "$O/f.png" 'json.loads(t["gen"])["model"]')
[ "$got" = "$(realpath -s "$P")" ] && pass "full: the absolute model path" || bad "full: $got"
"$GEN" -m "$P" "${common[@]}" --metadata none -o "$O/n.png" || bad "--metadata none failed"
got=$(chunks "$O/n.png" 'len(t)')
[ "$got" = "0" ] && pass "none: no metadata chunk" || bad "none: $(chunks "$O/n.png" 't')"
pixels_equal "$O/n.png" "$O/f.png" && pass "the mode changes no pixel" || bad "--metadata changed the image"
expect_exit 2 "metadata" -- "$GEN" -m "$P" "${common[@]}" --metadata all -o "$O/x.png"

# A ControlNet file: the extension's unit, "name [old hash]"; a checkpoint file: Model hash.
python_edges() { "$GEN_PYTHON" - "$1" <<'PY'
import sys, numpy as np
from PIL import Image
a = np.zeros((64, 64, 3), np.uint8); a[16:48, 16:48] = 255
Image.fromarray(a).save(sys.argv[1])
PY
}
python_edges "$GEN_TMP/edges.png"
CN=$M/tiny-control-v11.safetensors
"$GEN" -m "$P" "${common[@]}" --control "$CN" --control-image "$GEN_TMP/edges.png" --preprocess canny:50:150 \
  --control-scale 0.8 --control-resize crop -o "$O/cn.png" || bad "generating with a ControlNet failed"
got=$(chunks "$O/cn.png" 'json.loads(t["parameters"].split("ControlNet 0: ")[1].split(", Version")[0])')
want="Module: canny, Model: tiny-control-v11 [$(oldhash "$CN")], Weight: 0.8, Resize Mode: Crop and Resize, Processor Res: 512, Threshold A: 50.0, Threshold B: 150.0, Guidance Start: 0.0, Guidance End: 1.0, Pixel Perfect: False, Control Mode: Balanced"
[ "$got" = "$want" ] && pass "the ControlNet unit in the extension's words" || bad "unit: $got, wanted $want"
"$GEN" -m "$M/tiny-sd15.safetensors" --config "$M/configs/tiny-v1-inference.yaml" \
  --vocab "$M/diffusers/tiny-sd15-pipeline/tokenizer" "${common[@]}" -o "$O/single.png" || bad "single file failed"
got=$(chunks "$O/single.png" '[kv for kv in t["parameters"].split("\n")[-1].split(", ") if kv.startswith("Model")]')
want="['Model hash: $(sha10 "$M/tiny-sd15.safetensors")', 'Model: tiny-sd15']"
[ "$got" = "$want" ] && pass "a checkpoint file's Model hash is A1111's short sha256" || bad "model keys: $got, wanted $want"

# gen batch: --metadata for every job, a job's own "metadata" wins.
cat >"$GEN_TMP/jobs/j.jsonl" <<EOF2
{"id": "a", "output": "a.png", "prompt": "x", "model": "$P", "width": 64, "height": 64, "steps": 1, "seed": 1}
{"id": "b", "output": "b.png", "prompt": "x", "model": "$P", "width": 64, "height": 64, "steps": 1, "seed": 1, "metadata": "none"}
EOF2
"$GEN" batch "$GEN_TMP/jobs/j.jsonl" -O "$GEN_TMP/jobs/out" --metadata full -q || bad "gen batch failed"
got="$(chunks "$GEN_TMP/jobs/out/a.png" 'json.loads(t["gen"])["model"]') $(chunks "$GEN_TMP/jobs/out/b.png" 'len(t)')"
[ "$got" = "$(realpath -s "$P") 0" ] && pass "batch: --metadata full, a job's \"metadata\": none" || bad "batch: $got"
echo '{"id": "c", "prompt": "x", "model": "m", "metadata": "all"}' >"$GEN_TMP/jobs/bad.jsonl"
"$GEN" batch "$GEN_TMP/jobs/bad.jsonl" -O "$GEN_TMP/jobs/out2" -q >/dev/null 2>"$GEN_TMP/bad.err"
grep -q "metadata: must be portable, full or none" "$GEN_TMP/jobs/out2/bad.results.jsonl" &&
  pass "batch: a bad job \"metadata\" fails that job" || bad "batch bad metadata: $(cat "$GEN_TMP/jobs/out2/bad.results.jsonl")"

# An A1111 PNG (no gen chunk), its text as A1111 writes it.
a1111_png() {  # a1111_png OUT TEXT
  "$GEN_PYTHON" - "$1" "$2" <<'PY'
import sys, numpy as np
from PIL import Image, PngImagePlugin
info = PngImagePlugin.PngInfo(); info.add_text("parameters", sys.argv[2])
Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(sys.argv[1], pnginfo=info)
PY
}
export GEN_MODEL_DIR=$M/diffusers GEN_CONTROLNET_DIR=$M
a1111_png "$GEN_TMP/a.png" 'a red circle
Steps: 2, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7.5, Seed: 5, Size: 64x64, Model: tiny-sd15-pipeline, RNG: CPU, Variation seed: 3, Version: v1.10.1'
"$GEN" --from "$GEN_TMP/a.png" -o "$O/from-a1111.png" 2>"$GEN_TMP/from.err" || bad "--from an A1111 PNG failed: $(cat "$GEN_TMP/from.err")"
pixels_equal "$O/from-a1111.png" "$O/sub/p.png" && pass "--from an A1111 PNG renders its request (model found by name)" ||
  bad "--from an A1111 PNG differs from the same request given as options"
grep -q "A1111 keys gen does not use (left out): Variation seed" "$GEN_TMP/from.err" && pass "unknown keys: one warning" ||
  bad "no unknown-key warning: $(cat "$GEN_TMP/from.err")"
"$GEN" info "$GEN_TMP/a.png" >"$GEN_TMP/info.txt" || bad "gen info on an A1111 PNG failed"
grep -qx "  Size-1: 64" "$GEN_TMP/info.txt" && grep -qx "  Variation seed: 3  (not used by gen)" "$GEN_TMP/info.txt" &&
  pass "gen info shows the A1111 fields" || bad "gen info: $(cat "$GEN_TMP/info.txt")"
got=$("$GEN" info --json "$GEN_TMP/a.png" | "$GEN_PYTHON" -c 'import json, sys; r = json.load(sys.stdin); print(r["sampler"], r["seed"], r["width"])')
[ "$got" = "euler_a 5 64" ] && pass "gen info --json: the request --from would run" || bad "info --json: $got"

# What gen cannot honour: one line, exit 2, unless the command line sets the field.
a1111_png "$GEN_TMP/b.png" 'a red circle
Steps: 2, Sampler: DPM++ SDE Karras, CFG scale: 7.5, Seed: 5, Size: 64x64, Model: no-such-model, RNG: CPU'
expect_exit 2 "no checkpoint named 'no-such-model'" -- "$GEN" --from "$GEN_TMP/b.png" -o "$O/x.png"
expect_exit 2 "gen has no sampler 'DPM\+\+ SDE Karras'" -- "$GEN" --from "$GEN_TMP/b.png" -m "$P" -o "$O/x.png"
"$GEN" --from "$GEN_TMP/b.png" -m "$P" --sampler euler_a -q -o "$O/b.png" && pixels_equal "$O/b.png" "$O/sub/p.png" &&
  pass "-m and --sampler settle what the text could not" || bad "--from with -m --sampler failed or differs"
a1111_png "$GEN_TMP/c.png" "a red circle
Steps: 2, Sampler: Euler a, CFG scale: 7.5, Seed: 5, Size: 64x64, Model: tiny-sd15-pipeline, RNG: CPU, ControlNet 0: \"Module: canny, Model: tiny-control-v11 [$(oldhash "$CN")], Weight: 0.8, Resize Mode: Crop and Resize, Processor Res: 512, Threshold A: 50.0, Threshold B: 150.0, Guidance Start: 0.0, Guidance End: 1.0, Pixel Perfect: False, Control Mode: Balanced\""
expect_exit 2 "does not store the control image" -- "$GEN" --from "$GEN_TMP/c.png" -o "$O/x.png"
"$GEN" --from "$GEN_TMP/c.png" --control-image "$GEN_TMP/edges.png" -q -o "$O/c.png" && pixels_equal "$O/c.png" "$O/cn.png" &&
  pass "an A1111 ControlNet unit + --control-image renders as gen's own request" || bad "--from with a ControlNet unit failed or differs"
finish
