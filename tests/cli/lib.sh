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
