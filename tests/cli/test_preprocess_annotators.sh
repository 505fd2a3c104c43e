#!/usr/bin/env bash
# gen preprocess with annotators (docs/preprocessors.md): weights converted with gen convert from
# random-weight .pth files in the original layouts (tools/controlnet_aux_reference.py), found by
# name through $GEN_ANNOTATOR_DIR and --annotator-dir, maps compared with controlnet-aux 0.0.10;
# the bad inputs: one message each, the documented exit code, no output left.
set -u
: "${GEN:?} ${GEN_PYTHON:?} ${GEN_SRC:?} ${GEN_TMP:?}"
T=$GEN_TMP/preprocess-annotators; rm -rf "$T"; mkdir -p "$T/w" "$T/o"
fail=0
check() { if [ "$1" != "$2" ]; then echo "FAIL: $3 (exit $1, expected $2)"; fail=1; else echo "ok: $3"; fi; }
"$GEN_PYTHON" "$GEN_SRC/tools/controlnet_aux_reference.py" --out "$T/ref" || { echo "FAIL: reference"; exit 1; }
for w in ControlNetHED table5_pidinet sk_model sk_model2 netG mlsd_large_512_fp32; do
  "$GEN" convert "$T/ref/$w.pth" "$T/w/$w.safetensors" > /dev/null; check $? 0 "gen convert $w.pth"
done
P=$GEN_SRC/tests/data/control/source.png
same() {  # same map as the reference within 1 level (maps at 128x128 need no resize)
  "$GEN_PYTHON" -c "import sys, numpy as np; from PIL import Image
a = np.asarray(Image.open(sys.argv[1]).convert('RGB'), int); b = np.asarray(Image.open(sys.argv[2]).convert('RGB'), int)
sys.exit(0 if a.shape == b.shape and np.abs(a - b).max() <= 1 else 1)" "$1" "$2"
}
for c in "hed:safe hed_safe_128" "pidinet:scribble pidinet_scribble_128" "lineart lineart_128" "shuffle:seed=1234 shuffle_seed1234_128"; do
  set -- $c
  GEN_ANNOTATOR_DIR=$T/w "$GEN" preprocess "$P" --preprocess "$1" --preprocess-resolution 128 -W 128 -H 128 -o "$T/o/$2.png" > /dev/null
  check $? 0 "preprocess $1 (\$GEN_ANNOTATOR_DIR)"
  same "$T/o/$2.png" "$T/ref/$2.png"; check $? 0 "$1 equals controlnet-aux"
