#!/usr/bin/env bash
# Prints the folder holding the CLIP vocabulary (bpe_simple_vocab_16e6.txt.gz) and its MIT
# licence, fetching them first if needed: they come from PyPI's clip-anytorch 2.6.0 wheel
# (clip/bpe_simple_vocab_16e6.txt.gz, clip_anytorch-2.6.0.dist-info/LICENSE), downloaded with
# pip (no dependencies, nothing installed) and checked against a known sha256. Cached beside
# the virtualenv (GEN_CACHE_DIR moves it). Usage: scripts/clip_vocab.sh PYTHON
set -euo pipefail
python=${1:?usage: clip_vocab.sh PYTHON (a Python with pip: the virtualenv one)}
cache=${GEN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gen}
dir="$cache/clip-anytorch-2.6.0"
sha=924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a
mkdir -p "$cache"
exec 8>"$dir.lock"
flock 8
if [ ! -f "$dir/.complete" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  "$python" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
    clip-anytorch==2.6.0 -d "$tmp" >&2
  rm -rf "$dir"
  mkdir -p "$dir"
  "$python" - "$tmp"/clip_anytorch-2.6.0-py3-none-any.whl "$dir" "$sha" <<'PY'
import hashlib, os, sys, zipfile
wheel, out, sha = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z:
    vocab = z.read("clip/bpe_simple_vocab_16e6.txt.gz")
    licence = z.read("clip_anytorch-2.6.0.dist-info/LICENSE")
if hashlib.sha256(vocab).hexdigest() != sha:
    sys.exit(f"clip_vocab.sh: {wheel}: the sha256 of the vocabulary is not the expected {sha}")
for name, data in (("bpe_simple_vocab_16e6.txt.gz", vocab), ("LICENSE", licence)):
    with open(os.path.join(out, name + ".tmp"), "wb") as f:
        f.write(data)
    os.replace(os.path.join(out, name + ".tmp"), os.path.join(out, name))
PY
  touch "$dir/.complete"
fi
echo "$dir"
