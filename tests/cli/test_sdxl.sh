#!/usr/bin/env bash
# SDXL through the `gen` CLI (docs/sdxl.md): what gen inspect says of SDXL files and folders,
# that both load and render, and the bad inputs of issue 20, each failing with one line naming
# the input and the exit code of docs/errors.md. Parity with diffusers: test_sdxl_parity.sh.
source "$(dirname "$0")/lib.sh"
make_tiny_models
X=$M/diffusers/tiny-sdxl-pipeline
S=$M/tiny-sdxl.safetensors
PY=$GEN_PYTHON
run() { "$GEN" -p "a red house" -W 64 -H 64 --steps 1 -q "$@"; }

# gen inspect: base or refiner, single file or folder, and loadable.
out=$("$GEN" inspect "$S") && grep -q "SDXL base single-file checkpoint" <<<"$out" && grep -q "load: *ok" <<<"$out" &&
  pass "inspect: SDXL base single file, loads" || bad "inspect single file: $out"
out=$("$GEN" inspect "$X") && grep -q "(SDXL base)" <<<"$out" && grep -q "load: *ok" <<<"$out" &&
  pass "inspect: SDXL base folder, loads" || bad "inspect folder: $out"
# A refiner as sgm stores one: only the OpenCLIP encoder (as embedders.0), and a label_emb
# taking the pooled text and 5 time ids (the tiny models' time ids are 8 wide); and the same
# with the base's label_emb (6 time ids), which fits no refiner.
"$PY" - "$S" "$GEN_TMP/refiner.safetensors" "$GEN_TMP/refiner-base-unet.safetensors" <<'PY' || bad "making the refiner files failed"
import sys
from safetensors.torch import load_file, save_file
t = load_file(sys.argv[1])
t = {k.replace("conditioner.embedders.1.", "conditioner.embedders.0."): v for k, v in t.items()
     if not k.startswith("conditioner.embedders.0.")}
save_file(t, sys.argv[3])
k = "model.diffusion_model.label_emb.0.0.weight"
t[k] = t[k][:, :-8].contiguous()
save_file(t, sys.argv[2])
PY
out=$("$GEN" inspect "$GEN_TMP/refiner.safetensors") && grep -q "SDXL refiner single-file checkpoint" <<<"$out" &&
  pass "inspect: SDXL refiner single file" || bad "inspect refiner: $out"

# Both render; the folder and the single file hold the same weights (make_tiny_models.py).
run -m "$X" --seed 3 -o "$GEN_TMP/folder.png" && pass "folder renders" || bad "folder does not render"
run -m "$S" --vocab "$X/tokenizer" --seed 3 -o "$GEN_TMP/file.png" && pass "single file renders" ||
  bad "single file does not render"

# Bad inputs.
expect_exit 7 "refiner-base-unet.safetensors: label_emb takes 176 inputs, which is not the pooled text's 128 plus 5" -- \
  run -m "$GEN_TMP/refiner-base-unet.safetensors" --vocab "$X/tokenizer" -o "$GEN_TMP/x.png"
expect_exit 2 "refiner.safetensors: an SDXL refiner .* give --init-image" -- \
  run -m "$GEN_TMP/refiner.safetensors" --vocab "$X/tokenizer" -o "$GEN_TMP/x.png"
expect_exit 7 "tiny-controlnet: .*the base model is SDXL" -- \
  run -m "$X" --control "$M/diffusers/tiny-controlnet" --control-image "$GEN_SRC/tests/data/control/source.png" -o "$GEN_TMP/x.png"
"$PY" - "$X/unet" "$GEN_TMP/xl-controlnet" <<'PY' || bad "making the SDXL ControlNet failed"
import sys
from diffusers import ControlNetModel, UNet2DConditionModel
ControlNetModel.from_unet(UNet2DConditionModel.from_pretrained(sys.argv[1])).save_pretrained(sys.argv[2])
PY
# An SDXL ControlNet renders with the SDXL model (parity: test_sdxl_controlnet_parity.sh) and is
# refused, named, with an SD 1.5 one.
run -m "$X" --control "$GEN_TMP/xl-controlnet" --control-image "$GEN_SRC/tests/data/control/source.png" \
  -o "$GEN_TMP/xl-control.png" && pass "SDXL ControlNet renders" || bad "SDXL ControlNet does not render"
