#!/usr/bin/env bash
# LoRA files through the `gen` CLI (docs/adapters.md): what gen must accept (a .pt LoRA read by
# the pickle reader, a file without alpha = alpha of its rank, --lora NAME in --lora-dir, a
# ControlNet beside a LoRA, a job file switching LoRAs on one loaded model) and the bad inputs
# of issue 19, each failing with one line naming the input, the exit code of docs/errors.md and
# nothing written. Parity with diffusers: test_lora_parity.sh.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cases.sh"
: "${GEN_SRC:?}" "${GEN_PYTHON:?GEN_PYTHON must point to the project venv python}"
make_tiny_models
O=$GEN_TMP/out L=$GEN_TMP/loras
K=$M/tiny-lora-kohya.safetensors
mkdir -p "$L/sub"
"$GEN_PYTHON" - "$K" "$L" <<'PY' || { bad "making the LoRA files failed"; finish; }
import sys, collections, torch
from safetensors.torch import load_file, save_file
from safetensors import safe_open
src, d = sys.argv[1:3]
sd = {k: v for k, v in load_file(src).items() if not k.endswith(".alpha")}
meta = safe_open(src, "pt").metadata()
downs = [k for k in sd if k.endswith(".lora_down.weight")]
# alpha = rank written out, and left out: the same LoRA (A1111: no alpha means alpha = rank)
save_file({**sd, **{k.replace(".lora_down.weight", ".alpha"): torch.tensor(float(sd[k].shape[0])) for k in downs}},
          f"{d}/with-alpha.safetensors", metadata=meta)
save_file(sd, f"{d}/sub/no-alpha.safetensors", metadata=meta)
torch.save(dict(sd), f"{d}/pickled.pt")
# rank mismatch between up and down
bad = dict(sd); k = downs[0]; bad[k] = torch.cat([bad[k], bad[k][:1]]); save_file(bad, f"{d}/rank-mismatch.safetensors")
# NaN
nan = dict(sd); t = nan[downs[1]].clone(); t.view(-1)[3] = float("nan"); nan[downs[1]] = t
save_file(nan, f"{d}/nan.safetensors")
# SDXL keys (a second text encoder) on SD 1.5
xl = {k.replace("lora_te_", "lora_te1_"): v for k, v in sd.items()}
xl.update({k.replace("lora_te_", "lora_te2_"): v.clone() for k, v in sd.items() if k.startswith("lora_te_")})
save_file(xl, f"{d}/sdxl-keys.safetensors")
# modules no layer has
extra = dict(sd)
extra["lora_unet_no_such_block_proj.lora_down.weight"] = sd[downs[0]].clone()
extra["lora_unet_no_such_block_proj.lora_up.weight"] = sd[downs[0].replace("down", "up")].clone()
save_file(extra, f"{d}/extra-module.safetensors")
# a pickled LoRA whose payload is more than tensors
class Payload:
    def __reduce__(self):
        import os
        return (os.system, ("true",))
torch.save({"lora_unet_x.lora_down.weight": torch.zeros(2, 2), "x": Payload()}, f"{d}/unsafe.pt")
open(f"{d}/truncated.safetensors", "wb").write(open(src, "rb").read()[:1000])
PY

# Accepted -----------------------------------------------------------------------------------
works "a kohya LoRA" 64 64 -- arg --lora "$K:0.8" --metadata full   # the PNG is copied elsewhere below: absolute paths
cp "$O/out.png" "$GEN_TMP/kohya.png"
works "gen --from an image made with a LoRA" 64 64 -- gen_t --from "$GEN_TMP/kohya.png" -q -o "$O/out.png"
pixels_equal "$O/out.png" "$GEN_TMP/kohya.png" && pass "--from re-applies the LoRA" || bad "--from image differs"
"$GEN_PYTHON" -c 'import sys; from PIL import Image
p = Image.open(sys.argv[1]).text["parameters"]; sys.exit(0 if "Lora hashes: \"tiny-lora-kohya: " in p else 1)' "$GEN_TMP/kohya.png" &&
  pass "infotext has Lora hashes" || bad "infotext lacks Lora hashes"
works "the same file pickled (.pt)" 64 64 -- arg --lora "$L/pickled.pt:0.8"
pixels_equal "$O/out.png" "$GEN_TMP/kohya.png" && pass ".pt = .safetensors" || bad ".pt LoRA differs from the .safetensors one"
works "alpha = rank written out" 64 64 -- arg --lora "$L/with-alpha.safetensors"
cp "$O/out.png" "$GEN_TMP/alpha.png"
works "no alpha, found by name in --lora-dir's subfolder" 64 64 -- arg --lora no-alpha --lora-dir "$L"
pixels_equal "$O/out.png" "$GEN_TMP/alpha.png" && pass "no alpha = alpha of the rank" || bad "no alpha differs from alpha = rank"
works "the prompt tag, from \$GEN_LORA_DIR" 64 64 -- env GEN_LORA_DIR="$L" "$GEN" -m "$P" -p "a house <lora:no-alpha:1>" \
  -W 64 -H 64 --steps 1 --seed 1 -q -o "$O/out.png"
