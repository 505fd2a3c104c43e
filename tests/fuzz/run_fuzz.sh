#!/usr/bin/env bash
# Builds one fuzzer with clang (libFuzzer + ASan + UBSan) and runs it for SECONDS
# (default 60; GEN_FUZZ_SECONDS overrides both) from its committed seed corpus
# tests/fuzz/corpus/TARGET/, with tests/fuzz/TARGET.dict as its dictionary.
# Usage: tests/fuzz/run_fuzz.sh TARGET WORKDIR [SECONDS]
#   TARGET: safetensors | pickle | zip | png | jpeg | request (tests/fuzz/fuzz_TARGET.cpp)
# Exits non-zero if the build fails or libFuzzer reports a finding (crash, leak,
# timeout, out of memory); reproducers are left in WORKDIR/findings. Extra
# libFuzzer flags can be given in GEN_FUZZ_FLAGS (e.g. -jobs=1 -workers=1).
set -euo pipefail
target=${1:?usage: run_fuzz.sh TARGET WORKDIR [SECONDS]}
work=${2:?usage: run_fuzz.sh TARGET WORKDIR [SECONDS]}
src=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${GEN_FUZZ_SECONDS:-${3:-60}}

# What each target compiles (only torch-free code: src/core, src/io, src/image).
libs=()
case $target in
  safetensors) units=(core/error.cpp io/dtype.cpp io/safetensors_format.cpp) ;;
  zip) units=(core/error.cpp core/files.cpp io/zip_reader.cpp) libs=(-lz) ;;
  pickle) units=(core/error.cpp core/files.cpp io/dtype.cpp io/zip_reader.cpp io/pickle_reader.cpp
                 io/pickle_text.cpp io/torch_pickle_hooks.cpp io/torch_checkpoint.cpp) libs=(-lz) ;;
  png|jpeg) units=(core/error.cpp core/files.cpp core/fs.cpp core/atomic_file.cpp io/mapped_file.cpp io/zip_reader.cpp
                   image/image.cpp image/png.cpp image/jpeg.cpp)
            libs=(-lpng -ljpeg -lz) ;;
  request) units=(core/error.cpp core/files.cpp core/json.cpp request/fields.cpp request/request.cpp editing/outpaint.cpp
                  request/infotext.cpp request/file_hashes.cpp request/a1111_names.cpp core/fs.cpp core/atomic_file.cpp io/mapped_file.cpp io/zip_reader.cpp
                  image/image.cpp image/png.cpp image/jpeg.cpp  # Request::validate checks control pixels
                  adapters/lora_names.cpp core/sha256.cpp core/file_cache.cpp core/named_file.cpp  # the infotext's Lora hashes
                  io/safetensors_file.cpp io/safetensors_format.cpp io/dtype.cpp
                  annotators/registry.cpp)  # --preprocess unicontrol resolves through the registry
           libs=(-lpng -ljpeg -lz) ;;
  *) echo "run_fuzz.sh: unknown target '$target'" >&2; exit 2 ;;
esac

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
cp "$src/tests/fuzz/corpus/$target"/* "$work/corpus/"

bin=$work/fuzz_$target
"$cxx" -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -fno-omit-frame-pointer -I"$src/include" -I"$src/src" -I"$src/tests/unit" \
  "$src/tests/fuzz/fuzz_$target.cpp" "${units[@]/#/$src/src/}" "${libs[@]}" -o "$bin"

dict=()
[ -f "$src/tests/fuzz/$target.dict" ] && dict=(-dict="$src/tests/fuzz/$target.dict")
# -max_len: the seeds are a few KB; larger inputs only slow the run down. The
# safetensors header may legitimately be up to 100 MB, but not in a fuzzer.
max_len=16384
[ "$target" = safetensors ] && max_len=65536
"$bin" "$work/corpus" -max_total_time="$seconds" -max_len=$max_len -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$work/findings/" -print_final_stats=1 "${dict[@]}" ${GEN_FUZZ_FLAGS:-}
