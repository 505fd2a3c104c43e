#!/usr/bin/env bash
# Generation from LDM single files with their .yaml (issue 13 item 7): the config given with
# --config or found beside the file (A1111's rule) decides what the weights cannot — heads,
# v-prediction, the text layer. Each single-file image must equal, pixel for pixel, the image of
# the diffusers folder holding the same weights with the same settings (the folders are checked
# against diffusers by test_diffusers_parity.sh). An SD 2.x file without a config gets A1111's
# v-prediction test, whose number is checked against diffusers' UNet on the same input.
. "$(dirname "$0")/lib.sh"
make_tiny_models
C=$M/configs
D=$GEN_TMP/folders
O=$GEN_TMP/out
mkdir -p "$D" "$O"
common=(-p "a red circle" -n "blurry" -W 64 -H 64 --steps 3 --seed 11 --sampler euler)

# The tiny pipelines' schedulers are diffusers' class defaults; a single file gets Stable
# Diffusion's. Copies of the folders with SD's scheduler config make the two comparable.
"$GEN_PYTHON" - "$M/diffusers" "$D" <<'PY' || { bad "copying the folders failed"; finish; }
import json, os, shutil, sys
src, dst = sys.argv[1:3]
for name, pred in (("tiny-sd15-pipeline", "epsilon"), ("tiny-sd21-pipeline", "v_prediction"),
                   ("tiny-sd21-pipeline", "epsilon")):
    out = os.path.join(dst, f"{name}-{pred}")
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(os.path.join(src, name), out)
    cfg = {"_class_name": "EulerDiscreteScheduler", "beta_start": 0.00085, "beta_end": 0.012,
           "beta_schedule": "scaled_linear", "num_train_timesteps": 1000, "steps_offset": 1,
           "prediction_type": pred}
    with open(os.path.join(out, "scheduler", "scheduler_config.json"), "w") as f:
        json.dump(cfg, f)
PY
V1=(--vocab "$M/diffusers/tiny-sd15-pipeline/tokenizer")
V2=(--vocab "$M/diffusers/tiny-sd21-pipeline/tokenizer")

same() {  # same LABEL A B
  if pixels_equal "$2" "$3"; then pass "$1"; else bad "$1: $2 and $3 differ"; fi
}
run() {  # run OUT args...: gen must succeed
  local out=$1; shift
  if "$GEN" "${common[@]}" -o "$out" "$@" >"$GEN_TMP/log" 2>&1; then return 0; fi
  bad "gen $* failed: $(cat "$GEN_TMP/log")"; return 1
}

# SD 1.x: --config, and the .yaml beside the file.
run "$O/sd15-folder.png" -m "$D/tiny-sd15-pipeline-epsilon"
run "$O/sd15-config.png" -m "$M/tiny-sd15.safetensors" --config "$C/tiny-v1-inference.yaml" "${V1[@]}" &&
  same "SD 1.x single file + --config = the diffusers folder" "$O/sd15-config.png" "$O/sd15-folder.png"
mkdir -p "$GEN_TMP/beside"
ln -sf "$M/tiny-sd15.safetensors" "$GEN_TMP/beside/my-model.safetensors"
cp "$C/tiny-v1-inference.yaml" "$GEN_TMP/beside/my-model.yaml"
run "$O/sd15-beside.png" -m "$GEN_TMP/beside/my-model.safetensors" "${V1[@]}" &&
  same "SD 1.x single file with my-model.yaml beside it" "$O/sd15-beside.png" "$O/sd15-folder.png"
out=$("$GEN" inspect "$GEN_TMP/beside/my-model.safetensors" 2>&1)
if grep -q "load: *ok as the model (-m), with $GEN_TMP/beside/my-model.yaml" <<<"$out"; then pass "inspect: the file loads with its .yaml"
else bad "inspect does not say the file loads with its .yaml: $out"; fi

# SD 2.x: v-prediction from v2-inference-v.yaml, epsilon from v2-inference.yaml; the text
# encoder's penultimate layer (layer: "penultimate") is the folder's --clip-skip 2.
run "$O/sd21-v-folder.png" -m "$D/tiny-sd21-pipeline-v_prediction" --clip-skip 2
run "$O/sd21-v-config.png" -m "$M/tiny-sd21.safetensors" --config "$C/tiny-v2-inference-v.yaml" "${V2[@]}" &&
  same "SD 2.x single file + v2-inference-v.yaml = the v-prediction folder" "$O/sd21-v-config.png" "$O/sd21-v-folder.png"
run "$O/sd21-eps-folder.png" -m "$D/tiny-sd21-pipeline-epsilon" --clip-skip 2
run "$O/sd21-eps-config.png" -m "$M/tiny-sd21.safetensors" --config "$C/tiny-v2-inference.yaml" "${V2[@]}" &&
  same "SD 2.x single file + v2-inference.yaml = the epsilon folder" "$O/sd21-eps-config.png" "$O/sd21-eps-folder.png"
if pixels_equal "$O/sd21-v-config.png" "$O/sd21-eps-config.png"; then bad "parameterization changed nothing"
else pass "v and eps configs give different images"; fi

