# Shared helpers for tests/cli/test_*.sh (sourced). Env from CTest:
#   GEN (the gen binary), GEN_PYTHON (venv python), GEN_SRC (repo root), GEN_TMP (scratch dir)
set -u
: "${GEN:?GEN must point to the gen binary}"
GEN_TMP=${GEN_TMP:-$(mktemp -d)}
rm -rf "$GEN_TMP"; mkdir -p "$GEN_TMP"
failures=0
pass() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; failures=$((failures + 1)); }
# expect_exit CODE PATTERN -- cmd...: the command exits with CODE and its stderr matches PATTERN.
expect_exit() {
  local code=$1 pattern=$2; shift 3
  local err rc
  err=$("$@" 2>&1 >/dev/null); rc=$?
  if [ "$rc" != "$code" ]; then bad "$* → exit $rc, wanted $code; stderr: $err"; return; fi
  if ! grep -qE -- "$pattern" <<<"$err"; then bad "$* → stderr lacks /$pattern/: $err"; return; fi
  if [ "$(grep -c . <<<"$err")" -gt 1 ] && [ "$code" != 0 ]; then bad "$* → more than one line on stderr: $err"; return; fi
  pass "$* → $rc"
}
finish() {
  if [ "$failures" -gt 0 ]; then echo "$failures check(s) failed"; exit 1; fi
  echo "all checks passed"
}
# make_tiny_models: the tiny models of tools/make_tiny_models.py in $GEN_TMP/models; sets M
# (that folder) and P (the tiny diffusers SD 1.5 pipeline). Ends the test when it fails.
make_tiny_models() {
  : "${GEN_SRC:?}" "${GEN_PYTHON:?GEN_PYTHON must point to the project venv python}"
  M=$GEN_TMP/models
  P=$M/diffusers/tiny-sd15-pipeline
  "$GEN_PYTHON" "$GEN_SRC/tools/make_tiny_models.py" --out "$M" >/dev/null 2>"$GEN_TMP/make.err" ||
    { cat "$GEN_TMP/make.err"; bad "make_tiny_models.py failed"; finish; }
}
# pixels_equal A B: the two images have identical pixels (Pillow decodes them).
pixels_equal() { "$GEN_PYTHON" -c 'import sys, numpy as np; from PIL import Image
a, b = (np.asarray(Image.open(p).convert("RGB")) for p in sys.argv[1:3]); sys.exit(0 if a.shape == b.shape and (a == b).all() else 1)' "$1" "$2"; }
