#!/usr/bin/env bash
# requirements-runtime.txt (what gen needs: torch) is a subset of requirements.txt (gen plus the
# reference stack the tests use), pin for pin, so the runtime-only set-up builds against the
# same libtorch as the tested one.
. "$(dirname "$0")/lib.sh"
strip() { sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$1" | sort; }
missing=$(comm -23 <(strip "$GEN_SRC/requirements-runtime.txt") <(strip "$GEN_SRC/requirements.txt"))
if [ -z "$(strip "$GEN_SRC/requirements-runtime.txt")" ]; then bad "requirements-runtime.txt lists nothing"
elif [ -n "$missing" ]; then bad "requirements-runtime.txt pins what requirements.txt does not: $missing"
else pass "requirements-runtime.txt ⊂ requirements.txt ($(strip "$GEN_SRC/requirements-runtime.txt" | tr '\n' ' '))"; fi
grep -q '^torch==' "$GEN_SRC/requirements-runtime.txt" && pass "torch pinned for the runtime" || bad "no torch pin in requirements-runtime.txt"
finish
