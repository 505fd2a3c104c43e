#!/usr/bin/env bash
# gen: install every dependency, configure, build, and run gen once.
#   scripts/setup.sh            (fresh Debian 12 machine, CUDA toolkit optional, no GPU needed)
# Environment knobs:
#   GEN_CACHE_DIR   where the Python virtualenv is cached (default ~/.cache/gen)
#   GEN_BUILD_DIR   build directory (default ./build)
#   GEN_CUDA=OFF    force a CPU-only build even when nvcc is present
#   GEN_SKIP_APT=1  do not call apt-get (packages already present)
#   GEN_RUNTIME_ONLY=1  only what gen needs (requirements-runtime.txt: torch), no tests, no
#                   reference stack, no tiny models (they are made with diffusers): gen is built,
#                   installed and checked with `gen --version`
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
t0=$(date +%s)
log() { printf '[setup %4ss] %s\n' "$(( $(date +%s) - t0 ))" "$*" >&2; }

# 1. Debian packages ---------------------------------------------------------
pkgs=(build-essential cmake ninja-build ccache pkg-config git
      python3 python3-venv
      libopencv-core-dev libopencv-imgproc-dev libpng-dev libjpeg-dev zlib1g-dev
      nlohmann-json3-dev libcli11-dev libgtest-dev libgmock-dev
      libpcre2-dev libutf8proc-dev
      clang libclang-rt-14-dev)
if [ "${GEN_SKIP_APT:-0}" != 1 ]; then
  missing=()
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd=sudo
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

# 2. Python virtualenv (torch wheel = libtorch), cached by requirements hash ---
runtime_only=${GEN_RUNTIME_ONLY:-0}
if [ "$runtime_only" = 1 ]; then venv=$(scripts/venv.sh requirements-runtime.txt); else venv=$(scripts/venv.sh); fi
log "virtualenv: $venv"
# The CLIP vocabulary single checkpoint files are tokenized with (PyPI's clip-anytorch wheel).
vocab_dir=$(scripts/clip_vocab.sh "$venv/bin/python")
log "CLIP vocabulary: $vocab_dir"

# 3. Configure and build -------------------------------------------------------
build=${GEN_BUILD_DIR:-build}
torch_prefix=$("$venv/bin/python" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')
cuda_args=()
nvcc=$(command -v nvcc || true)
[ -z "$nvcc" ] && [ -x /usr/local/cuda/bin/nvcc ] && nvcc=/usr/local/cuda/bin/nvcc
if [ -n "$nvcc" ] && [ "${GEN_CUDA:-ON}" != OFF ]; then
  cuda_args=(-DGEN_CUDA=ON -DCMAKE_CUDA_COMPILER="$nvcc")
else
  cuda_args=(-DGEN_CUDA=OFF)
fi
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
  # Paths relative to the clone, so a fresh clone elsewhere still hits the cache.
  export CCACHE_BASEDIR="$root" CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
fi
parts=()
[ "$runtime_only" = 1 ] && parts=(-DGEN_BUILD_TESTS=OFF -DGEN_BUILD_EXAMPLES=OFF)
log "configure ($build)"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$torch_prefix" -DGEN_PYTHON="$venv/bin/python" -DGEN_CLIP_VOCAB_DIR="$vocab_dir" \
  -DCMAKE_INSTALL_PREFIX="$root/$build/install" \
  "${cuda_args[@]}" "${launcher[@]}" "${parts[@]}" >/dev/null
log "build"
cmake --build "$build" -j "$(nproc)"
log "install (for the package consumer test)"
cmake --install "$build" >/dev/null

if [ "$runtime_only" = 1 ]; then
  "$build/tools/gen" --version
  log "done (runtime only): $build/tools/gen, installed under $build/install; README: real weights"
  exit 0
fi

# 4. Generate an image with a small model the project makes --------------------
log "make the tiny models (random weights, real architectures, every file layout)"
"$venv/bin/python" tools/make_tiny_models.py --out "$build/models" >/dev/null
log "gen inspect"
"$build/tools/gen" inspect "$build/models/tiny-sd15.safetensors"
log "gen: the demo model (trained by gen: docs/training.md#the-demo-model) with its ControlNet"
"$build/tools/gen" -m models/demo/model --control models/demo/controlnet \
  --control-image models/demo/example/outline.png -p "a red circle on a blue background" \
  -W 64 -H 64 --steps 20 --seed 1 -o "$build/first-image.png" --overwrite
log "done: $build/first-image.png (a red circle on a blue background); see README for real weights"
