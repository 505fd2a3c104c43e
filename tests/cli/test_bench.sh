#!/usr/bin/env bash
# `gen bench`: a workload on a tiny model, the JSON report's fields and their consistency
# (not the times themselves: performance is measured by hand, docs/performance.md).
source "$(dirname "$0")/lib.sh"
: "${GEN_SRC:?}" "${GEN_PYTHON:?GEN_PYTHON must point to the project venv python}"
make_tiny_models
C=$M/tiny-control-sd15-full.safetensors
cd "$GEN_TMP"
"$GEN" bench -w w-cpu -m "$P" --control "$C" --warmup 1 --repeats 2 --json > bench.json 2> bench.err ||
  bad "gen bench failed: $(cat bench.err)"
"$GEN_PYTHON" - bench.json <<'PY' && pass "bench --json: stages, steps, images/s, FLOPs, memory" || bad "bench report: $(cat bench.json)"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["schema"] == "gen.bench/1" and j["workload"] == "w-cpu" and j["repeats"] == 2
s = j["seconds"]
for k in ("end_to_end", "text_encoding", "denoise", "step", "unet_per_step", "controlnet_per_step", "vae_decode"):
    assert s[k]["min"] <= s[k]["median"] <= s[k]["max"], k
    assert s[k]["median"] > 0, k
assert s["denoise"]["median"] < s["end_to_end"]["max"] * 1.001
assert j["images_per_second"] > 0
t = j["tflop"]
assert t["denoise"] > 0 and t["vae_decode"] > 0 and t["text_encoding"] > 0
assert abs(t["per_step"] * 4 - t["denoise"]) <= 1e-9 * t["denoise"]  # 4 steps, each the same work
assert j["peak_gpu_gib"] is None and j["peak_gpu_reserved_gib"] is None and j["peak_rss_gib"] > 0
g = j["cuda_graphs"]  # the CPU runs eagerly, and says why
assert g == {"on": False, "captures": 0, "replays": 0, "off_because": "not on CUDA"}, g
assert j["request"]["width"] == 256 and j["request"]["steps"] == 4 and len(j["request"]["controls"]) == 1
assert j["vae_decode"] == "untiled", j["vae_decode"]
PY
# --vae-tiling reaches the request, and the report says which method decoded.
printf '{"prompt": "a house", "width": 576, "height": 520, "steps": 1}' > tiles.json
for t in exact blended off; do
  "$GEN" bench --request tiles.json -m "$P" --warmup 0 --repeats 1 --vae-tiling "$t" --json > tiles-$t.json 2> bench.err &&
    "$GEN_PYTHON" -c 'import json, sys; j = json.load(open(sys.argv[1])); assert j["vae_decode"] == sys.argv[2], j["vae_decode"]; assert j["request"]["vae_tiling"] == sys.argv[3]' \
      tiles-$t.json "$([ $t = off ] && echo untiled || echo $t)" "$t" && pass "bench --vae-tiling $t" ||
    bad "bench --vae-tiling $t: $(cat bench.err tiles-$t.json)"
done
"$GEN" bench -w w-cpu -m "$P" --control "$C" --warmup 0 --repeats 1 > bench.txt 2>/dev/null &&
  grep -q "per model call" bench.txt && grep -q "TFLOP/s" bench.txt &&
  grep -q "CUDA graphs: off (not on CUDA)" bench.txt && pass "bench prints a table" || bad "bench table"
for w in i2i-cpu inpaint-cpu; do  # the editing workloads: steps as the strength says, one encode
  "$GEN" bench -w $w -m "$P" --control "$C" --warmup 0 --repeats 1 --json > $w.json 2> bench.err &&
    "$GEN_PYTHON" -c 'import json, sys; j = json.load(open(sys.argv[1])); r = j["runs"][0] if "runs" in j else j
t = j["tflop"]  # 4 model calls ran, and the init image was encoded once (its FLOPs counted apart)
sys.exit(0 if j["workload"] == sys.argv[2] and round(t["denoise"] / t["per_step"]) == 4 and t["vae_encode"] > 0
         and j["seconds"]["vae_encode"]["median"] > 0 else 1)' $w.json $w &&
    pass "bench -w $w" || bad "bench -w $w: $(cat bench.err $w.json)"
done
# -w annotators: each annotator timed with its weights loaded once (the model-free ones here;
# tools/bench_annotators.py times the networks beside controlnet-aux, docs/performance.md).
"$GEN" bench -w annotators --preprocess lineart_standard --preprocess color --warmup 1 --repeats 2 --threads 1 \
  --json > ann.json 2> bench.err &&
  "$GEN_PYTHON" -c 'import json, sys; j = json.load(open(sys.argv[1])); a = j["annotators"]
assert j["schema"] == "gen.bench/1" and j["workload"] == "annotators" and j["repeats"] == 2 and j["threads"] == 1
assert [r["preprocess"] for r in a] == ["lineart_standard", "color"], a
assert all(0 < r["min_s"] <= r["median_s"] <= r["max_s"] and r["load_s"] > 0 for r in a), a' ann.json &&
  pass "bench -w annotators" || bad "bench -w annotators: $(cat bench.err ann.json)"
expect_exit 3 "ControlNetHED.safetensors" -- "$GEN" bench -w annotators --preprocess hed --annotator-dir "$GEN_TMP"
expect_exit 2 "--workload: 'w9'" -- "$GEN" bench -w w9 -m "$P" --control "$C"
expect_exit 2 "--control: workload w1 needs a ControlNet" -- "$GEN" bench -w w1 -m "$P"
finish