expect_exit 7 "xl-controlnet: an SDXL ControlNet .* SD 1.x / 2.x .*: an SDXL ControlNet needs an SDXL model" -- \
  run -m "$P" --control "$GEN_TMP/xl-controlnet" --control-image "$GEN_SRC/tests/data/control/source.png" -o "$GEN_TMP/x.png"
cp -r "$X" "$GEN_TMP/no-te2"
"$PY" -c 'import json,sys; p=sys.argv[1]+"/model_index.json"; d=json.load(open(p)); del d["text_encoder_2"]; json.dump(d, open(p, "w"))' "$GEN_TMP/no-te2"
expect_exit 3 "no-te2/model_index.json: an SDXL pipeline .* without text_encoder_2" -- run -m "$GEN_TMP/no-te2" -o "$GEN_TMP/x.png"
cp -r "$X" "$GEN_TMP/no-te2-folder" && rm -r "$GEN_TMP/no-te2-folder/text_encoder_2"
expect_exit 3 "no-te2-folder/text_encoder_2: model_index.json lists it, but the folder is missing" -- \
  run -m "$GEN_TMP/no-te2-folder" -o "$GEN_TMP/x.png"
cp -r "$X" "$GEN_TMP/no-tok2" && rm -r "$GEN_TMP/no-tok2/tokenizer_2"
expect_exit 3 "no-tok2/tokenizer_2: an SDXL pipeline needs its second tokenizer" -- run -m "$GEN_TMP/no-tok2" -o "$GEN_TMP/x.png"
expect_exit 2 "original_size: '0x512' is out of range" -- run -m "$X" --original-size 0x512 -o "$GEN_TMP/x.png"
# The SDXL fields live in the gen chunk (A1111 has no infotext keys for them: its text keeps
# its own keys only) and `gen --from` re-runs them pixel-identically.
if run -m "$X" --original-size 1024x768 --crop 16,8 --negative-target-size 512x512 --seed 3 -o "$GEN_TMP/xl.png"; then
  "$GEN" --from "$GEN_TMP/xl.png" -q -o "$GEN_TMP/xl2.png" && pixels_equal "$GEN_TMP/xl.png" "$GEN_TMP/xl2.png" &&
    pass "gen --from re-runs the micro-conditioning pixel-identically" || bad "--from an SDXL image"
  run -m "$X" --seed 3 -o "$GEN_TMP/xl-plain.png" && ! pixels_equal "$GEN_TMP/xl.png" "$GEN_TMP/xl-plain.png" &&
    pass "the micro-conditioning changes the image" || bad "the micro-conditioning did nothing"
  "$PY" -c 'import json, sys; from PIL import Image
t = Image.open(sys.argv[1]).text; r = json.loads(t["gen"])
keys = [kv.split(": ")[0] for kv in t["parameters"].split("\n")[-1].split(", ")]
sys.exit(0 if r["original_size"] == "1024x768" and r["crop"] == "16,8" and
         keys == ["Steps", "Sampler", "CFG scale", "Seed", "Size", "Model", "RNG", "Version"] else 1)' "$GEN_TMP/xl.png" &&
    pass "the gen chunk holds the SDXL fields, the A1111 text A1111's keys only" || bad "SDXL metadata"
else
  bad "rendering with micro-conditioning failed"
fi
expect_exit 2 "negative_target_size: '99999x64' is out of range" -- run -m "$X" --negative-target-size 99999x64 -o "$GEN_TMP/x.png"
expect_exit 2 "crop: must be TOP,LEFT" -- run -m "$X" --crop 12x3 -o "$GEN_TMP/x.png"
expect_exit 2 "target_size: must be WIDTHxHEIGHT in whole pixels" -- run -m "$X" --target-size 64.5x64 -o "$GEN_TMP/x.png"
[ ! -e "$GEN_TMP/x.png" ] && pass "no output written by the failures" || bad "a failure wrote x.png"
finish
