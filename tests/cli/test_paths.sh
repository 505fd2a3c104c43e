#!/usr/bin/env bash
# Relative paths in stored requests (issue 13 item 5): a PNG's "gen" metadata holds paths
# relative to the PNG's folder and `gen --from` reads them so, from any current folder; a job
# file's paths are relative to the job file. `--from` takes single-field overrides of its
# ControlNet groups (the n-th use of an option changes the n-th group).
. "$(dirname "$0")/lib.sh"
make_tiny_models
W=$GEN_TMP/project
mkdir -p "$W/renders" "$W/inputs" "$GEN_TMP/elsewhere" "$GEN_TMP/jobs/out"
"$GEN_PYTHON" - "$W/inputs/edges.png" <<'PY' || { bad "making the control image failed"; finish; }
import sys, numpy as np
from PIL import Image
a = np.zeros((64, 64, 3), np.uint8); a[16:48, 16:48] = 255; a[24:40, 24:40] = 0
Image.fromarray(a).save(sys.argv[1])
PY
ln -sfn "$M" "$W/models"
meta() { "$GEN_PYTHON" -c 'import json, sys; from PIL import Image
r = json.loads(Image.open(sys.argv[1]).text["gen"]); print(eval(sys.argv[2]))' "$@"; }

# Written from $W with paths relative to $W: stored relative to renders/.
(cd "$W" && "$GEN" -p "a square" -m models/diffusers/tiny-sd15-pipeline --control models/diffusers/tiny-controlnet \
   --control-image inputs/edges.png -W 64 -H 64 --steps 2 --seed 8 -q -o renders/a.png) ||
  { bad "generating from relative paths failed"; finish; }
got=$(meta "$W/renders/a.png" '(r["model"], r["controls"][0]["model"], r["controls"][0]["image"])')
want="('../models/diffusers/tiny-sd15-pipeline', '../models/diffusers/tiny-controlnet', '../inputs/edges.png')"
[ "$got" = "$want" ] && pass "stored paths are relative to the image's folder" || bad "stored paths: $got, wanted $want"

# --from from another folder: the paths resolve against the image's folder.
(cd "$GEN_TMP/elsewhere" && "$GEN" --from ../project/renders/a.png -q -o b.png) &&
  pixels_equal "$GEN_TMP/elsewhere/b.png" "$W/renders/a.png" && pass "--from from another folder redraws the image" ||
  bad "--from from another folder failed or drew another image"
# ... and its own metadata is relative to its own folder.
got=$(meta "$GEN_TMP/elsewhere/b.png" 'r["controls"][0]["image"]')
[ "$got" = "../project/inputs/edges.png" ] && pass "the redraw stores paths relative to its folder" || bad "redraw stored $got"

# Single-field overrides of the stored group.
(cd "$GEN_TMP/elsewhere" && "$GEN" --from ../project/renders/a.png --control-scale 0.5 -q -o c.png) ||
  bad "--from with --control-scale failed"
got=$(meta "$GEN_TMP/elsewhere/c.png" '(r["controls"][0]["scale"], r["controls"][0]["image"])')
[ "$got" = "(0.5, '../project/inputs/edges.png')" ] && pass "--control-scale changes the stored group, the rest stays" ||
  bad "after --control-scale the group is $got"
pixels_equal "$GEN_TMP/elsewhere/c.png" "$W/renders/a.png" && bad "--control-scale 0.5 changed nothing" ||
  pass "the override changes the image"
expect_exit 2 "--control-scale: given 2 times, but the request has 1 ControlNet group" -- \
  "$GEN" --from "$W/renders/a.png" --control-scale 0.5 --control-scale 0.7 -o "$GEN_TMP/elsewhere/d.png"
# Without stored groups the old rule stands.
"$GEN" -p "plain" -m "$P" -W 64 -H 64 --steps 1 --seed 1 -q -o "$GEN_TMP/plain.png"
expect_exit 2 "comes before any --control" -- "$GEN" --from "$GEN_TMP/plain.png" --control-scale 0.5 -o "$GEN_TMP/x.png"

# A job file's relative paths are relative to the job file, whatever the current folder.
cat >"$GEN_TMP/jobs/j.jsonl" <<'EOF'
{"id": "sq", "output": "sq.png", "prompt": "a square", "model": "../project/models/diffusers/tiny-sd15-pipeline", "width": 64, "height": 64, "steps": 2, "seed": 8, "controls": [{"model": "../project/models/diffusers/tiny-controlnet", "image": "../project/inputs/edges.png"}]}
EOF
(cd "$GEN_TMP/elsewhere" && "$GEN" batch ../jobs/j.jsonl -O ../jobs/out -q) && [ -f "$GEN_TMP/jobs/out/sq.png" ] &&
  pixels_equal "$GEN_TMP/jobs/out/sq.png" "$W/renders/a.png" && pass "a job file's paths are relative to it" ||
  bad "the job with paths relative to its file failed or differs: $(ls "$GEN_TMP/jobs/out")"
got=$(meta "$GEN_TMP/jobs/out/sq.png" 'r["controls"][0]["image"]')
[ "$got" = "../../project/inputs/edges.png" ] && pass "a job's image stores paths relative to its folder" || bad "job image stored $got"
# --resume after a kill (no results line) finds the image on disk: its metadata, compared with
# the same rewrite, says it is this job's.
rm -f "$GEN_TMP/jobs/out/j.results.jsonl"
(cd "$GEN_TMP/elsewhere" && "$GEN" batch ../jobs/j.jsonl -O ../jobs/out --resume 2>&1) | grep -q "(1 already there)" &&
  pass "--resume recognises the written image" || bad "--resume did not recognise the written image"
finish
