#!/usr/bin/env bash
# `gen batch`: a job file with good and bad lines, the results file, --resume after
# SIGKILL at random moments (nothing lost, nothing rendered twice), SIGTERM, --shard
# slices that add up to the whole file, and job lines that try to write outside the
# output folder.
source "$(dirname "$0")/lib.sh"
: "${GEN_SRC:?}" "${GEN_PYTHON:?GEN_PYTHON must point to the project venv python}"
make_tiny_models
cd "$GEN_TMP"

# 1. Good and bad lines together ---------------------------------------------------
cat > mixed.jsonl <<'JOBS'
{"id": "ok-1", "prompt": "a cat", "width": 64, "height": 64, "steps": 2, "seed": 1}
{"prompt": "a dog", "width": 64, "height": 64, "steps": 2, "batch_size": 2, "batch_count": 2}

this is not json
[1, 2, 3]
{"id": "bad-size", "prompt": "x", "width": 63}
{"id": "bad-type", "prompt": "x", "steps": "many"}
{"id": "bad-key", "prompt": "x", "colour": "red"}
{"id": "escape-up", "prompt": "x", "output": "../escaped-{index}.png"}
{"id": "escape-abs", "prompt": "x", "output": "/tmp/gen-escaped-{index}.png"}
{"id": "ok-1", "prompt": "same id again"}
{"id": "bad/id", "prompt": "x"}
{"id": "bad-sampler", "prompt": "x", "sampler": "warp"}
{"id": "bad-control", "prompt": "x", "width": 64, "height": 64, "controls": [{"model": "nope.safetensors", "image": "nope.png", "end": 2}]}
{"id": "missing-image", "prompt": "x", "width": 64, "height": 64, "steps": 1, "controls": [{"model": "MODELS/tiny-control-sd15-full.safetensors", "image": "nope.png"}]}
{"id": "missing-model", "prompt": "x", "model": "no-such-model.safetensors", "width": 64, "height": 64}
{"id": "nested", "prompt": "a bird", "width": 64, "height": 64, "steps": 1, "output": "birds/{job}/{index}.png"}
JOBS
sed -i "s#MODELS#$M#" mixed.jsonl
"$GEN" batch mixed.jsonl -m "$P" -O out1 -q; rc=$?
[ "$rc" = 11 ] && pass "a batch with bad jobs exits 11 (jobs-failed)" || bad "mixed batch exit $rc"
R=out1/mixed.results.jsonl
"$GEN_PYTHON" - "$R" <<'PY' && pass "results: one record per job, bad ones with code and line" || bad "results file"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
by_line = {r["line"]: r for r in recs}
assert len(recs) == 16, len(recs)
ok = {r["id"] for r in recs if r["status"] == "ok"}
assert ok == {"ok-1", "line-2", "nested"}, ok
expect = {4: "not valid JSON", 5: "JSON object", 6: "multiple of 8", 7: "wrong type", 8: "unknown field 'colour'",
          9: "leaves the output folder", 10: "leaves the output folder", 11: "already used on line 1",
          12: "must be 1 to 128", 13: "unknown sampler", 14: "between 0 and 1", 15: "nope.png",
          16: "no-such-model.safetensors"}
for line, text in expect.items():
    r = by_line[line]
    assert r["status"] == "failed", r
    assert text in r["error"]["message"], (line, r["error"])
    assert r["error"]["exit_code"] in (2, 3, 4, 5), r
assert by_line[15]["error"]["code"] == "not-found" and by_line[16]["error"]["code"] == "not-found"
for r in recs:
    if r["status"] == "ok":
        assert set(r["timings"]) == {"load_s", "models_loaded", "lora_s", "encode_s", "denoise_s", "decode_s", "total_s"}
        assert len(r["outputs"]) == len(r["seeds"])
assert len(by_line[2]["outputs"]) == 4 and by_line[2]["seeds"][1] == by_line[2]["seeds"][0] + 1
PY
[ -f out1/ok-1-0-1.png ] && [ -f out1/birds/nested/0.png ] && [ "$(ls out1/line-2-*.png | wc -l)" = 4 ] &&
  pass "good jobs wrote their images (nested folders made)" || bad "outputs missing: $(find out1)"
[ ! -e escaped-0.png ] && [ ! -e /tmp/gen-escaped-0.png ] && pass "nothing written outside the output folder" || bad "escaped"
[ -z "$(find out1 -name '.*')" ] && pass "no temporary files left" || bad "temporary files: $(find out1 -name '.*')"

