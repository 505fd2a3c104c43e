#!/usr/bin/env bash
# The installed package is relocatable (issue 13 item 6): no absolute RUNPATH in gen or
# libgen-engine; the install tree moved elsewhere still runs; torch moved elsewhere (the
# original place hidden in a private mount namespace) runs once lib/gen-libtorch points at it,
# and not before (so the link, not a leftover path, is what finds libtorch).
# Exit 77 (skipped) where unshare --mount is not allowed (not root).
. "$(dirname "$0")/lib.sh"
make_tiny_models
build=$(cd "$(dirname "$GEN")/.." && pwd)
A=$GEN_TMP/first-prefix
B=$GEN_TMP/moved/prefix
mkdir -p "$GEN_TMP/moved"
cmake --install "$build" --prefix "$A" >"$GEN_TMP/install.log" 2>&1 || { cat "$GEN_TMP/install.log"; bad "install failed"; finish; }
mv "$A" "$B"
for f in "$B/bin/gen" "$B/lib/libgen-engine.so"; do
  rp=$(readelf -d "$f" | sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p')
  if [ -z "$rp" ]; then bad "$f has no RUNPATH"; continue; fi
  abs=$(tr ':' '\n' <<<"$rp" | grep -v '^\$ORIGIN' || true)
  if [ -n "$abs" ]; then bad "$f: RUNPATH entries not relative to \$ORIGIN: $abs"; else pass "$f: RUNPATH $rp"; fi
done
gen_run() {  # gen_run GEN OUT: a tiny generation with a clean environment
  env -i PATH=/usr/bin:/bin HOME="$HOME" "$1" -p "a red circle" -m "$P" -W 64 -H 64 --steps 2 --seed 4 -q -o "$2"
}
if gen_run "$B/bin/gen" "$GEN_TMP/moved.png" 2>"$GEN_TMP/err"; then pass "the moved install generates"
else bad "the moved install fails: $(cat "$GEN_TMP/err")"; fi
"$GEN" -p "a red circle" -m "$P" -W 64 -H 64 --steps 2 --seed 4 -q -o "$GEN_TMP/built.png"
pixels_equal "$GEN_TMP/moved.png" "$GEN_TMP/built.png" && pass "same image as the build tree's gen" ||
  bad "the moved install draws another image"

if ! unshare --mount true 2>/dev/null; then
  [ "$failures" -gt 0 ] && finish
  echo "skipped: moving torch needs unshare --mount (root)"; exit 77
fi
torch=$(readlink "$B/lib/gen-libtorch")
site=$(dirname "$torch")
N=$GEN_TMP/elsewhere/site-packages
mkdir -p "$N"
out=$(unshare --mount bash -s "$site" "$N" "$B" "$P" "$GEN_TMP" <<'SH' 2>&1
set -u
site=$1 new=$2 prefix=$3 pipe=$4 tmp=$5
mount --bind "$site" "$new" && mount -t tmpfs -o size=1m gen-hidden "$site" || { echo "MOUNT FAILED"; exit 1; }
run() { env -i PATH=/usr/bin:/bin HOME="$HOME" "$prefix/bin/gen" -p "a red circle" -m "$pipe" -W 64 -H 64 --steps 2 --seed 4 -q -o "$1"; }
if run "$tmp/stale.png" 2>/dev/null; then echo "STALE RAN"; else echo "STALE FAILED"; fi
ln -sfn "$new/torch" "$prefix/lib/gen-libtorch"
if run "$tmp/relinked.png" 2>"$tmp/relinked.err"; then echo "RELINKED RAN"; else echo "RELINKED FAILED: $(cat "$tmp/relinked.err")"; fi
SH
)
grep -q "STALE FAILED" <<<"$out" && pass "with torch moved, the old link no longer loads (torch really moved)" ||
  bad "with torch moved, the stale install still ran or the move failed: $out"
grep -q "RELINKED RAN" <<<"$out" && pass "re-pointing lib/gen-libtorch at the moved torch runs gen" ||
  bad "re-pointed install fails: $out"
[ -f "$GEN_TMP/relinked.png" ] && pixels_equal "$GEN_TMP/relinked.png" "$GEN_TMP/built.png" &&
  pass "the relinked install draws the same image" || bad "the relinked install's image differs or is missing"
finish
