# gen's CLI against reference PNGs: compare_cases REF OUT renders every case of REF/cases.json
# (written by tools/diffusers_cli_reference.py or diffusers_edit_reference.py: name, batch, gen
# arguments, an infotext fragment) with gen into OUT and compares image for image.
# Tolerance: at most 1 level of 8 bits per pixel (both compute in fp32 on the CPU; a value
# within rounding distance of a .5 boundary can land on either side).
# Needs lib.sh sourced first, and GEN, GEN_PYTHON, GEN_TMP.
compare_cases() {
local R=$1 O=$2 n k name diff want args
mkdir -p "$O"
n=$("$GEN_PYTHON" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$R/cases.json")
for ((k = 0; k < n; k++)); do
  name=$("$GEN_PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))[int(sys.argv[2])]["name"])' "$R/cases.json" "$k")
  mapfile -d '' args < <("$GEN_PYTHON" -c 'import json,sys
c = json.load(open(sys.argv[1]))[int(sys.argv[2])]
sys.stdout.write("\0".join(c["args"]) + "\0")' "$R/cases.json" "$k")
  if ! "$GEN" "${args[@]}" -q -o "$O/$name-{n}.png" 2>"$GEN_TMP/gen.err"; then
    bad "$name: gen failed: $(cat "$GEN_TMP/gen.err")"; continue
  fi
  if diff=$("$GEN_PYTHON" -c 'import glob, sys, numpy as np; from PIL import Image
worst = 0
refs = sorted(glob.glob(f"{sys.argv[1]}/{sys.argv[3]}-*.png"))
for ref in refs:
    a = np.asarray(Image.open(ref)).astype(int)
    b = np.asarray(Image.open(ref.replace(sys.argv[1], sys.argv[2]))).astype(int)
    worst = max(worst, int(np.abs(a - b).max()))
print(worst, len(refs)); sys.exit(0 if worst <= 1 and refs else 1)' "$R" "$O" "$name"); then
    pass "$name: max difference $diff"
    # The A1111 infotext names the schedule --scheduler auto chose (e.g. "DPM++ 2M Karras").
    want=$("$GEN_PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))[int(sys.argv[2])]["infotext"])' "$R/cases.json" "$k")
    if [ -n "$want" ]; then
      if "$GEN_PYTHON" -c 'import sys; from PIL import Image
sys.exit(0 if sys.argv[2] in Image.open(sys.argv[1]).text.get("parameters", "") else 1)' "$O/$name-0.png" "$want"; then
        pass "$name: infotext has '$want'"
      else
        bad "$name: infotext lacks '$want'"
      fi
    fi
  else
    bad "$name: max difference (levels, images) $diff"
  fi
done
}

# reference_cases SCRIPT ARGS...: the tiny models in $GEN_TMP/models ($M), then the reference
# script's cases in $GEN_TMP/ref ($R), rendered by gen into $GEN_TMP/out ($O) and compared.
# Ends the test when the reference cannot be made.
reference_cases() {
  M=$GEN_TMP/models R=$GEN_TMP/ref O=$GEN_TMP/out
  "$GEN_PYTHON" "$GEN_SRC/tools/make_tiny_models.py" --out "$M" >/dev/null 2>"$GEN_TMP/err" &&
    "$GEN_PYTHON" "$GEN_SRC/tools/$1" "${@:2}" --models "$M" --out "$R" >/dev/null 2>>"$GEN_TMP/err" ||
    { cat "$GEN_TMP/err"; bad "reference generation failed"; finish; }
  compare_cases "$R" "$O"
}

# differ_from_none OUT WHAT: every OUT/<case>-0.png but none-0.png is more than 8 levels from
# OUT/none-0.png (the same request without the adapter), so an adapter gen ignored cannot pass.
differ_from_none() {
  local f name d
  for f in "$1"/*-0.png; do
    name=$(basename "$f" -0.png)
    [ "$name" = none ] && continue
    d=$("$GEN_PYTHON" -c 'import sys, numpy as np; from PIL import Image
a, b = (np.asarray(Image.open(p)).astype(int) for p in sys.argv[1:3]); print(int(np.abs(a - b).max()))' "$f" "$1/none-0.png")
    if [ "$d" -gt 8 ]; then pass "$name differs from no $2 (max $d)"; else bad "$name: only $d levels from no $2"; fi
  done
}
