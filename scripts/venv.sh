#!/usr/bin/env bash
# Prints the path of gen's Python virtualenv, creating it first if needed.
#   scripts/venv.sh [REQUIREMENTS]   (default requirements.txt; requirements-runtime.txt: torch only)
# The venv lives in a cache directory keyed by the requirements file, so a fresh clone on
# the same machine finds it again; a machine without it builds it from nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
reqs=${1:-requirements.txt}
[ -f "$reqs" ] || { echo "venv.sh: no such requirements file: $reqs" >&2; exit 2; }
if [ "$reqs" = requirements.txt ]; then
  key=$( (cat requirements.txt; python3 --version) | sha256sum | cut -c1-16)
else
  key=$( (cat "$reqs"; python3 --version) | sha256sum | cut -c1-16)-$(basename "$reqs" .txt)
fi
cache=${GEN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gen}
venv="$cache/venv-$key"
mkdir -p "$cache"
exec 9>"$venv.lock"
flock 9  # one creator at a time; others wait and then reuse it
if [ ! -f "$venv/.complete" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check --upgrade pip >&2
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$reqs" >&2
  touch "$venv/.complete"
fi
echo "$venv"
