#!/usr/bin/env bash
# gen preprocess with MiDaS DPT-Hybrid (midas / normal_midas, and the A1111 names depth_midas,
# normal_map): the random tiny network of tools/midas_reference.py saved as the original .pt,
# converted with gen convert, found by name in the annotator folder; maps compared with
# controlnet-aux 0.0.10's MidasDetector; gen inspect on both forms; the bad inputs: one message
# each, the documented exit code, no output left.
set -u
: "${GEN:?} ${GEN_PYTHON:?} ${GEN_SRC:?} ${GEN_TMP:?}"
T=$GEN_TMP/preprocess-midas; rm -rf "$T"; mkdir -p "$T/w" "$T/o"
fail=0
check() { if [ "$1" != "$2" ]; then echo "FAIL: $3 (exit $1, expected $2)"; fail=1; else echo "ok: $3"; fi; }
"$GEN_PYTHON" "$GEN_SRC/tools/midas_reference.py" --out "$T/ref" || { echo "FAIL: reference"; exit 1; }
M=dpt_hybrid-midas-501f0c75
"$GEN" convert "$T/ref/$M.pt" "$T/w/$M.safetensors" > /dev/null; check $? 0 "gen convert $M.pt"
"$GEN" inspect "$T/ref/$M.pt" > "$T/inspect.txt"; check $? 0 "gen inspect $M.pt"
grep -q "MiDaS DPT-Hybrid" "$T/inspect.txt" && grep -q "gen convert" "$T/inspect.txt"; check $? 0 "inspect names MiDaS and the conversion"
"$GEN" inspect "$T/w/$M.safetensors" > "$T/inspect.txt"; check $? 0 "gen inspect $M.safetensors"
grep -q "read by --preprocess midas, normal_midas" "$T/inspect.txt"; check $? 0 "inspect names midas and normal_midas"
P=$GEN_SRC/tests/data/control/source.png
# within 1 level (depth); normals: at most 0.5% of the values more than 1 level off (bg_th flips)
near() {
  "$GEN_PYTHON" -c "import sys, numpy as np; from PIL import Image
a = np.asarray(Image.open(sys.argv[1]).convert('RGB'), int); b = np.asarray(Image.open(sys.argv[2]).convert('RGB'), int)
sys.exit(0 if a.shape == b.shape and (np.abs(a - b) > 1).sum() <= int(sys.argv[3]) * a.size // 200 else 1)" "$1" "$2" "$3"
}
for c in "depth_midas midas_128 0" "midas midas_128 0" "normal_map normal_midas_128 1" "normal_midas:a=3:bg_th=0.4 normal_midas_a3_bg_th0.4_128 1"; do
  set -- $c
  rm -f "$T/o/$2.png"
  GEN_ANNOTATOR_DIR=$T/w "$GEN" preprocess "$P" --preprocess "$1" --preprocess-resolution 128 -W 128 -H 128 -o "$T/o/$2.png" > /dev/null
  check $? 0 "preprocess $1"
  near "$T/o/$2.png" "$T/ref/$2.png" "$3"; check $? 0 "$1 matches controlnet-aux"
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
bad 7 "MiDaS DPT-Hybrid depth file" "the MiDaS file given to hed" -- "$GEN" preprocess "$P" --preprocess "hed:file=$T/w/$M.safetensors"
bad 7 "not a MiDaS DPT-Hybrid file" "a ControlNet given to midas" -- \
  "$GEN" preprocess "$P" --preprocess "depth_midas:file=$GEN_SRC/tests/data/models/controlnet_sd1.safetensors"
bad 3 "looks for $M.safetensors in the annotator folder" "a missing MiDaS file" -- \
  "$GEN" preprocess "$P" --preprocess normal_midas --annotator-dir "$GEN_SRC/tests/data"
bad 6 "gen convert $T/ref/$M.pt" "only the original .pt" -- "$GEN" preprocess "$P" --preprocess midas --annotator-dir "$T/ref"
bad 2 "bg_th must be in" "bg_th out of range" -- "$GEN" preprocess "$P" --preprocess normal_midas:bg_th=3 --annotator-dir "$T/w"
exit $fail
