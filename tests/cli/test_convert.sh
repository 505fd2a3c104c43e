#!/usr/bin/env bash
# gen convert: good checkpoints give safetensors files equal to what torch.load reads;
# hostile ones are refused (exit 8, the global named on stderr) and leave no output.
# Env: GEN (the gen binary), GEN_PYTHON (venv python), GEN_SRC (repo root), GEN_TMP.
set -euo pipefail
: "${GEN:?}" "${GEN_PYTHON:?}" "${GEN_SRC:?}" "${GEN_TMP:?}"
D="$GEN_SRC/tests/data/pickle"
T="$GEN_TMP"
rm -rf "$T" && mkdir -p "$T"
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# compare IN OUT DTYPE PREFIX STRIP: OUT (read by the safetensors library) equals IN
# (read by torch.load(weights_only=True)), flattened and filtered as gen does.
compare() {
  "$GEN_PYTHON" - "$@" <<'EOF'
import sys, torch
from safetensors.torch import load_file
src, out, dtype, prefix, strip = sys.argv[1:6]
obj = torch.load(src, weights_only=True)
if not any(isinstance(v, torch.Tensor) for v in obj.values()):
    for k in ["state_dict", "model_state_dict", "module", "model", "params"]:
        if isinstance(obj.get(k), dict):
            obj = obj[k]
            break
flat = {}
def walk(v, name):
    if isinstance(v, torch.Tensor):
        flat[name] = v
    elif isinstance(v, dict):
        for k, x in v.items():
            walk(x, f"{name}.{k}" if name else str(k))
    elif isinstance(v, (list, tuple)):
        for k, x in enumerate(v):
            walk(x, f"{name}.{k}" if name else str(k))
walk(obj, "")
want = {}
for k, v in flat.items():
    if not k.startswith(prefix):
        continue
    if strip == "1":
        k = k[len(prefix):]
    v = v.detach()
    if v.is_floating_point() and dtype != "keep" and v.dtype in (torch.float32, torch.float16, torch.bfloat16, torch.float64):
        v = v.to(torch.float16 if dtype == "fp16" else torch.bfloat16)
    want[k] = v.contiguous()
got = load_file(out)
assert sorted(got) == sorted(want), (sorted(got), sorted(want))
for k in want:
    a, b = got[k], want[k]
    assert a.dtype == b.dtype and a.shape == b.shape, (k, a.dtype, b.dtype, a.shape, b.shape)
    if a.dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        keep_inf = dict(nan=0.0, posinf=float("inf"), neginf=float("-inf"))
        same = torch.equal(a.isnan(), b.isnan()) and torch.equal(a.nan_to_num(**keep_inf), b.nan_to_num(**keep_inf))
    else:  # integers, bool, fp8: bit for bit
        same = torch.equal(a.reshape(-1).view(torch.uint8), b.reshape(-1).view(torch.uint8))
    assert same, k
print(f"ok {len(want)} tensors")
EOF
}

run_good() {  # FILE OUT DTYPE PREFIX STRIP [gen args...]
  local in="$D/$1" out="$T/$2" dtype="$3" prefix="$4" strip="$5"
  shift 5
  if "$GEN" convert "$in" "$out" "$@" >"$T/stdout" 2>"$T/stderr"; then
    compare "$in" "$out" "$dtype" "$prefix" "$strip" || fail "$in: output differs from torch.load"
  else
    fail "$in: exit $? ($(cat "$T/stderr"))"
  fi
}

run_good plain_fp32.pt plain.safetensors keep "" 0
run_good ldm.ckpt ldm.safetensors keep "" 0
grep -q "global_step" "$T/stdout" || fail "ldm.ckpt: dropped entries not reported: $(cat "$T/stdout")"
run_good ldm.ckpt unet16.safetensors fp16 model.diffusion_model. 1 --prefix model.diffusion_model. --strip-prefix --dtype fp16
run_good views.pt views.safetensors keep "" 0
run_good dtypes.pt dtypes_bf16.safetensors bf16 "" 0 --dtype bf16
run_good dtypes.pt dtypes_f16.safetensors fp16 "" 0 --dtype fp16

