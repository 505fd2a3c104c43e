#!/usr/bin/env bash
# gen pose: `draw` renders a pose JSON exactly as controlnet-aux's draw_poses does (the committed
# reference drawing), `detect` runs on random-weight networks in the original .pth layouts, and
# every bad input ends in one message with its documented exit code and no output.
# Env: GEN, GEN_PYTHON, GEN_SRC, GEN_TMP; GEN_OPENPOSE_NETS: a folder from
# `tools/openpose_reference.py nets` to reuse (else the unit tests' one, else one is made, ~500 MB).
. "$(dirname "$0")/lib.sh"
D="$GEN_SRC/tests/data/openpose"
T="$GEN_TMP"

# The fixture poses as OpenPose JSON (normalised; points the detector did not find as 0, 0, 0).
"$GEN_PYTHON" - "$D/draw_poses.json" "$T/pose.json" "$T/pose_px.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
def flat(points, scale=(1, 1)):
    out = []
    for p in points:
        if p is None or p[0] < 0 or p[1] < 0:
            out += [0, 0, 0]
        else:
            out += [p[0] * scale[0], p[1] * scale[1], 1]
    return out
for path, scale in ((sys.argv[2], (1, 1)), (sys.argv[3], (96, 128))):
    people = [{"pose_keypoints_2d": flat(p["body"], scale), "hand_left_keypoints_2d": flat(p["left_hand"], scale),
               "hand_right_keypoints_2d": flat(p["right_hand"], scale), "face_keypoints_2d": flat(p["face"], scale)}
              for p in doc["poses"]]
    json.dump({"people": people, "canvas_width": 96, "canvas_height": 128}, open(path, "w"))
PY

# draw: the reference's pixels (canvas size from the JSON, and given with -W/-H)
expect_exit 0 "" -- "$GEN" pose draw "$T/pose.json" -o "$T/full.png"
pixels_equal "$T/full.png" "$D/draw_full.png" && pass "draw = draw_poses (full)" || bad "draw differs from draw_full.png"
expect_exit 0 "" -- "$GEN" pose draw "$T/pose.json" -o "$T/wide.png" -W 300 -H 200
pixels_equal "$T/wide.png" "$D/draw_wide.png" && pass "draw = draw_poses (300x200)" || bad "draw differs from draw_wide.png"
expect_exit 0 "" -- "$GEN" pose draw "$T/pose.json" -o "$T/body.png" --no-hand --no-face
pixels_equal "$T/body.png" "$D/draw_body.png" && pass "draw = draw_poses (body)" || bad "draw differs from draw_body.png"
expect_exit 0 "" -- "$GEN" pose draw "$T/pose_px.json" -o "$T/px.png"
pixels_equal "$T/px.png" "$D/draw_full.png" && pass "pixel coordinates draw the same" || bad "pixel JSON differs"

# draw: bad inputs, one message each, no output
expect_exit 2 "exists: pass --overwrite" -- "$GEN" pose draw "$T/pose.json" -o "$T/full.png"
expect_exit 0 "" -- "$GEN" pose draw "$T/pose.json" -o "$T/full.png" --overwrite
expect_exit 3 "nope.json" -- "$GEN" pose draw "$T/nope.json" -o "$T/x.png"
printf '{"people": [' > "$T/broken.json"
expect_exit 5 "broken.json: not valid JSON" -- "$GEN" pose draw "$T/broken.json" -o "$T/x.png"
"$GEN_PYTHON" -c 'import json,sys; d=json.load(open(sys.argv[1])); d["people"][0]["pose_keypoints_2d"][0]=-0.25; json.dump(d,open(sys.argv[2],"w"))' "$T/pose.json" "$T/out.json"
"$GEN_PYTHON" -c 'import json,sys; d=json.load(open(sys.argv[1])); d["people"][0]["pose_keypoints_2d"][0]=500; json.dump(d,open(sys.argv[2],"w"))' "$T/pose_px.json" "$T/out_px.json"
expect_exit 5 "out.json: .*outside the canvas" -- "$GEN" pose draw "$T/out.json" -o "$T/x.png"
expect_exit 5 "out_px.json: .*outside the canvas \(96 x 128 pixels\)" -- "$GEN" pose draw "$T/out_px.json" -o "$T/x.png"
"$GEN_PYTHON" -c 'import json,sys; d=json.load(open(sys.argv[1])); d["people"][0]["pose_keypoints_2d"]=d["people"][0]["pose_keypoints_2d"][:-3]; json.dump(d,open(sys.argv[2],"w"))' "$T/pose.json" "$T/short.json"
expect_exit 5 "short.json: .*18 points" -- "$GEN" pose draw "$T/short.json" -o "$T/x.png"
expect_exit 2 "--width" -- "$GEN" pose draw "$T/pose.json" -o "$T/x.png" -W 0
[ -e "$T/x.png" ] && bad "a refused draw left $T/x.png" || pass "no output from refused draws"

