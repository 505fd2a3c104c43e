#!/usr/bin/env bash
# --progress json against docs/cli.md's table of progress events (every event of gen and
# gen batch, every field, its type; nothing undocumented), steps counted as sampling steps
# (Heun: 3 steps show 1..3 of 3, not the 5 model calls), the total ETA and `done` over batches
# and passes (hires fix), and the loading events.
source "$(dirname "$0")/lib.sh"
: "${GEN_SRC:?}" "${GEN_PYTHON:?GEN_PYTHON must point to the project venv python}"
make_tiny_models
cd "$GEN_TMP"
mkdir -p out

# 1. gen: Heun, 3 steps, 2 batches -------------------------------------------------
"$GEN" -p x -m "$P" -W 64 -H 64 --steps 3 --sampler heun --batch-count 2 --seed 1 -t 1 \
  -o "out/h-{index}.png" --progress json >heun.jsonl 2>heun.err &&
  pass "gen --progress json (heun, 2 batches)" || bad "gen --progress json: $(cat heun.err)"
[ ! -s heun.err ] && pass "json mode: nothing on stderr" || bad "json mode wrote to stderr: $(cat heun.err)"
# 2. hires fix: two passes per batch ----------------------------------------------
"$GEN" -p x -m "$P" -W 64 -H 64 --steps 2 --hires-scale 2 --hires-steps 3 --seed 1 -t 1 -o out/hr.png \
  --progress json >hires.jsonl 2>hires.err && pass "gen --progress json (hires fix)" || bad "hires: $(cat hires.err)"
# 3. gen batch: two jobs and an unreadable line ------------------------------------
cat > jobs.jsonl <<'JOBS'
{"id": "a", "prompt": "a cat", "width": 64, "height": 64, "steps": 2, "seed": 1, "batch_count": 2}
not json
{"id": "b", "prompt": "a dog", "width": 64, "height": 64, "steps": 3, "sampler": "heun", "seed": 2}
JOBS
"$GEN" batch jobs.jsonl -m "$P" -O bout -t 1 --progress json >batch.jsonl 2>batch.err; rc=$?
[ "$rc" = 11 ] && pass "gen batch --progress json (one bad line: exit 11)" || bad "gen batch exit $rc: $(cat batch.err)"

"$GEN_PYTHON" - "$GEN_SRC/docs/cli.md" heun.jsonl hires.jsonl batch.jsonl <<'PY' && pass "every line matches docs/cli.md's table" || bad "progress events differ from docs/cli.md"
import json, re, sys
doc, files = sys.argv[1], sys.argv[2:]
text = open(doc).read()
section = text[text.index("### Progress events"):]
section = section[:section.index("\n#", 1)]
schema = {}
for line in section.splitlines():
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if len(cells) != 5 or cells[0] in ("command", "---"):
        continue
    command, event, field, typ, _ = cells
    schema.setdefault((command, event), {})[field] = typ
assert len(schema) >= 8, schema

def type_ok(v, typ):
    if typ.endswith(" or null"):
        return v is None or type_ok(v, typ[: -len(" or null")])
    return {"string": lambda: isinstance(v, str),
            "integer": lambda: isinstance(v, int) and not isinstance(v, bool),
            "number": lambda: isinstance(v, (int, float)) and not isinstance(v, bool),
            "boolean": lambda: isinstance(v, bool),
            "array of strings": lambda: isinstance(v, list) and all(isinstance(x, str) for x in v)}[typ]()

errors, seen = [], set()
for f in files:
    command = "gen batch" if f.startswith("batch") else "gen"
    for n, line in enumerate(open(f), 1):
        e = json.loads(line)
        key = (command, e.pop("event", None))
        if key not in schema:
            errors.append(f"{f}:{n}: event {key} is not in docs/cli.md")
            continue
        seen.add(key)
        want = schema[key]
        if set(e) != set(want):
            errors.append(f"{f}:{n}: {key} fields {sorted(e)} != documented {sorted(want)}")
        for k, v in e.items():
            if k in want and not type_ok(v, want[k]):
                errors.append(f"{f}:{n}: {key}.{k} = {v!r} is not {want[k]}")
missing = set(schema) - seen
if missing:
    errors.append(f"documented events never seen: {sorted(missing)}")