expect_exit 2 "exists from an earlier run: pass --resume" -- "$GEN" batch mixed.jsonl -m "$P" -O out1 -q
before=$(stat -c '%Y %i' out1/ok-1-0-1.png out1/line-2-3-*.png)
"$GEN" batch mixed.jsonl -m "$P" -O out1 -q --resume; rc=$?
after=$(stat -c '%Y %i' out1/ok-1-0-1.png out1/line-2-3-*.png)
[ "$rc" = 11 ] && [ "$before" = "$after" ] && [ "$(grep -c '"status":"ok"' "$R")" = 3 ] &&
  pass "--resume skips completed jobs (files untouched), retries the bad ones" || bad "resume rc=$rc"

# 2. SIGKILL at random moments, then --resume: nothing lost, nothing rendered twice ----
: > kill.jsonl
for i in $(seq 1 12); do
  echo "{\"id\": \"k$i\", \"prompt\": \"picture $i\", \"width\": 64, \"height\": 64, \"steps\": 2, \"seed\": $((i * 10)), \"batch_count\": 2}" >> kill.jsonl
done
"$GEN" batch kill.jsonl -m "$P" -O ref -q || bad "reference run"
renders=0
for delay in 1.3 2.1 0.7 2.9; do
  "$GEN" batch kill.jsonl -m "$P" -O killed --resume --progress json > "run-$delay.log" 2>&1 &
  pid=$!
  sleep "$delay"
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  renders=$((renders + $(grep -c '"event":"image"' "run-$delay.log")))
done
"$GEN" batch kill.jsonl -m "$P" -O killed --resume --progress json > run-final.log 2>&1 || bad "final resume failed"
renders=$((renders + $(grep -c '"event":"image"' run-final.log)))
[ "$renders" = 24 ] && pass "4 kills + resume: 24 images rendered exactly once ($renders)" || bad "rendered $renders images for 24"
same=1
for f in ref/*.png; do cmp -s "$f" "killed/$(basename "$f")" || same=0; done
[ "$same" = 1 ] && [ "$(ls killed/*.png | wc -l)" = 24 ] && pass "killed and resumed run = uninterrupted run, byte for byte" ||
  bad "killed run differs from the reference"
[ -z "$(find killed -name '.*')" ] && pass "temporary files of killed runs removed on resume" ||
  bad "temporary files left: $(find killed -name '.*')"
"$GEN_PYTHON" - killed/kill.results.jsonl <<'PY' && pass "each job recorded ok once" || bad "results after kills"
import json, sys
ids = []
for line in open(sys.argv[1]):
    try: r = json.loads(line)
    except ValueError: continue
    if r["status"] == "ok": ids.append(r["id"])
assert sorted(ids) == sorted(f"k{i}" for i in range(1, 13)), ids
PY

# 3. SIGTERM: stops at the next step, exit 10, resumable ------------------------------
cat > long.jsonl <<'JOBS'
{"id": "short", "prompt": "x", "width": 64, "height": 64, "steps": 1, "seed": 1}
{"id": "long", "prompt": "x", "width": 64, "height": 64, "steps": 400, "seed": 2}
JOBS
"$GEN" batch long.jsonl -m "$P" -O term --progress json > term.log 2>&1 &
pid=$!
for _ in $(seq 1 600); do grep -q '"id":"long".*"step":3,' term.log 2>/dev/null && break; sleep 0.05; done
kill -TERM "$pid"
wait "$pid"; rc=$?
[ "$rc" = 10 ] && pass "SIGTERM → exit 10 (cancelled)" || bad "SIGTERM exit $rc"
[ -z "$(find term -name '.*')" ] && [ ! -e term/long-0-2.png ] && pass "no partial output after SIGTERM" ||
  bad "files after SIGTERM: $(ls -a term)"
grep -q '"id":"short".*"status":"ok"' term/long.results.jsonl && ! grep -q '"id":"long"' term/long.results.jsonl &&
  pass "the interrupted job is not recorded" || bad "results after SIGTERM: $(cat term/long.results.jsonl)"
sed -i 's/"steps": 400/"steps": 4/' long.jsonl
"$GEN" batch long.jsonl -m "$P" -O term -q --resume && [ -f term/long-0-2.png ] &&
  [ "$(grep -c '"status":"ok"' term/long.results.jsonl)" = 2 ] && pass "resume after SIGTERM completes" ||
  bad "resume after SIGTERM"

# 4. Shards: 3 slices add up to the whole file, each image rendered once ----------------
for i in 0 1 2; do "$GEN" batch kill.jsonl -m "$P" -O shards --shard "$i/3" -q || bad "shard $i/3"; done
n=$(cat shards/kill.results.*-of-3.jsonl | grep -c '"status":"ok"')
same=1
for f in ref/*.png; do cmp -s "$f" "shards/$(basename "$f")" || same=0; done
[ "$n" = 12 ] && [ "$same" = 1 ] && [ "$(ls shards/*.png | wc -l)" = 24 ] &&
  pass "--shard 0/3, 1/3, 2/3 = the whole file, identical images" || bad "shards: $n jobs"
grep -q '"id":"k1"' shards/kill.results.0-of-3.jsonl && grep -q '"id":"k2"' shards/kill.results.1-of-3.jsonl &&
  pass "job k (0-based) goes to shard k mod N" || bad "shard assignment"
# 5. Out of memory fails that job only (address space capped so the allocation fails; the
# memory guard, which would refuse the job before it starts, is off: test_memory_guard.sh) ---
cat > oom.jsonl <<'JOBS'
{"id": "before", "prompt": "x", "width": 64, "height": 64, "steps": 1}
{"id": "huge", "prompt": "x", "width": 16384, "height": 16384, "batch_size": 64, "steps": 1}
{"id": "after", "prompt": "x", "width": 64, "height": 64, "steps": 1}
JOBS
(ulimit -v 8000000; "$GEN" batch oom.jsonl -m "$P" -O oom -q --device cpu --no-memory-guard); rc=$?
[ "$rc" = 11 ] && grep -q '"code":"out-of-memory".*denoising (batch 1): out of host memory.*try a smaller batch_size.*"id":"huge"' oom/oom.results.jsonl &&
  [ "$(grep -c '"status":"ok"' oom/oom.results.jsonl)" = 2 ] && pass "out of memory: that job fails (stage and advice named), the others run" ||
  bad "out-of-memory job: rc=$rc $(cat oom/oom.results.jsonl)"

# 6. Editing jobs: img2img, inpainting, outpainting and hires fix lines, and a bad one -------
"$GEN_PYTHON" -c 'import numpy as np; from PIL import Image
Image.fromarray((np.random.default_rng(1).random((64, 64, 3)) * 255).astype(np.uint8)).save("edit-init.png")
m = np.zeros((64, 64), np.uint8); m[16:48, 16:48] = 255; Image.fromarray(m).save("edit-mask.png")'
cat > edit.jsonl <<JOBS
{"id": "i2i", "prompt": "x", "steps": 4, "init_image": "$PWD/edit-init.png", "strength": 0.5, "width": 64, "height": 64}
{"id": "inpaint", "prompt": "x", "steps": 2, "init_image": "$PWD/edit-init.png", "mask": "$PWD/edit-mask.png", "width": 64, "height": 64, "overlay": true, "mask_blur": 4}
{"id": "outpaint", "prompt": "x", "steps": 2, "init_image": "$PWD/edit-init.png", "outpaint": "right:16"}
{"id": "hires", "prompt": "x", "steps": 2, "width": 32, "height": 32, "hires_scale": 2}
{"id": "no-step", "prompt": "x", "steps": 2, "init_image": "$PWD/edit-init.png", "strength": 0.2, "width": 64, "height": 64}
JOBS
"$GEN" batch edit.jsonl -m "$P" -O edit -q; rc=$?
[ "$rc" = 11 ] && [ "$(grep -c '"status":"ok"' edit/edit.results.jsonl)" = 4 ] &&
  grep -q '"code":"invalid-argument".*runs no step.*"id":"no-step"' edit/edit.results.jsonl &&
  pass "editing jobs run from a job file (the one leaving no step fails alone)" ||
  bad "editing jobs: rc=$rc $(cat edit/edit.results.jsonl)"

expect_exit 2 "--shard: '3/3': need 0 <= I < N" -- "$GEN" batch kill.jsonl -m "$P" -O s2 --shard 3/3
expect_exit 2 "--shard: 'x' is not I/N" -- "$GEN" batch kill.jsonl -m "$P" -O s2 --shard x
expect_exit 3 "no-such.jsonl: no such job file" -- "$GEN" batch no-such.jsonl -m "$P" -O s3
finish
