#!/usr/bin/env bash
# The memory guard (docs/performance.md#memory-guard): a request that cannot fit is refused
# before it starts (exit 9, one line giving the estimate, what is available and what to
# change), quickly and without allocating; --no-memory-guard runs it anyway; a normal request
# passes; gen batch fails only the job that cannot fit. --memory-limit makes the answers the
# same on machines of any size.
source "$(dirname "$0")/lib.sh"
make_tiny_models
O=$GEN_TMP/out
mkdir -p "$O"
common=(-m "$P" -p "a red house" --seed 3 --steps 1 -q)
# peak_kib CMD...: runs CMD, prints its exit code and peak RSS in KiB (wait4's ru_maxrss).
peak_kib() { "$GEN_PYTHON" -c 'import os, subprocess, sys
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=open(os.environ["ERR"], "w"))
_, status, ru = os.wait4(p.pid, 0)
print(os.waitstatus_to_exitcode(status), ru.ru_maxrss)' "$@"; }

# 2048² × batch 64 (the case that once took 11 GB before anything said so): refused at once.
export ERR=$GEN_TMP/huge.err
start=$(date +%s)
read -r rc kib < <(peak_kib "$GEN" "${common[@]}" -W 2048 -H 2048 --batch-size 64 --memory-limit 6G -o "$O/huge.png")
secs=$(( $(date +%s) - start ))
err=$(cat "$ERR")
[ "$rc" = 9 ] && grep -qE "memory guard: this request needs about .* GiB \(.* GiB for its (UNet step at 2048x2048 × 128 rows \(batch 64, doubled by CFG\)|VAE decode at 2048x2048 × batch 64) on top of the .* gen holds\)" <<<"$err" &&
  grep -q "GiB is available (memory_limit 6.0 GiB); try a smaller batch_size" <<<"$err" && [ "$(grep -c . <<<"$err")" = 1 ] &&
  pass "2048x2048 × 64 refused (exit 9) with the estimate: $err" || bad "2048x2048 × 64: exit $rc, $err"
[ "$secs" -le 60 ] && [ "$kib" -lt $((1536 * 1024)) ] && pass "… in ${secs}s, peak RSS $((kib / 1024)) MiB (nothing allocated for it)" ||
  bad "refusal took ${secs}s and peak RSS $((kib / 1024)) MiB"
[ ! -e "$O/huge.png" ] && pass "… and nothing written" || bad "an image was written"

# Without a limit: the machine's own free memory (MemAvailable or the cgroup) is compared.
ERR=$GEN_TMP/free.err
read -r rc kib < <(peak_kib "$GEN" "${common[@]}" -W 2048 -H 2048 --batch-size 64 -o "$O/huge.png")
avail=$(awk '/^MemAvailable:/ {print int($2 / 1048576)}' /proc/meminfo)
if [ "$avail" -lt 24 ]; then  # the estimate is above 24 GiB (docs/performance.md)
  [ "$rc" = 9 ] && grep -q "is available (MemAvailable\|is available (the memory cgroup" "$ERR" &&
    pass "… refused too by the machine's free memory ($avail GiB)" || bad "no limit: exit $rc, $(cat "$ERR")"
else
  pass "(skipped the no-limit refusal: $avail GiB free is more than the estimate)"
fi

# A normal request passes; a tiny limit refuses it, and --no-memory-guard runs it anyway.
"$GEN" "${common[@]}" -W 64 -H 64 --batch-size 2 -o "$O/ok-{index}.png" && [ -f "$O/ok-1.png" ] &&
  "$GEN" "${common[@]}" -W 64 -H 64 -o "$O/one.png" && pass "normal requests pass the guard" || bad "normal request refused"
expect_exit 9 "memory guard: .*is available \(memory_limit 1 MiB\)" -- "$GEN" "${common[@]}" -W 64 -H 64 --memory-limit 1M -o "$O/tight.png"
"$GEN" "${common[@]}" -W 64 -H 64 --memory-limit 1M --no-memory-guard -o "$O/unguarded.png" && pixels_equal "$O/one.png" "$O/unguarded.png" &&
  pass "--no-memory-guard runs it (the same image)" || bad "--no-memory-guard"
expect_exit 2 "--memory-limit: 'lots' is not a memory size" -- "$GEN" "${common[@]}" --memory-limit lots
expect_exit 2 "--memory-limit: '-1G' is not a memory size" -- "$GEN" "${common[@]}" --memory-limit=-1G

# gen batch: the job that cannot fit fails alone (out-of-memory in its record), the others run.
cat > "$GEN_TMP/jobs.jsonl" <<'JOBS'
{"id": "small", "prompt": "a house", "seed": 1, "steps": 1, "width": 64, "height": 64}
{"id": "huge", "prompt": "a house", "seed": 1, "steps": 1, "width": 2048, "height": 2048, "batch_size": 64}
JOBS
"$GEN" batch "$GEN_TMP/jobs.jsonl" -m "$P" -O "$O/batch" --memory-limit 6G -q 2>/dev/null; rc=$?
[ "$rc" = 11 ] && grep -q '"id":"small".*"status":"ok"' "$O/batch/jobs.results.jsonl" &&
  grep -q '"code":"out-of-memory".*memory guard.*"id":"huge"' "$O/batch/jobs.results.jsonl" &&
  pass "gen batch: the huge job fails with out-of-memory, the other runs" || bad "batch: exit $rc, $(cat "$O/batch/jobs.results.jsonl")"
finish