# Re-casting a safetensors file.
if "$GEN" convert "$T/plain.safetensors" "$T/plain_bf16.safetensors" --dtype bf16 >/dev/null 2>"$T/stderr"; then
  "$GEN_PYTHON" - "$T/plain.safetensors" "$T/plain_bf16.safetensors" <<'EOF' || fail "safetensors re-cast differs"
import sys, torch
from safetensors.torch import load_file
a, b = load_file(sys.argv[1]), load_file(sys.argv[2])
assert sorted(a) == sorted(b)
for k in a:
    assert torch.equal(a[k].bfloat16(), b[k]), k
EOF
else
  fail "safetensors re-cast: exit $? ($(cat "$T/stderr"))"
fi

# expect_fail FILE CODE NEEDLE [gen args...]: refused with CODE, NEEDLE on stderr, no output.
expect_fail() {
  local in="$1" code="$2" needle="$3" out="$T/refused.safetensors"
  shift 3
  rm -f "$out"
  set +e
  "$GEN" convert "$in" "$out" "$@" >/dev/null 2>"$T/stderr"
  local rc=$?
  set -e
  [ "$rc" = "$code" ] || fail "$in: exit $rc, expected $code ($(cat "$T/stderr"))"
  grep -qF -- "$needle" "$T/stderr" || fail "$in: stderr does not name '$needle': $(cat "$T/stderr")"
  [ ! -e "$out" ] || fail "$in: output left behind"
  if ls "$T"/.refused* >/dev/null 2>&1 || ls "$T"/*.tmp* >/dev/null 2>&1; then fail "$in: temporary file left behind"; fi
}

rm -f /tmp/gen-pwned
expect_fail "$D/malicious_reduce.pt" 8 "posix.system"
expect_fail "$D/malicious_eval.pt" 8 "builtins.eval"
expect_fail "$D/user_class.pt" 8 "__main__.Config"
expect_fail "$D/numpy_entry.pt" 8 "numpy"
[ ! -e /tmp/gen-pwned ] || fail "a payload ran"
expect_fail "$D/legacy.pt" 6 "legacy"
expect_fail "$D/truncated.pt" 5 "truncated.pt"
expect_fail "$D/deflated.pt" 6 "deflate"
expect_fail "$D/no_tensors.pt" 3 "no tensors"
expect_fail "$D/ldm.ckpt" 2 "nothing." --prefix nothing.
expect_fail "$D/missing.pt" 3 "missing.pt"
expect_fail "$D/ldm.ckpt" 2 "dtype" --dtype fp8
set +e
"$GEN" convert "$D/ldm.ckpt" "$T/out.bin" >/dev/null 2>"$T/stderr"
rc=$?
set -e
[ "$rc" = 2 ] || fail "non-.safetensors output: exit $rc"
[ ! -e "$T/out.bin" ] || fail "non-.safetensors output written"

# An existing output is replaced only with --overwrite.
cp "$T/plain_bf16.safetensors" "$T/kept.safetensors"
set +e
"$GEN" convert "$T/plain.safetensors" "$T/kept.safetensors" >/dev/null 2>"$T/stderr"
rc=$?
set -e
[ "$rc" = 2 ] && grep -q "kept.safetensors: exists: pass --overwrite" "$T/stderr" &&
  cmp -s "$T/plain_bf16.safetensors" "$T/kept.safetensors" || fail "convert replaced an existing output: exit $rc $(cat "$T/stderr")"
"$GEN" convert "$T/plain.safetensors" "$T/kept.safetensors" --overwrite >/dev/null 2>"$T/stderr" &&
  ! cmp -s "$T/plain_bf16.safetensors" "$T/kept.safetensors" || fail "convert --overwrite: $(cat "$T/stderr")"

if [ "$fails" -ne 0 ]; then
  echo "$fails failure(s)" >&2
  exit 1
fi
echo "test_convert.sh: all passed"
