# The case helpers of the bad-input catalogues (tests/cli/test_bad_inputs.sh and
# test_hostile.sh), sourced after lib.sh. They use, at call time: $GEN, $O (the output folder
# of the case, emptied first), $P (the tiny diffusers pipeline) and $CN (a ControlNet file).
# gen_t ARGS...: gen, killed after $CASE_TIMEOUT seconds (300): a hang is a failure (exit 124), not a
# stuck test.
gen_t() { timeout -k 5 "${CASE_TIMEOUT:-300}" "$GEN" "$@"; }
re() { sed 's/[][\.*^$(){}?+|]/\\&/g' <<<"$1"; }  # a literal string as an extended regex

# fails LABEL CODE CODE-NAME SUBJECT-RE PROBLEM-RE -- CMD...
# CMD (which writes into $O) fails with CODE, prints exactly one line on stderr,
# "gen: error [CODE-NAME]: SUBJECT: ...PROBLEM..." (PROBLEM matched case-insensitively),
# and leaves $O empty.
fails() {
  local label=$1 code=$2 name=$3 subject=$4 problem=$5; shift 6
  rm -rf "$O"; mkdir -p "$O"
  local err rc lines line="^gen: error \[$name\]: ($subject): (.*)$"
  err=$("$@" 2>&1 >/dev/null); rc=$?
  lines=0; [ -n "$err" ] && lines=$(grep -c '' <<<"$err")
  if [ "$rc" = 124 ]; then bad "$label: still running after ${CASE_TIMEOUT:-300} s (a hang?), killed"
  elif [ "$rc" -ge 128 ]; then bad "$label: killed by signal $((rc - 128)); stderr: $err"
  elif [ "$rc" != "$code" ]; then bad "$label: exit $rc, wanted $code ($name); stderr: $err"
  elif [ "$lines" != 1 ]; then bad "$label: $lines lines on stderr, wanted 1: $err"
  elif ! [[ $err =~ $line ]]; then bad "$label: stderr is not 'gen: error [$name]: <$subject>: ...': $err"
  elif ! grep -qiE -- "$problem" <<<"${BASH_REMATCH[${#BASH_REMATCH[@]} - 1]}"; then
    bad "$label: the problem (after the subject) lacks /$problem/: $err"
  elif [ -n "$(ls -A "$O")" ]; then bad "$label: left files in the output folder: $(ls -A "$O")"
  else pass "$label → $rc: $err"; fi
}

# png_size FILE: "W H" from the IHDR of a PNG that starts with the signature and ends with IEND.
png_size() {
  [ "$(od -An -tx1 -N8 "$1" | tr -d ' \n')" = 89504e470d0a1a0a ] || return
  [ "$(tail -c 8 "$1" | head -c 4)" = IEND ] || return
  od -An -tu1 -j16 -N8 "$1" |
    awk '{ print (($1 * 256 + $2) * 256 + $3) * 256 + $4, (($5 * 256 + $6) * 256 + $7) * 256 + $8 }'
}

# works LABEL W H -- CMD...: CMD exits 0 and writes $O/out.png, a W x H PNG, and nothing else.
works() {
  local label=$1 width=$2 height=$3; shift 4
  rm -rf "$O"; mkdir -p "$O"
  local err rc
  err=$("$@" 2>&1 >/dev/null); rc=$?
  if [ "$rc" != 0 ]; then bad "$label: exit $rc; stderr: $err"
  elif [ "$(ls -A "$O")" != out.png ]; then bad "$label: output folder holds '$(ls -A "$O")', wanted out.png"
  elif [ "$(png_size "$O/out.png")" != "$width $height" ]; then
    bad "$label: out.png is not a complete ${width}x$height PNG (got '$(png_size "$O/out.png")')"
  else pass "$label → 0"; fi
}

# A small generation (64x64, one step) with the options given; -m, -W, -H, --steps and -o
# (and --seed) default to the tiny pipeline, 64, 64, 1 and $O/out.png (and 1) unless given (CLI11 refuses an
# option given twice).
arg() {
  local a given=" "
  for a in "$@"; do given+="$a "; done
  local extra=()
  [[ $given == *" -m "* ]] || extra+=(-m "$P")
  [[ $given == *" -W "* ]] || extra+=(-W 64)
  [[ $given == *" -H "* ]] || extra+=(-H 64)
  [[ $given == *" --steps "* ]] || extra+=(--steps 1)
  [[ $given == *" -o "* ]] || extra+=(-o "$O/out.png")
  [[ $given == *" --seed "* ]] || extra+=(--seed 1)
  gen_t -p "a house" -q "${extra[@]}" "$@"
}
ldm() { arg -m "$1" --vocab "$P/tokenizer" "${@:2}"; }             # the LDM file $1 as the model
ctl() { arg --control "$CN" --control-image "$@"; }                  # with control image $1
