#!/usr/bin/env bash
# Runs on the device machine, in the repository root, with .gpu/ carried (scripts/gpu_pack.sh
# made it on the build machine). Results go to $OUT (the device tool's folder; /tmp/gpu-out
# elsewhere). Each mode fits one 10-minute device call:
#
#   bash scripts/gpu_run.sh tests   # every unit test (the GPU ones run: Kernels.*, Api.Cuda*,
#                                   # Models.AsOperand*, TensorAdapter.LoadToCuda, StepGraphs.Cuda*),
#                                   # a CUDA smoke generation, the kernels' micro-benchmark
#   bash scripts/gpu_run.sh bench   # random SD 1.5 (fp16), gen bench w1 (and its A/B switches),
#                                   # w2, w3, w3-decode (auto, off, exact, blended VAE
#                                   # tiling), bf16, offload: JSON per run
#   bash scripts/gpu_run.sh side    # tools/bench_gpu.py: diffusers vs gen, W1 and W2
#   bash scripts/gpu_run.sh psnr    # W1's request on the full-size random SD 1.5: fp16 and bf16
#                                   # on the GPU vs fp32 on the CPU (tools/psnr.py, target 30 dB)
#   bash scripts/gpu_run.sh annotators  # the annotators' unit tests, CUDA cases included (true
#                                   # fp32 against controlnet-aux's CPU fixtures), then
#                                   # tools/bench_annotators.py: gen and controlnet-aux side by
#                                   # side on the GPU, full-size random weights, 512x512
#
# It also runs here (no GPU): the GPU tests then skip and the benchmarks stop at "no CUDA".
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
MODE=${1:-tests}
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
PY=${GEN_GPU_PYTHON:-python3}
GEN=$ROOT/.gpu/bin/gen
# gpu_pack.sh sends the binaries as one archive (the 64 MiB limit on what travels).
if [[ ! -x $GEN && -f .gpu/pack.tar.xz ]]; then xz -dc .gpu/pack.tar.xz | tar -C .gpu -xf - || exit 1; fi
[[ -x $GEN ]] || { echo "gpu_run: .gpu/ is missing: run scripts/gpu_pack.sh here and carry .gpu" >&2; exit 1; }

"$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/gen-site .gpu/whl/*.whl ||
  exit 1
export PYTHONPATH=/tmp/gen-site${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
TORCH_LIB=$("$PY" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))') || exit 1
export LD_LIBRARY_PATH=$ROOT/.gpu/lib:$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export GEN_PYTHON=$PY GEN_TMP=$ROOT/build/tests/tmp
mkdir -p "$GEN_TMP"
# gen_tests has the build machine's source folder compiled in (.gpu/source_dir, written by
# gpu_pack.sh), and build/share/gen/clip in it; the vocabulary travels in .gpu/share.
SRC=$(cat .gpu/source_dir)
if [[ -n $SRC && $SRC != "$ROOT" && ! -e $SRC ]]; then mkdir -p "$(dirname "$SRC")" && ln -sfn "$ROOT" "$SRC"; fi
[[ -e $ROOT/build/share/gen/clip ]] || { mkdir -p "$ROOT/build/share/gen" && ln -sfn "$ROOT/.gpu/share/gen/clip" "$ROOT/build/share/gen/clip"; }
VOCAB=$ROOT/build/share/gen/clip/bpe_simple_vocab_16e6.txt.gz

{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>/dev/null || echo "no nvidia-smi"
  "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "gpu", torch.cuda.is_available())'
  "$GEN" --version; } | tee "$OUT/machine.txt"
has_gpu=$("$PY" -c 'import torch; print(int(torch.cuda.is_available()))')

sd15() {  # the random full-size SD 1.5 + ControlNet (fp16) and its diffusers folders
  [[ -f /tmp/sd15/control-sd15-random.safetensors && -d /tmp/sd15/diffusers/controlnet ]] && return 0
  "$PY" tools/make_sd15_random.py --out /tmp/sd15 --diffusers >/dev/null
}

