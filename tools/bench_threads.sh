#!/usr/bin/env bash
# Thread contention (docs/performance.md#threads): gen batch of N tiny jobs with 1 and 2
# threads, idle and with two busy-looping processes beside it; wall times, each run cut at
# TIMEOUT seconds. Usage: tools/bench_threads.sh GEN PIPELINE [JOBS=19] [TIMEOUT=40]
set -u
gen=${1:?gen binary} pipe=${2:?tiny diffusers pipeline folder} n=${3:-19} limit=${4:-40}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"; kill $(jobs -p) 2>/dev/null' EXIT
for i in $(seq 1 "$n"); do
  echo "{\"prompt\":\"a house $i\",\"width\":64,\"height\":64,\"steps\":2,\"seed\":$i}"
done >"$tmp/jobs.jsonl"
run() {  # LABEL ENV... -- ARGS...
  local label=$1 envs=() s rc; shift
  while [ "$1" != -- ]; do envs+=("$1"); shift; done; shift
  rm -rf "$tmp/o"; s=$(date +%s.%N)
  env "${envs[@]}" timeout "$limit" "$gen" batch "$tmp/jobs.jsonl" -m "$pipe" -O "$tmp/o" -q "$@" 2>/dev/null; rc=$?
  printf '%-48s %6.2f s%s\n' "$label" "$(echo "$(date +%s.%N) - $s" | bc)" "$([ $rc = 124 ] && echo " (cut at $limit s)")"
}
for load in idle busy; do
  [ $load = busy ] && { yes >/dev/null & yes >/dev/null & sleep 1; }
  run "$load, --threads 1" X=1 -- --threads 1
  run "$load, --threads 2" X=1 -- --threads 2
  run "$load, --threads 2, GOMP_SPINCOUNT=300000" GOMP_SPINCOUNT=300000 -- --threads 2
  run "$load, default threads" X=1 --
done