# detect: random-weight networks in the original layouts
# (the unit tests' copy in the build folder, build/tests/openpose_nets, is reused when complete)
N=${GEN_OPENPOSE_NETS:-$(dirname "$GEN")/../tests/openpose_nets}
if [ ! -e "$N/done" ] && [ -z "${GEN_OPENPOSE_NETS:-}" ]; then N=""; fi
if [ -z "$N" ] || [ ! -e "$N/facenet.pth" ]; then
  N="$T/nets"
  "$GEN_PYTHON" "$GEN_SRC/tools/openpose_reference.py" nets "$N" >"$T/nets.log" 2>&1 || { cat "$T/nets.log"; bad "nets"; finish; }
fi
"$GEN_PYTHON" -c 'from PIL import Image; import numpy as np; Image.fromarray(np.random.default_rng(3).integers(0,256,(90,70,3),dtype=np.uint8)).save("'"$T"'/photo.png")'
expect_exit 0 "" -- "$GEN" pose detect "$T/photo.png" -o "$T/map.png" --json "$T/det.json" --body "$N/body_pose_model.pth" --detect-resolution 64
"$GEN_PYTHON" - "$T/map.png" "$T/det.json" <<'PY' && pass "detect wrote a 64x64 map (short side 64) and OpenPose JSON" || bad "detect outputs"
import json, sys
from PIL import Image
im = Image.open(sys.argv[1]); d = json.load(open(sys.argv[2]))
assert im.size == (64, 64), im.size   # 70x90 → short side 64 → 64 x 82.3 → rounded to 64 x 64
assert d["canvas_width"] == 64 and d["canvas_height"] == 64 and isinstance(d["people"], list)
PY
expect_exit 0 "" -- "$GEN" pose draw "$T/det.json" -o "$T/redraw.png"
pixels_equal "$T/redraw.png" "$T/map.png" && pass "the JSON redraws the detected map" || bad "redraw differs"
expect_exit 0 "" -- "$GEN" pose detect "$T/photo.png" -o "$T/map_full.png" --body "$N/body_pose_model.pth" --hand "$N/hand_pose_model.safetensors" --face "$N/facenet.pth" --detect-resolution 64

# The same through the annotator framework (--preprocess openpose*, weights converted once into the
# annotator folder): the map gen pose detect draws, at the detect size.
mkdir -p "$T/ann"
for f in body_pose_model hand_pose_model facenet; do
  [ -f "$N/$f.pth" ] && "$GEN" convert "$N/$f.pth" "$T/ann/$f.safetensors" >/dev/null || bad "convert $f"
done
expect_exit 0 "" -- "$GEN" preprocess "$T/photo.png" --preprocess openpose --annotator-dir "$T/ann" --preprocess-resolution 64 -W 64 -H 64 -o "$T/pre.png"
pixels_equal "$T/pre.png" "$T/map.png" && pass "--preprocess openpose = gen pose detect" || bad "--preprocess openpose differs"
expect_exit 0 "" -- "$GEN" preprocess "$T/photo.png" --preprocess openpose_full --annotator-dir "$T/ann" --preprocess-resolution 64 -W 64 -H 64 -o "$T/pre_full.png"
pixels_equal "$T/pre_full.png" "$T/map_full.png" && pass "--preprocess openpose_full = gen pose detect --hand --face" || bad "openpose_full differs"
mkdir -p "$T/ann_body" && ln -sf "$T/ann/body_pose_model.safetensors" "$T/ann_body/"
expect_exit 3 "looks for hand_pose_model.safetensors" -- "$GEN" preprocess "$T/photo.png" --preprocess openpose_hand --annotator-dir "$T/ann_body" -W 64 -H 64 -o "$T/y.png"

# detect: bad inputs
expect_exit 7 "hand_pose_model.pth: a hand pose model \(hand_pose_model.pth\), not a body pose model" -- \
  "$GEN" pose detect "$T/photo.png" -o "$T/y.png" --body "$N/hand_pose_model.pth"
expect_exit 7 "body_pose_model.pth: a body pose model .*not a face model" -- \
  "$GEN" pose detect "$T/photo.png" -o "$T/y.png" --body "$N/body_pose_model.pth" --face "$N/body_pose_model.pth"
expect_exit 7 "nets.safetensors: not an OpenPose body pose model" -- \
  "$GEN" pose detect "$T/photo.png" -o "$T/y.png" --body "$N/nets.safetensors"
expect_exit 3 "missing.pth" -- "$GEN" pose detect "$T/photo.png" -o "$T/y.png" --body "$T/missing.pth"
expect_exit 2 "--hand: hand detection needs" -- "$GEN" pose detect "$T/photo.png" -o "$T/y.png" --body "$N/body_pose_model.pth" --preset openpose_hand
expect_exit 2 "unknown pose preset" -- "$GEN" pose detect "$T/photo.png" -o "$T/y.png" --body "$N/body_pose_model.pth" --preset openpose_feet
expect_exit 2 "exists: pass --overwrite" -- "$GEN" pose detect "$T/photo.png" -o "$T/map.png" --body "$N/body_pose_model.pth"
expect_exit 3 "nophoto.png" -- "$GEN" pose detect "$T/nophoto.png" -o "$T/y.png" --body "$N/body_pose_model.pth"
[ -e "$T/y.png" ] && bad "a refused detect left $T/y.png" || pass "no output from refused detects"
finish
