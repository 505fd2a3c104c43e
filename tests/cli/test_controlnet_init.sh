#!/usr/bin/env bash
# gen controlnet init: both layouts load in diffusers / have cldm's names, and equal diffusers'
# ControlNetModel.from_unet on the same base (copied and zero tensors bit for bit, random ones
# of the same shapes); bad inputs end with their exit code and leave no output.
# Env: GEN (the gen binary), GEN_PYTHON (venv python), GEN_SRC (repo root), GEN_TMP.
set -euo pipefail
: "${GEN:?}" "${GEN_PYTHON:?}" "${GEN_SRC:?}" "${GEN_TMP:?}"
L="$GEN_SRC/tests/data/layouts"
T="$GEN_TMP"
rm -rf "$T" && mkdir -p "$T"
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# expect CODE WORD ARGS...: gen exits with CODE and its stderr names WORD.
expect() {
  local code=$1 word=$2; shift 2
  local rc=0
  "$GEN" "$@" > "$T/out.txt" 2> "$T/err.txt" || rc=$?
  [ "$rc" = "$code" ] || fail "gen $* exited $rc, expected $code: $(cat "$T/err.txt")"
  grep -qF -- "$word" "$T/err.txt" || fail "gen $*: stderr does not name '$word': $(cat "$T/err.txt")"
}

"$GEN" controlnet init "$L/diffusers/tiny-sd15-pipeline" "$T/cn" > "$T/log.txt" || fail "init (diffusers) failed"
grep -q "copied from the UNet" "$T/log.txt" || fail "no summary line: $(cat "$T/log.txt")"
"$GEN" controlnet init "$L/diffusers/tiny-sd15-pipeline" "$T/cn.safetensors" --layout ldm --seed 3 > /dev/null \
  || fail "init (ldm) failed"
ls -a "$T" | grep -q '^\.gen-' && fail "temporary files left: $(ls -a "$T")"

HF_HUB_OFFLINE=1 DIFFUSERS_VERBOSITY=error "$GEN_PYTHON" - "$L" "$T" <<'PY' || fail "the outputs differ from the references"
import sys, torch
from diffusers import ControlNetModel, UNet2DConditionModel
from safetensors.torch import load_file
layouts, tmp = sys.argv[1:3]
bad = []
ours, info = ControlNetModel.from_pretrained(f"{tmp}/cn", output_loading_info=True)
if any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")):
    bad.append(f"diffusers loading: {info}")
unet = UNet2DConditionModel.from_pretrained(f"{layouts}/diffusers/tiny-sd15-pipeline/unet")
ref = ControlNetModel.from_unet(unet).state_dict()
got = ours.state_dict()
if set(ref) != set(got):
    bad.append(f"names differ: {sorted(set(ref) ^ set(got))[:5]}")
for k, v in ref.items():
    if k not in got or got[k].shape != v.shape:
        bad.append(f"{k}: shape")
    elif k.startswith("controlnet_cond_embedding.") and not k.startswith("controlnet_cond_embedding.conv_out."):
        continue  # random in both
    elif not torch.equal(got[k], v):
        bad.append(f"{k}: values differ")
ldm = load_file(f"{tmp}/cn.safetensors")
if not all(k.startswith("control_model.") for k in ldm) or len(ldm) != len(got):
    bad.append(f"ldm file: {len(ldm)} tensors, names {sorted(ldm)[:3]}")
print("\n".join(bad[:10]))
sys.exit(1 if bad else 0)
PY

# Bad inputs.
expect 2 "exists" controlnet init "$L/diffusers/tiny-sd15-pipeline" "$T/cn"
expect 3 "nothing-here" controlnet init "$T/nothing-here" "$T/cn2"
expect 2 "--layout" controlnet init "$L/diffusers/tiny-sd15-pipeline" "$T/cn3" --layout onnx
expect 2 "--hint-channels" controlnet init "$L/diffusers/tiny-sd15-pipeline" "$T/cn4" --hint-channels 16,0
expect 3 "no-folder" controlnet init "$L/diffusers/tiny-sd15-pipeline" "$T/no-folder/cn"
rc=0; "$GEN" controlnet init "$L/tiny-vae.safetensors" "$T/cn5" 2> "$T/err.txt" || rc=$?
{ [ "$rc" != 0 ] && [ "$rc" != 1 ] && grep -q "tiny-vae.safetensors" "$T/err.txt"; } \
  || fail "a VAE as the base: exit $rc, $(cat "$T/err.txt")"
[ -e "$T/cn5" ] && fail "a refused init left an output"
[ -e "$T/cn3" ] && fail "a refused init left an output"

if [ "$fails" -ne 0 ]; then echo "$fails failure(s)" >&2; exit 1; fi
echo "controlnet init: ok"
