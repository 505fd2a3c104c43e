#!/usr/bin/env bash
# Packs what a GPU session carries to the device machine (the device tool): the built
# `gen` and `gen_tests`, the shared libraries they need that the device image lacks (not
# libtorch: the device's python3 holds the same torch 2.11 cu130; not the C runtime), the
# diffusers and controlnet-aux wheels of our virtualenv (the side-by-side references) and the CLIP
# vocabulary, as one archive, .gpu/pack.tar.xz (ignored by git): with the tracked files it must
# stay under the device's 64 MiB. scripts/gpu_run.sh unpacks it there and runs.
#
#   bash scripts/gpu_pack.sh            # after the README's build (build/, GEN_CUDA=ON)
#   device run: carry [".gpu"], command "bash scripts/gpu_run.sh tests|bench|side|psnr|annotators"
set -euo pipefail
cd "$(dirname "$0")/.."
B=${GEN_GPU_BUILD:-build}
for f in "$B/tools/gen" "$B/tests/gen_tests"; do
  [[ -x $f ]] || { echo "gpu_pack: $f is missing: build first (README.md)" >&2; exit 1; }
done
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >>.git/info/exclude
rm -rf .gpu
mkdir -p .gpu/bin .gpu/lib .gpu/whl .gpu/share/gen/clip
cp "$B/tools/gen" "$B/tools/gen_bench_kernels" "$B/tests/gen_tests" .gpu/bin/
# gen_tests has this build's source folder compiled in (its data, and build/share/gen/clip):
# gpu_run.sh makes that path lead to the copy on the device.
sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$B/CMakeCache.txt" >.gpu/source_dir
# Libraries: ours and the system's, except libtorch (the device's) and the C runtime (the
# device's glibc 2.39 / libstdc++ are newer than what these binaries need: glibc 2.34, GLIBCXX 3.4.29).
for bin in .gpu/bin/*; do ldd "$bin"; done | awk '$3 ~ /^\// {print $3}' | sort -u | while read -r lib; do
  case "$lib" in
    */torch/lib/*) ;;
    */libc.so.* | */libm.so.* | */libdl.so.* | */libpthread.so.* | */librt.so.* | */ld-linux* | */libstdc++.so.* | \
      */libgcc_s.so.* | */libutil.so.*) ;;
    *) cp -L "$lib" .gpu/lib/ ;;
  esac
done
VOCAB=$B/share/gen/clip/bpe_simple_vocab_16e6.txt.gz
[[ -f $VOCAB ]] || { echo "gpu_pack: $VOCAB is missing (scripts/setup.sh fetches it)" >&2; exit 1; }
cp "$VOCAB" "$B/share/gen/clip/LICENSE" .gpu/share/gen/clip/
# The reference side: diffusers and controlnet-aux as in our virtualenv, as wheels (pure Python),
# and the one package diffusers needs that the device image lacks; the image's transformers 5.17,
# huggingface_hub 1.33, timm, einops, scipy, scikit-image and opencv-python-headless satisfy the
# rest (and carrying transformers would pass the 64 MiB limit).
PY=$(bash scripts/venv.sh)/bin/python
pins=$("$PY" -m pip list --format=freeze 2>/dev/null | grep -iE '^(diffusers|importlib[-_]metadata|controlnet[-_]aux)==')
# shellcheck disable=SC2086
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .gpu/whl $pins
# What travels is the tracked tree (about 21 MB) plus .gpu, 64 MiB in all: the binaries and
# libraries (about 55 MB) travel as one xz archive (about a third of that); gpu_run.sh unpacks it.
tar -C .gpu -cf - bin lib share whl source_dir | xz -T2 -6 >.gpu.tar.xz
rm -rf .gpu && mkdir .gpu && mv .gpu.tar.xz .gpu/pack.tar.xz
tracked=$(git ls-files -z | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
packed=$(du -b .gpu/pack.tar.xz | cut -f1)
echo "gpu_pack: .gpu/pack.tar.xz $((packed >> 20)) MiB + tracked files $((tracked >> 20)) MiB (limit 64 MiB)"
(( packed + tracked < 64 << 20 )) || { echo "gpu_pack: over the device's 64 MiB" >&2; exit 1; }