# No parameterization anywhere: A1111's test on the UNet decides, and gen says so.
grep -v parameterization "$C/tiny-v2-inference-v.yaml" >"$GEN_TMP/no-param.yaml"
run "$O/sd21-test.png" -m "$M/tiny-sd21.safetensors" --config "$GEN_TMP/no-param.yaml" "${V2[@]}"
line=$(grep "A1111's test" "$GEN_TMP/log")
value=$(sed -n 's/.*mean(UNet(x) - x) = \([-0-9.e+]*\).*/\1/p' <<<"$line")
said=$(sed -n "s/.*the UNet's output says \([a-z_]*\) .*/\1/p" <<<"$line")
if [ -z "$value" ] || [ -z "$said" ]; then bad "no v-prediction test line: $(cat "$GEN_TMP/log")"
else
  "$GEN_PYTHON" - "$M/diffusers/tiny-sd21-pipeline/unet" "$value" "$said" <<'PY' &&
import sys, torch
from diffusers import UNet2DConditionModel
unet = UNet2DConditionModel.from_pretrained(sys.argv[1]).eval()
x = torch.ones(1, 4, 8, 8) * 0.5
cond = torch.ones(1, 2, unet.config.cross_attention_dim) * 0.5
with torch.no_grad():
    want = (unet(x, torch.tensor([999]), encoder_hidden_states=cond).sample - x).mean().item()
got, said = float(sys.argv[2]), sys.argv[3]
print(f"gen {got:.6g}, diffusers {want:.6g}")
ok = abs(got - want) <= 1e-4 * max(1.0, abs(want)) and said == ("v_prediction" if want < -1 else "epsilon")
sys.exit(0 if ok else 1)
PY
  pass "the v-prediction test's mean matches diffusers' UNet ($value → $said)" || bad "the v-prediction test's mean differs from diffusers' ($value)"
  if [ "$said" = v_prediction ]; then ref=$O/sd21-v-config.png; else ref=$O/sd21-eps-config.png; fi
  same "the tested file generates as the config that says $said" "$O/sd21-test.png" "$ref"
fi
# A prediction given by the user is not second-guessed: no test line.
run "$O/sd21-given.png" -m "$M/tiny-sd21.safetensors" --config "$GEN_TMP/no-param.yaml" --prediction v_prediction "${V2[@]}" &&
  { if grep -q "A1111's test" "$GEN_TMP/log"; then bad "--prediction was second-guessed"; else pass "--prediction skips the test"; fi
    same "--prediction v_prediction = the v config" "$O/sd21-given.png" "$O/sd21-v-config.png"; }

# An SDXL file with sd_xl_base.yaml beside it: accepted (the weights say everything).
mkdir -p "$GEN_TMP/xl"
ln -sf "$M/tiny-sdxl.safetensors" "$GEN_TMP/xl/base.safetensors"
printf 'model:\n  target: sgm.models.diffusion.DiffusionEngine\n  params:\n    scale_factor: 0.13025\n' >"$GEN_TMP/xl/base.yaml"
out=$("$GEN" inspect "$GEN_TMP/xl/base.safetensors" 2>&1)
grep -q "load: *ok as the model (-m), with $GEN_TMP/xl/base.yaml" <<<"$out" && pass "an SDXL file loads with sd_xl_base.yaml beside it" ||
  bad "an SDXL file with its sgm .yaml beside it: $out"

# Bad configs: one line each, the documented code.
expect_exit 7 "tiny-sd15.safetensors: text width 32 is not a multiple of 64.*\.yaml" -- \
  "$GEN" "${common[@]}" -m "$M/tiny-sd15.safetensors" "${V1[@]}" -o "$O/x.png"
expect_exit 2 "tiny-v1-inference.yaml: a model config \(.yaml\) is for a single-file checkpoint" -- \
  "$GEN" "${common[@]}" -m "$M/diffusers/tiny-sd15-pipeline" --config "$C/tiny-v1-inference.yaml" -o "$O/x.png"
sed 's/context_dim: 32/context_dim: 64/' "$C/tiny-v1-inference.yaml" >"$GEN_TMP/wrong.yaml"
expect_exit 7 "wrong.yaml: context_dim 64 but .*tiny-sd15.safetensors has 32: this config is not the checkpoint's" -- \
  "$GEN" "${common[@]}" -m "$M/tiny-sd15.safetensors" --config "$GEN_TMP/wrong.yaml" "${V1[@]}" -o "$O/x.png"
printf 'model:\n  params:\n\tscale_factor: 1\n' >"$GEN_TMP/tab.yaml"
expect_exit 5 "tab.yaml:3: a tab in the indentation" -- \
  "$GEN" "${common[@]}" -m "$M/tiny-sd15.safetensors" --config "$GEN_TMP/tab.yaml" -o "$O/x.png"
printf 'model:\n  target: sgm.models.diffusion.DiffusionEngine\n' >"$GEN_TMP/sdxl.yaml"
expect_exit 7 "sdxl.yaml: an SDXL \(sgm\) model config, but .*tiny-sd15.safetensors is not an SDXL checkpoint" -- \
  "$GEN" "${common[@]}" -m "$M/tiny-sd15.safetensors" --config "$GEN_TMP/sdxl.yaml" -o "$O/x.png"
sed 's/parameterization: "v"/parameterization: "x0"/' "$C/tiny-v2-inference-v.yaml" >"$GEN_TMP/x0.yaml"
expect_exit 6 "x0.yaml: parameterization 'x0'" -- \
  "$GEN" "${common[@]}" -m "$M/tiny-sd21.safetensors" --config "$GEN_TMP/x0.yaml" -o "$O/x.png"
expect_exit 3 "missing.yaml: no such model config" -- \
  "$GEN" "${common[@]}" -m "$M/tiny-sd15.safetensors" --config "$GEN_TMP/missing.yaml" -o "$O/x.png"
[ -e "$O/x.png" ] && bad "a refused run left $O/x.png" || pass "no output from refused runs"
finish
