#!/usr/bin/env bash
# gen: build the unit tests with AddressSanitizer + UndefinedBehaviorSanitizer
# (GEN_SANITIZE=ON) in a second build folder and run them.
#   scripts/sanitize.sh         (after scripts/setup.sh: same packages, same virtualenv)
# CPU-only (GEN_CUDA=OFF): the CUDA kernels are device code the sanitizers do not check,
# the CI machine has no GPU to run them, and leaving out nvcc saves build time.
# Only the unit-test binaries are built (gen_tests_core, gen_tests: the library and its tests); the CLI, package and fuzz
# tests stay in the ordinary build (the fuzzer has its own ASan/UBSan build).
# It is also the proof that gen builds and runs without the CUDA toolkit (README: CPU-only
# builds need no toolkit; PyPI's torch wheel is a CUDA build whose CMake config insists on one,
# cmake/GenTorch.cmake goes around it): where the toolkit is installed, the script runs itself
# in a private mount namespace with empty folders mounted over /usr/local/cuda*, checks that
# no nvcc and no CUDA header is visible, builds, and generates an image with the built gen.
# Environment knobs:
#   GEN_CACHE_DIR        where the Python virtualenv is cached (as setup.sh)
#   GEN_ASAN_BUILD_DIR   build directory (default ./build-asan)
#   GEN_HIDE_CUDA=0      build with the toolkit visible (also what happens, with a warning,
#                        where unshare --mount is not allowed)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
t0=$(date +%s)
log() { printf '[sanitize %4ss] %s\n' "$(( $(date +%s) - t0 ))" "$*" >&2; }

cuda_dirs=$(ls -d /usr/local/cuda /usr/local/cuda-* 2>/dev/null || true)
if [ -z "${GEN_CUDA_HIDDEN:-}" ] && [ -n "$cuda_dirs" ] && [ "${GEN_HIDE_CUDA:-1}" != 0 ]; then
  if unshare --mount true 2>/dev/null; then
    log "hiding the CUDA toolkit ($(echo $cuda_dirs)) in a private mount namespace"
    exec unshare --mount env GEN_CUDA_HIDDEN="$cuda_dirs" "$root/scripts/sanitize.sh" "$@"
  fi
  # Not root (or no mount namespaces): the sanitizer run still matters; say loudly that the
  # CPU-only proof did not run here.
  log "WARNING: cannot hide the CUDA toolkit (unshare --mount is not allowed here): this build" \
      "does not prove that gen builds without it"
fi
if [ -n "${GEN_CUDA_HIDDEN:-}" ]; then
  for d in $GEN_CUDA_HIDDEN; do mount -t tmpfs -o size=1m,mode=0755 gen-no-cuda "$d"; done
  # (a wrapper script named nvcc may stay on PATH: it must no longer run a compiler)
  if nvcc --version >/dev/null 2>&1 || ls /usr/local/cuda*/include/cuda_runtime_api.h >/dev/null 2>&1; then
    log "the CUDA toolkit is still visible: $(command -v nvcc) $(ls /usr/local/cuda*/include/cuda_runtime_api.h 2>/dev/null)"
    exit 1
  fi
  log "CUDA toolkit hidden: no nvcc, no cuda_runtime_api.h"
fi

venv=$(scripts/venv.sh)
build=${GEN_ASAN_BUILD_DIR:-build-asan}
vocab_dir=$(scripts/clip_vocab.sh "$venv/bin/python")
torch_prefix=$("$venv/bin/python" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR="$root" CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
  # -g1 below: ccache would otherwise key debug builds on the build folder's absolute path,
  # and a fresh clone elsewhere would miss the cache (only DW_AT_comp_dir can be stale).
  export CCACHE_NOHASHDIR=1
fi

# Runtime options. Only our code is instrumented (libtorch, OpenCV, libpng... are not);
# no finding of theirs needs silencing today, so there is no suppression file, and
# LeakSanitizer stays on (it reports nothing at exit, libtorch included).
#  ASan: checks that are off by default, cheap at this size (the run takes seconds):
#   detect_stack_use_after_return=1   a pointer or reference to a dead stack frame
#   check_initialization_order=1, strict_init_order=1   static initialisers that read
#                                     globals of another file before those are constructed
#   strict_string_checks=1            C string functions reading past a missing terminator
#  UBSan: print_stacktrace=1          the call chain, not just file:line (every UBSan
#                                     finding already aborts: -fno-sanitize-recover)
# Exported before the build: gtest_discover_tests runs gen_tests at build time.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

log "configure ($build: GEN_SANITIZE=ON, GEN_CUDA=OFF)"
# -O1 -g1: ASan's recommended optimisation level (fast enough, exact stacks) and line
# tables so reports name file:line; NDEBUG as in the Release build CI ships.
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_FLAGS_RELEASE="-O1 -g1 -DNDEBUG" \
  -DCMAKE_PREFIX_PATH="$torch_prefix" -DGEN_PYTHON="$venv/bin/python" -DGEN_CLIP_VOCAB_DIR="$vocab_dir" \
  -DGEN_SANITIZE=ON -DGEN_CUDA=OFF -DGEN_BUILD_EXAMPLES=OFF \
  "${launcher[@]}" >/dev/null
if grep -q "^CMAKE_CUDA_COMPILER:.*nvcc" "$build/CMakeCache.txt" || ! grep -q "^GEN_CUDA:BOOL=OFF" "$build/CMakeCache.txt"; then
  log "the CPU-only configure found CUDA after all (CMakeCache.txt)"
  exit 1
fi
log "build gen_tests_core gen_tests gen"
cmake --build "$build" -j "$(nproc)" --target gen_tests_core gen_tests gen
log "unit tests under ASan + UBSan"
# The gtest binaries, not ctest: one process each (every process start pays ASan's price
# for loading libtorch, 2-3 s).
# GEN_TMP as ctest would set it; a time limit (about 30 times the usual run) as ctest has.
export GEN_TMP="$(cd "$build" && pwd)/tests/tmp"
timeout -k 10 300 "$build/tests/gen_tests_core"
timeout -k 10 900 "$build/tests/gen_tests"
# A generation with the gen built here (the tiny pipeline the unit tests made).
"$build/tools/gen" -p "a red circle" -m "$GEN_TMP/api-models/diffusers/tiny-sd15-pipeline" -W 64 -H 64 --steps 2 \
  --seed 3 -o "$GEN_TMP/cpu-only.png" --quiet
log "generated $GEN_TMP/cpu-only.png with $build/tools/gen${GEN_CUDA_HIDDEN:+ (CUDA toolkit hidden)}"
log "done: no sanitizer findings"
