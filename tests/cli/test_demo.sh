#!/usr/bin/env bash
# The demo model gen trained itself (models/demo, docs/training.md#the-demo-model) draws what it
# is asked, measured (tools/demo_eval.py): the README's first command, run as the README writes
# it, gives the caption's colours inside the outline; on 16 samples the model never trained on,
# the ControlNet follows the outlines (IoU) and the captions' colours, and without the ControlNet
# the shapes do not land on the outlines. The bars are the committed weights' measured scores
# less a margin (docs/training.md); a model that draws noise or ignores its control fails them.
source "$GEN_SRC/tests/cli/lib.sh"
T=$GEN_TMP
cd "$GEN_SRC"

# 1. The README's first command, taken from README.md itself.
cmd=$(grep -m1 -o 'gen -m models/demo/model [^`]*' README.md) || true
[ -n "$cmd" ] || { bad "README.md has no 'gen -m models/demo/model' command"; finish; }
args=$(echo "${cmd#gen }" | sed 's/ -o [^ ]*//')
eval "\"$GEN\" $args -o \"$T/readme.png\"" > "$T/readme.log" 2>&1 || bad "README command failed: $(tail -3 "$T/readme.log")"
[ -f "$T/readme.png" ] && pass "README's first command drew an image" || bad "README's first command wrote nothing"
# Its picture: red inside the outline's shape, blue around it (models/demo/example/mask.png is
# the filled outline), scored as tools/demo_eval.py scores every sample.
"$GEN_PYTHON" - "$T/readme.png" > "$T/example.log" 2>&1 <<'PY' && pass "the README's picture: $(cat "$T/example.log")" || bad "the README's picture: $(cat "$T/example.log")"
import sys
sys.path.insert(0, "tools")
from demo_eval import score
iou, colour_right = score(sys.argv[1], "models/demo/example/mask.png", "red", "blue")
print(f"iou {iou:.3f}, red inside: {colour_right}")
sys.exit(0 if iou >= 0.65 and colour_right else 1)
PY

# 2. Samples the model never saw (seed 1; training used seed 0).
"$GEN" train shapes "$T/eval" --count 16 --size 64 --seed 1 > /dev/null || bad "gen train shapes"
"$GEN_PYTHON" tools/demo_eval.py --gen "$GEN" --model models/demo/model --controlnet models/demo/controlnet \
  --data "$T/eval" --min-iou 0.45 --min-colour 0.7 > "$T/eval.log" 2>&1 \
  && pass "with the ControlNet: $(tail -1 "$T/eval.log")" || bad "with the ControlNet: $(cat "$T/eval.log")"
"$GEN_PYTHON" tools/demo_eval.py --gen "$GEN" --model models/demo/model --data "$T/eval" > "$T/plain.log" 2>&1 \
  || bad "without the ControlNet: $(cat "$T/plain.log")"
iou_cn=$(grep -o 'iou [0-9.]*' "$T/eval.log" | tail -1 | cut -d' ' -f2)
iou_plain=$(grep -o 'iou [0-9.]*' "$T/plain.log" | tail -1 | cut -d' ' -f2)
awk -v a="$iou_cn" -v b="$iou_plain" 'BEGIN { exit !(a > b + 0.2) }' \
  && pass "the ControlNet is what follows the outline: IoU $iou_cn with it, $iou_plain without" \
  || bad "IoU with the ControlNet $iou_cn is not clearly above $iou_plain without"
finish