if errors:
    print("\n".join(errors))
sys.exit(1 if errors else 0)
PY

"$GEN_PYTHON" - heun.jsonl <<'PY' && pass "Heun: steps counted as steps (1..3 of 3 per batch), done and ETA over both batches" || bad "heun progress"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
steps = [e for e in ev if e["event"] == "step"]
assert [(e["batch"], e["step"], e["steps"]) for e in steps] == [(b, s, 3) for b in (1, 2) for s in (1, 2, 3)], steps
assert all(e["batches"] == 2 and e["pass"] == 1 and e["passes"] == 1 for e in steps)
done = [e["done"] for e in steps]
assert all(abs(d - (i + 1) / 6) < 1e-9 for i, d in enumerate(done)), done
assert steps[-1]["eta_s"] is not None and steps[-1]["eta_s"] < 1e-6, steps[-1]
assert all(e["eta_s"] is None or e["eta_s"] >= 0 for e in steps)
el = [e["elapsed_s"] for e in steps]
assert el == sorted(el), el
loads = [e for e in ev if e["event"] == "load"]
assert {e["what"] for e in loads} >= {"UNet", "VAE", "text encoder"}, loads
assert [e["index"] for e in loads] == list(range(1, len(loads) + 1)), loads
assert ev.index(loads[-1]) < ev.index(steps[0]), "loading comes before the steps"
assert [e["index"] for e in ev if e["event"] == "image"] == [0, 1]
PY

"$GEN_PYTHON" - hires.jsonl <<'PY' && pass "hires fix: pass 1/2 then 2/2 with its own steps, done rising to 1" || bad "hires progress"
import json, sys
steps = [json.loads(l) for l in open(sys.argv[1])]
steps = [e for e in steps if e["event"] == "step"]
assert [(e["pass"], e["passes"], e["step"], e["steps"]) for e in steps] == [(1, 2, 1, 2), (1, 2, 2, 2), (2, 2, 1, 3), (2, 2, 2, 3), (2, 2, 3, 3)], steps
done = [e["done"] for e in steps]
assert done == sorted(done) and abs(done[-1] - 1) < 1e-9 and abs(done[1] - 0.5) < 1e-9, done
PY

"$GEN_PYTHON" - batch.jsonl <<'PY' && pass "gen batch: done over the jobs it renders, steps as steps, job events" || bad "batch progress"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
steps = [e for e in ev if e["event"] == "step"]
assert [(e["id"], e["batch"], e["step"], e["steps"]) for e in steps] == \
    [("a", 1, 1, 2), ("a", 1, 2, 2), ("a", 2, 1, 2), ("a", 2, 2, 2), ("b", 1, 1, 3), ("b", 1, 2, 3), ("b", 1, 3, 3)], steps
done = [e["done"] for e in steps]
assert done == sorted(done) and abs(done[-1] - 1) < 1e-9 and abs(done[3] - 0.5) < 1e-9, done
jobs = [e for e in ev if e["event"] == "job"]
assert [(j["status"], len(j["outputs"]), j["error"] is None) for j in jobs] == [("ok", 2, True), ("failed", 0, False), ("ok", 1, True)], jobs
assert ev[-1]["event"] == "done" and ev[-1]["ok"] == 2 and ev[-1]["failed"] == 1 and ev[-1]["cancelled"] is False
PY

# 4. Bar mode: the bar shows the total ETA and elapsed time, a line per model part loaded.
"$GEN" -p x -m "$P" -W 64 -H 64 --steps 2 --batch-count 2 --seed 1 -t 1 -o "out/bar-{index}.png" \
  --progress bar 2>bar.err >/dev/null && pass "--progress bar" || bad "--progress bar: $(cat bar.err)"
grep -q "^gen: loading UNet from " bar.err && grep -q "^gen: loading VAE from " bar.err &&
  pass "bar mode: a line per model part loaded" || bad "no loading lines: $(cat bar.err)"
tr '\r' '\n' <bar.err | grep -E "^(.\[K)?batch 2/2 \[#+\] 2/2 .* elapsed [0-9]+:[0-9]{2}  ETA 0:00" >/dev/null &&
  pass "bar: batch 2/2, elapsed, total ETA" || bad "bar line: $(tr '\r' '\n' <bar.err | cat -v)"
finish