pixels_equal "$O/out.png" "$GEN_TMP/alpha.png" && pass "tag = --lora" || bad "the prompt tag differs from --lora"
works "--lora-lenient skips a module no layer has" 64 64 -- arg --lora "$L/extra-module.safetensors" --lora-lenient
pixels_equal "$O/out.png" "$GEN_TMP/alpha.png" && pass "lenient = without the module" || bad "lenient image differs"
works "weight 0 is the model without the LoRA" 64 64 -- arg --lora "$K:0"
cp "$O/out.png" "$GEN_TMP/zero.png"
works "no LoRA" 64 64 -- arg
pixels_equal "$O/out.png" "$GEN_TMP/zero.png" && pass "weight 0 = none" || bad "weight 0 differs from no LoRA"
"$GEN" inspect "$L/with-alpha.safetensors" >"$GEN_TMP/inspect.txt" 2>&1
grep -q "kohya LoRA for SD 1.x (rank 4" "$GEN_TMP/inspect.txt" && grep -q "text_encoder" "$GEN_TMP/inspect.txt" &&
  pass "gen inspect names the layout, rank, family and parts" || bad "gen inspect: $(cat "$GEN_TMP/inspect.txt")"

# A job file switching LoRAs: the model is loaded once (the jobs' timings say so), and the
# job without LoRA after two with LoRAs gives the image of a fresh run without LoRA.
cat >"$GEN_TMP/jobs.jsonl" <<JOBS
{"model": "$P", "prompt": "a house", "width": 64, "height": 64, "steps": 1, "seed": 1, "loras": [{"file": "$K", "weight": 0.8}], "output": "j1.png"}
{"model": "$P", "prompt": "a house", "width": 64, "height": 64, "steps": 1, "seed": 1, "loras": [{"file": "$L/with-alpha.safetensors"}], "output": "j2.png"}
{"model": "$P", "prompt": "a house", "width": 64, "height": 64, "steps": 1, "seed": 1, "output": "j3.png"}
JOBS
rm -rf "$O"; mkdir -p "$O"
if "$GEN" batch "$GEN_TMP/jobs.jsonl" -O "$O" --results "$GEN_TMP/results.jsonl" -q 2>"$GEN_TMP/batch.err"; then
  pixels_equal "$O/j1.png" "$GEN_TMP/kohya.png" && pixels_equal "$O/j2.png" "$GEN_TMP/alpha.png" &&
    pixels_equal "$O/j3.png" "$GEN_TMP/zero.png" && pass "job file: each job's image as its own run" ||
    bad "job file: an image differs from its single run"
  loads=$("$GEN_PYTHON" -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; print(sum(j["timings"]["models_loaded"] for j in r))' "$GEN_TMP/results.jsonl" 2>&1)
  [ "$loads" = 1 ] && pass "job file: the model loaded once for three LoRA sets" || bad "job file: model loads: $loads"
  "$GEN_PYTHON" -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; sys.exit(0 if all(j["timings"]["lora_s"] > 0 for j in r) else 1)' "$GEN_TMP/results.jsonl" &&
    pass "job file: every job changed the LoRA set (lora_s > 0)" || bad "job file: lora_s: $(cat "$GEN_TMP/results.jsonl")"
else
  bad "gen batch failed: $(cat "$GEN_TMP/batch.err")"
fi

# Refused ------------------------------------------------------------------------------------
fails "SDXL keys on SD 1.5" 7 model-mismatch "$(re "$L/sdxl-keys.safetensors")" "LoRA for sdxl and the model is sd1" -- \
  arg --lora "$L/sdxl-keys.safetensors"
fails "rank mismatch between up and down" 5 invalid-format "$(re "$L/rank-mismatch.safetensors")" "rank" -- \
  arg --lora "$L/rank-mismatch.safetensors"
fails "NaN weights" 5 invalid-format "$(re "$L/nan.safetensors")" "NaN" -- arg --lora "$L/nan.safetensors"
fails "a pickled LoRA with a non-tensor payload" 8 unsafe-content "$(re "$L/unsafe.pt")" "posix.system|os.system" -- \
  arg --lora "$L/unsafe.pt"
fails "a truncated LoRA" 5 invalid-format "$(re "$L/truncated.safetensors")" "" -- arg --lora "$L/truncated.safetensors"
fails "a module no layer has" 7 model-mismatch "LoRA" "no_such_block.*lora-lenient|lora-lenient.*no_such_block" -- \
  arg --lora "$L/extra-module.safetensors"
# tag PROMPT ARGS...: like arg, with the prompt given.
tag() { gen_t -m "$P" -p "$1" -W 64 -H 64 --steps 1 --seed 1 -q -o "$O/out.png" "${@:2}"; }
fails "<lora:…> naming no file" 3 not-found "prompt" "missing-style" -- tag "a house <lora:missing-style:0.7>" --lora-dir "$L"
fails "--lora naming no file" 3 not-found "loras\[0\]" "nope" -- arg --lora nope --lora-dir "$L"
fails "a weight that is not a number (--lora)" 2 invalid-argument "--lora" "abc" -- arg --lora "$K:abc"
fails "a weight that is not a number (tag)" 2 invalid-argument "prompt" "abc" -- tag "a house <lora:no-alpha:abc>" --lora-dir "$L"
fails "an infinite weight (tag)" 2 invalid-argument "prompt" "inf" -- tag "a house <lora:no-alpha:inf>" --lora-dir "$L"
fails "a model file as the LoRA" 5 invalid-format "$(re "$M/tiny-vae.safetensors")" "no adapter module" -- \
  arg --lora "$M/tiny-vae.safetensors"
fails "a LoRA as the model" 6 unsupported "$(re "$K")" "--lora" -- arg -m "$K"
finish
