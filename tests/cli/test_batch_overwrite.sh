#!/usr/bin/env bash
# `gen batch` never writes over a file it did not write (issue 13 item 3), as plain gen: an
# output whose name is taken goes to the next free name (a-1.png, ...), claimed atomically,
# said on stderr and recorded in the results; the job's own image from an earlier run is
# replaced where it is (no duplicates on a re-run or --resume); --overwrite replaces.
source "$(dirname "$0")/lib.sh"
make_tiny_models
cd "$GEN_TMP"
cat > jobs.jsonl <<'JOBS'
{"id": "a", "prompt": "a house", "seed": 1, "steps": 1, "width": 64, "height": 64, "output": "a.png"}
{"id": "b", "prompt": "a tree", "seed": 2, "steps": 1, "width": 64, "height": 64, "output": "sub/b.png"}
JOBS
mkdir -p out/sub
"$GEN_PYTHON" -c 'from PIL import Image; Image.new("RGB", (8, 8), (1, 2, 3)).save("foreign.png")'
cp foreign.png out/a.png
run() { "$GEN" batch jobs.jsonl -m "$P" -O out --progress none "$@" 2>err.txt; }
results=out/jobs.results.jsonl

run; rc=$?
[ "$rc" = 0 ] && cmp -s foreign.png out/a.png && [ -f out/a-1.png ] && [ -f out/sub/b.png ] &&
  grep -q "out/a.png exists; job a wrote out/a-1.png" err.txt &&
  grep -q '"id":"a".*"outputs":\["out/a-1.png"\]' "$results" &&
  pass "a taken name is kept: the job's image goes to a-1.png, said and recorded" ||
  bad "taken name: exit $rc, $(cat err.txt), $(cat "$results")"
"$GEN" info --json out/a-1.png | grep -q '"prompt": "a house"' && pass "… a-1.png is job a's image" || bad "a-1.png's metadata"
cp out/a-1.png first-a.png

# Run again from scratch (no results file): the jobs' own images are replaced where they are.
rm "$results"
run; rc=$?
[ "$rc" = 0 ] && cmp -s foreign.png out/a.png && [ ! -e out/a-2.png ] && [ ! -e out/sub/b-1.png ] &&
  pixels_equal first-a.png out/a-1.png && grep -q '"id":"a".*"outputs":\["out/a-1.png"\]' "$results" &&
  pass "a re-run replaces the job's own images in place (no a-2.png, no b-1.png)" ||
  bad "re-run: exit $rc, $(ls out out/sub), $(cat "$results")"

# --resume finds the image at its numbered name and does not render it again.
rm "$results"
run --resume; rc=$?
[ "$rc" = 0 ] && grep -q '"id":"a".*"outputs":\["out/a-1.png"\].*"reused":1' "$results" && [ ! -e out/a-2.png ] &&
  pass "--resume finds a job's image at its numbered name (reused)" || bad "resume: exit $rc, $(cat "$results")"

# Another program's file at the next name is not replaced either.
rm "$results" out/a-1.png && cp foreign.png out/a-1.png
run; rc=$?
[ "$rc" = 0 ] && cmp -s foreign.png out/a-1.png && [ -f out/a-2.png ] && pixels_equal first-a.png out/a-2.png &&
  pass "… nor a foreign a-1.png: a-2.png" || bad "foreign a-1.png: exit $rc, $(ls out)"

# --overwrite replaces what is there.
rm "$results"
run --overwrite; rc=$?
[ "$rc" = 0 ] && pixels_equal first-a.png out/a.png && grep -q '"id":"a".*"outputs":\["out/a.png"\]' "$results" &&
  pass "--overwrite replaces the existing a.png" || bad "--overwrite: exit $rc, $(cat err.txt)"
finish