case $MODE in
  tests)
    .gpu/bin/gen_tests --gtest_brief=1 2>&1 | tee "$OUT/gen_tests.txt" | tail -40
    "$PY" tools/make_tiny_models.py --out /tmp/tiny >/dev/null &&
      "$GEN" -p "a red house" -m /tmp/tiny/diffusers/tiny-sd15-pipeline -W 64 -H 64 --steps 4 --seed 3 \
        --control /tmp/tiny/tiny-control-v11.safetensors --control-image tests/data/control/crop_64x64.png \
        -o "$OUT/smoke-cuda.png" --progress none 2>&1 | tee "$OUT/smoke.txt"
    .gpu/bin/gen_bench_kernels >"$OUT/bench_kernels.txt" 2>&1; tail -1 "$OUT/bench_kernels.txt"
    ;;
  bench)
    [[ $has_gpu == 1 ]] || { echo "gpu_run bench: no CUDA device"; exit 1; }
    sd15 || exit 1
    M=(-m /tmp/sd15/sd15-random.safetensors --control /tmp/sd15/control-sd15-random.safetensors --vocab "$VOCAB")
    run() {  # run NAME ENV... -- ARGS...
      local name=$1; shift
      local envs=()
      while [[ $1 != -- ]]; do envs+=("$1"); shift; done
      shift
      echo "== $name"
      # One run per case (device time is short): the JSON report, progress lines beside it.
      env "${envs[@]}" "$GEN" bench "${M[@]}" "$@" --json >"$OUT/$name.json" 2>"$OUT/$name.txt" ||
        { tail -3 "$OUT/$name.txt"; return; }
      "$PY" - "$OUT/$name.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
s = j["seconds"]
med = lambda k: s[k]["median"] if k in s else float("nan")
print(f"  e2e {med('end_to_end')*1e3:.1f} ms  call {med('step')*1e3:.2f} ms (eager {med('step_profiled_eager')*1e3:.2f},"
      f" unet {med('unet_per_step')*1e3:.2f}, cn {med('controlnet_per_step')*1e3:.2f})  decode {med('vae_decode')*1e3:.1f} ms"
      f"  img/s {j['images_per_second']:.2f}  peak {j['peak_gpu_gib']:.2f}/{j['peak_gpu_reserved_gib']:.2f} GiB  TFLOP/s {j['tflops_per_second']['step']:.1f}"
      f"  graphs {j['cuda_graphs']}  vae {j['vae_decode']}")
PY
    }
    run w1 GEN_X=0 -- -w w1
    run w1-no-graphs GEN_X=0 -- -w w1 --repeats 3 --no-cuda-graphs
    run w1-no-kernels GEN_X=0 -- -w w1 --repeats 3 --no-fused-kernels
    run w1-nchw GEN_X=0 -- -w w1 --repeats 3 --nchw
    run w1-bf16 GEN_X=0 -- -w w1 --dtype bf16 --repeats 3
    run w2 GEN_X=0 -- -w w2
    run w3 GEN_X=0 -- -w w3 --repeats 2
    run w3-decode GEN_X=0 -- -w w3-decode --repeats 2
    for t in off exact blended; do run w3-decode-$t GEN_X=0 -- -w w3-decode --repeats 2 --vae-tiling $t; done
    run w1-offload GEN_X=0 -- -w w1 --weights offload --warmup 0 --repeats 1
    ;;
  side)
    [[ $has_gpu == 1 ]] || { echo "gpu_run side: no CUDA device"; exit 1; }
    sd15 || exit 1
    "$PY" tools/bench_gpu.py --models /tmp/sd15 --gen "$GEN" 2>&1 | tee "$OUT/side_by_side.txt"
    ;;
  psnr)
    [[ $has_gpu == 1 ]] || { echo "gpu_run psnr: no CUDA device"; exit 1; }
    sd15 || exit 1
    W1=(-p "a photograph of a lighthouse on a cliff at sunset, dramatic sky, detailed" -n "blurry, low quality"
        -m /tmp/sd15/sd15-random.safetensors --vocab "$VOCAB" -W 512 -H 512 --steps 20 --cfg-scale 7.5 --sampler euler
        --seed 1 --control /tmp/sd15/control-sd15-random.safetensors
        --control-image tests/data/control/canny_100_200.png --progress none)
    for run in "cuda fp16" "cuda bf16" "cpu fp32"; do
      set -- $run
      TIMEFORMAT="$1 $2: %R s"
      { time "$GEN" "${W1[@]}" --device "$1" --dtype "$2" -o "$OUT/w1-$1-$2.png"; } 2>&1 | tee -a "$OUT/psnr.txt"
    done
    for d in fp16 bf16; do
      echo "cuda $d vs cpu fp32: $("$PY" tools/psnr.py "$OUT/w1-cuda-$d.png" "$OUT/w1-cpu-fp32.png")" | tee -a "$OUT/psnr.txt"
    done
    ;;
  annotators)
    [[ $has_gpu == 1 ]] || { echo "gpu_run annotators: no CUDA device"; exit 1; }
    # The fixtures are made there by the reference scripts (controlnet-aux from .gpu/whl).
    .gpu/bin/gen_tests --gtest_brief=1 \
      --gtest_filter='Annotators.*:Midas.*:DepthAnything.*:NormalBae.*:Openpose*.*' 2>&1 |
      tee "$OUT/annotator_tests.txt" | grep -E '^\[|(cuda|CUDA)' | tail -60
    # Side by side on the GPU (the reference's detectors moved with .to("cuda")), then the
    # torch default's TF32 question answered by the maps: gen CUDA vs gen CPU, same weights.
    "$PY" tools/bench_annotators.py --gen "$GEN" --dir /tmp/annb --device cuda --threads 16 --repeats 10 \
      --warmup 2 --annotators hed pidinet lineart lineart_coarse lineart_anime mlsd openpose lineart_standard \
      shuffle depth_anything midas normal_midas normal_bae 2>&1 | tee "$OUT/bench_annotators_cuda.txt"
    cp /tmp/annb/bench_annotators.json "$OUT/" 2>/dev/null
    for a in hed pidinet lineart lineart_anime mlsd midas normal_bae; do
      spec=$a; [[ $a == normal_bae ]] && spec="normal_bae:file=/tmp/annb/scannet.safetensors"
      for d in cpu cuda; do
        "$GEN" preprocess /tmp/annb/picture.png --preprocess "$spec" --annotator-dir /tmp/annb --device $d \
          -o "$OUT/map-$a-$d.png" 2>>"$OUT/maps.txt" || echo "$a $d: failed" | tee -a "$OUT/maps.txt"
      done
      echo "$a: cuda vs cpu $("$PY" tools/psnr.py "$OUT/map-$a-cuda.png" "$OUT/map-$a-cpu.png")" | tee -a "$OUT/maps.txt"
    done
    ;;
  *) echo "gpu_run: mode must be tests, bench, side, psnr or annotators" >&2; exit 2 ;;
esac