done
# lineart_anime within 1 level; mlsd's lines: at most 0.5% of the values differ (a line on a
# threshold may come or go, as in the unit test; its decoding alone is tested exactly there).
close() {
  "$GEN_PYTHON" -c "import sys, numpy as np; from PIL import Image
a = np.asarray(Image.open(sys.argv[1]).convert('RGB'), int); b = np.asarray(Image.open(sys.argv[2]).convert('RGB'), int)
sys.exit(0 if a.shape == b.shape and (np.abs(a - b) > 1).sum() <= a.size // 200 else 1)" "$1" "$2"
}
GEN_ANNOTATOR_DIR=$T/w "$GEN" preprocess "$P" --preprocess lineart_anime --preprocess-resolution 128 -W 128 -H 128 -o "$T/o/la.png" > /dev/null
check $? 0 "preprocess lineart_anime"
same "$T/o/la.png" "$T/ref/lineart_anime_128.png"; check $? 0 "lineart_anime equals controlnet-aux"
for c in "mlsd mlsd_128" "mlsd:score=0.3:distance=4 mlsd_s30_d4_128"; do
  set -- $c
  "$GEN" preprocess "$P" --preprocess "$1" --annotator-dir "$T/w" --preprocess-resolution 128 -W 128 -H 128 -o "$T/o/$2.png" > /dev/null
  check $? 0 "preprocess $1"
  close "$T/o/$2.png" "$T/ref/$2.png"; check $? 0 "$1 equals controlnet-aux"
done
"$GEN" preprocess "$P" --preprocess lineart_coarse --annotator-dir "$T/w" --preprocess-resolution 128 -W 64 -H 64 -o "$T/o/lc.png" > /dev/null
check $? 0 "preprocess lineart_coarse --annotator-dir, resized to 64x64"
# Depth Anything V2 through the framework (the network and map are compared with transformers in
# DepthAnything.*): a grey map at the detect size, brought to -W/-H.
DA=$GEN_SRC/tests/data/depth_anything/depth_anything_v2_tiny.safetensors
"$GEN" preprocess "$P" --preprocess "depth_anything:input=70:file=$DA" --preprocess-resolution 128 -W 96 -H 80 -o "$T/o/depth.png" > /dev/null
check $? 0 "preprocess depth_anything (file=), 96x80"
"$GEN_PYTHON" -c "import sys, numpy as np; from PIL import Image
a = np.asarray(Image.open(sys.argv[1]).convert('RGB'), int)
sys.exit(0 if a.shape == (80, 96, 3) and (a[..., 0] == a[..., 1]).all() and (a[..., 1] == a[..., 2]).all() and a.max() - a.min() > 150 else 1)" "$T/o/depth.png"
check $? 0 "depth map: grey, 96x80, spans the range"
bad() {  # bad CODE PATTERN DESCRIPTION -- ARGS...
  local want=$1 pat=$2 what=$3; shift 4
  rm -f "$T/o/bad.png"
  "$@" -o "$T/o/bad.png" 2> "$T/err" > /dev/null; local rc=$?
  check $rc "$want" "$what"
  grep -q -- "$pat" "$T/err" || { echo "FAIL: $what: message '$(cat "$T/err")' lacks '$pat'"; fail=1; }
  [ "$(wc -l < "$T/err")" = 1 ] || { echo "FAIL: $what: not one line"; fail=1; }
  [ ! -e "$T/o/bad.png" ] || { echo "FAIL: $what: output left"; fail=1; }
}
python_img() { "$GEN_PYTHON" -c "from PIL import Image; Image.new('RGB', ($2, $3), (9, 99, 199)).save('$1')"; }
python_img "$T/one.png" 1 1; python_img "$T/small.png" 40 30
bad 7 "line-art annotator file" "the wrong annotator's file" -- "$GEN" preprocess "$P" --preprocess "hed:file=$T/w/sk_model.safetensors"
bad 3 "looks for ControlNetHED.safetensors in the annotator folder $GEN_SRC/tests/data" "a missing annotator file" -- \
  "$GEN" preprocess "$P" --preprocess hed --annotator-dir "$GEN_SRC/tests/data"
bad 3 "GEN_ANNOTATOR_DIR" "no annotator folder" -- env -u GEN_ANNOTATOR_DIR "$GEN" preprocess "$P" --preprocess pidinet
bad 6 "gen convert" "an unconverted .pth" -- "$GEN" preprocess "$P" --preprocess "lineart:file=$T/ref/sk_model.pth"
bad 2 "too small for the preprocess resolution 512" "a photo too small" -- \
  "$GEN" preprocess "$T/small.png" --preprocess color
bad 2 "is 1x1" "a 1x1 image" -- "$GEN" preprocess "$T/one.png" --preprocess lineart_standard
bad 2 "not an option of hed" "an unknown option" -- "$GEN" preprocess "$P" --preprocess hed:fast --annotator-dir "$T/w"
bad 7 "Depth Anything V2 file" "a depth file given to hed" -- "$GEN" preprocess "$P" --preprocess "hed:file=$DA"
bad 7 "not a Depth Anything V2 file" "a line-art file given to depth_anything" -- \
  "$GEN" preprocess "$P" --preprocess "depth_anything:file=$T/w/sk_model.safetensors"
bad 7 "is a line-art annotator file" "a line-art file given to mlsd" -- \
  "$GEN" preprocess "$P" --preprocess "mlsd:file=$T/w/sk_model.safetensors"
bad 7 "is an M-LSD line-segment annotator file" "an M-LSD file given to lineart_anime" -- \
  "$GEN" preprocess "$P" --preprocess "lineart_anime:file=$T/w/mlsd_large_512_fp32.safetensors"
bad 2 "score must be in" "an mlsd score out of range" -- "$GEN" preprocess "$P" --preprocess mlsd:score=2 --annotator-dir "$T/w"
bad 2 "between 64 and 4096" "a bad resolution" -- "$GEN" preprocess "$P" --preprocess color --preprocess-resolution 10
exit $fail
