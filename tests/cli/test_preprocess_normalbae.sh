#!/usr/bin/env bash
# gen preprocess with NormalBAE (normal_bae, also sd-webui-controlnet's name): the random network
# of tools/normalbae_reference.py (controlnet-aux's NNET with fewer encoder blocks) saved as the
# original scannet.pt, converted with gen convert, found by name in the annotator folder; maps
# compared with controlnet-aux 0.0.10's NormalBaeDetector (within 1 level); gen inspect on both
# forms; the bad inputs: one message each, the documented exit code, no output left.
set -u
: "${GEN:?} ${GEN_PYTHON:?} ${GEN_SRC:?} ${GEN_TMP:?}"
T=$GEN_TMP/preprocess-normalbae; rm -rf "$T"; mkdir -p "$T/w" "$T/o"
fail=0
check() { if [ "$1" != "$2" ]; then echo "FAIL: $3 (exit $1, expected $2)"; fail=1; else echo "ok: $3"; fi; }
OMP_NUM_THREADS=1 "$GEN_PYTHON" "$GEN_SRC/tools/normalbae_reference.py" --out "$T/ref" --resolutions 64,128 \
  > "$T/ref.log" 2>&1 || { cat "$T/ref.log"; echo "FAIL: reference"; exit 1; }
M=scannet
"$GEN" convert "$T/ref/$M.pt" "$T/w/$M.safetensors" > /dev/null; check $? 0 "gen convert $M.pt"
"$GEN" inspect "$T/ref/$M.pt" > "$T/inspect.txt"; check $? 0 "gen inspect $M.pt"
grep -q "NormalBAE" "$T/inspect.txt" && grep -q "gen convert" "$T/inspect.txt"; check $? 0 "inspect names NormalBAE and the conversion"
"$GEN" inspect "$T/w/$M.safetensors" > "$T/inspect.txt"; check $? 0 "gen inspect $M.safetensors"
grep -q "read by --preprocess normal_bae" "$T/inspect.txt"; check $? 0 "inspect names normal_bae"
P=$GEN_SRC/tests/data/control/source.png
near() {  # every value within 1 level
  "$GEN_PYTHON" -c "import sys, numpy as np; from PIL import Image
a = np.asarray(Image.open(sys.argv[1]).convert('RGB'), int); b = np.asarray(Image.open(sys.argv[2]).convert('RGB'), int)
sys.exit(0 if a.shape == b.shape and np.abs(a - b).max() <= 1 else 1)" "$1" "$2"
}
for r in 64 128; do
  rm -f "$T/o/n$r.png"
  GEN_ANNOTATOR_DIR=$T/w "$GEN" preprocess "$P" --preprocess normal_bae --preprocess-resolution $r -W $r -H $r \
    -o "$T/o/n$r.png" > /dev/null
  check $? 0 "preprocess normal_bae at $r"
  near "$T/o/n$r.png" "$T/ref/normal_bae_$r.png"; check $? 0 "normal_bae at $r matches controlnet-aux"
done
bad() {  # bad CODE PATTERN DESCRIPTION -- ARGS...
  local want=$1 pat=$2 what=$3; shift 4
  rm -f "$T/o/bad.png"
  "$@" -o "$T/o/bad.png" 2> "$T/err" > /dev/null; local rc=$?
  check $rc "$want" "$what"
  grep -q -- "$pat" "$T/err" || { echo "FAIL: $what: message '$(cat "$T/err")' lacks '$pat'"; fail=1; }
  [ "$(wc -l < "$T/err")" = 1 ] || { echo "FAIL: $what: not one line"; fail=1; }
  [ ! -e "$T/o/bad.png" ] || { echo "FAIL: $what: output left"; fail=1; }
}
bad 7 "NormalBAE surface-normal file" "the NormalBAE file given to hed" -- "$GEN" preprocess "$P" --preprocess "hed:file=$T/w/$M.safetensors"
bad 7 "not a NormalBAE file" "a ControlNet given to normal_bae" -- \
  "$GEN" preprocess "$P" --preprocess "normal_bae:file=$GEN_SRC/tests/data/models/controlnet_sd1.safetensors"
bad 3 "looks for $M.safetensors in the annotator folder" "a missing NormalBAE file" -- \
  "$GEN" preprocess "$P" --preprocess normal_bae --annotator-dir "$GEN_SRC/tests/data"
bad 6 "gen convert $T/ref/$M.pt" "only the original .pt" -- "$GEN" preprocess "$P" --preprocess normal_bae --annotator-dir "$T/ref"
bad 2 "is not an option of normal_bae" "an option normal_bae does not have" -- \
  "$GEN" preprocess "$P" --preprocess normal_bae:bg_th=0.4 --annotator-dir "$T/w"
exit $fail
