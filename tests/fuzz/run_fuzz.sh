#!/usr/bin/env bash
# Builds the safetensors parser fuzzer with clang (libFuzzer + ASan + UBSan) and
# runs it for ${GEN_FUZZ_SECONDS:-60} seconds from the committed seed corpus.
# Usage: tests/fuzz/run_fuzz.sh WORKDIR. Exits non-zero if the build fails or
# libFuzzer reports a finding (crash reproducers are left in WORKDIR/findings).
set -euo pipefail
work=${1:?usage: run_fuzz.sh WORKDIR}
src=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${GEN_FUZZ_SECONDS:-60}

cxx=${GEN_FUZZ_CXX:-}
if [ -z "$cxx" ]; then
  for c in clang++ clang++-18 clang++-17 clang++-16 clang++-15 clang++-14; do
    if command -v "$c" >/dev/null 2>&1; then cxx=$c; break; fi
  done
fi
[ -n "$cxx" ] || { echo "run_fuzz.sh: no clang++ found" >&2; exit 1; }

mkdir -p "$work/findings"
rm -rf "$work/corpus"
mkdir -p "$work/corpus"
cp "$src"/tests/fuzz/corpus/* "$work/corpus/"

bin=$work/fuzz_safetensors
"$cxx" -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -fno-omit-frame-pointer -I"$src/include" -I"$src/src" \
  "$src/tests/fuzz/fuzz_safetensors.cpp" "$src/src/core/error.cpp" "$src/src/io/dtype.cpp" \
  "$src/src/io/safetensors_format.cpp" -o "$bin"

# -rss_limit_mb: headers may legitimately be up to 100 MB; keep the fuzzer's
# inputs far smaller so that runs stay fast.
"$bin" "$work/corpus" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$work/findings/" -print_final_stats=1 \
  -dict="$src/tests/fuzz/safetensors.dict"
