#!/usr/bin/env bash
# Bad textual-inversion embeddings through the real `gen` CLI (docs/embeddings.md): each must
# end with the exit code of docs/errors.md and one line on stderr naming the file (or the option)
# and the problem: an embedding for another text-encoder width (its width and the model's named)
# → 7; NaN values, no embedding tensor, several candidates, a corrupt or truncated file → 5; a
# pickle whose payload is more than tensors (a pickled nn.ParameterDict, as the original
# textual-inversion code saved, or an object that would run code) → 8; a missing --embedding file
# or embeddings folder → 3; more vectors than a window holds → 6. A broken file that the prompt
# does not name is never read, so it is no error. The files are made here from random tensors.
source "$(dirname "$0")/lib.sh"
: "${GEN_SRC:?}" "${GEN_PYTHON:?GEN_PYTHON must point to the project venv python}"
make_tiny_models
E=$GEN_TMP/embeddings O=$GEN_TMP/out
mkdir -p "$E" "$O"
"$GEN_PYTHON" - "$P" "$E" <<'PY' || { bad "making the embedding files failed"; finish; }
import collections, json, os, sys
import torch
from safetensors.torch import save_file
pipe, E = sys.argv[1:3]
width = json.load(open(f"{pipe}/text_encoder/config.json"))["hidden_size"]
g = torch.Generator().manual_seed(3)
v = lambda n, c=width: torch.randn((n, c), generator=g)
def folder(name, files):
    os.makedirs(f"{E}/{name}")
    for fn, write in files.items():
        write(f"{E}/{name}/{fn}")
st = lambda tensors: lambda p: save_file(tensors, p)
a1111 = lambda t: lambda p: torch.save({"string_to_token": {"*": 265}, "string_to_param": {"*": t}, "name": "x", "step": 3}, p)
nan = v(2); nan[1, 0] = float("nan")
class Payload:  # what a hostile pickle calls on load
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))
folder("good", {"ticat.pt": a1111(v(2))})
folder("width", {"ticat.safetensors": st({"emb_params": v(2, 768)})})
folder("nan", {"ticat.pt": a1111(nan)})
folder("none", {"ticat.safetensors": st({"a": v(1), "b": v(1)})})
folder("terms", {"ticat.pt": lambda p: torch.save({"string_to_param": {"*": v(1), "#": v(1)}, "name": "x"}, p)})
folder("paramdict", {"ticat.pt": lambda p: torch.save(
    {"string_to_param": torch.nn.ParameterDict({"*": torch.nn.Parameter(v(1))}), "name": "x"}, p)})
folder("code", {"ticat.pt": lambda p: torch.save({"string_to_param": {"*": v(1)}, "hook": Payload()}, p)})
folder("long", {"ticat.safetensors": st({"emb_params": v(76)})})
good = open(f"{E}/good/ticat.pt", "rb").read()
folder("truncated", {"ticat.pt": lambda p: open(p, "wb").write(good[: len(good) // 2])})
folder("junk", {"ticat.safetensors": lambda p: open(p, "wb").write(b"not an embedding at all\n" * 4)})
# A broken file beside a good one: only the name the prompt uses is read.
folder("mixed", {"ticat.pt": a1111(v(2)), "tidog.safetensors": lambda p: open(p, "wb").write(b"junk" * 8),
                 "empty.pt": lambda p: open(p, "wb").close()})
PY

run() { "$GEN" -p "a photo of ticat" -m "$P" -W 64 -H 64 --steps 1 --seed 1 -q -o "$O/x.png" "$@"; }
run_no_name() { "$GEN" -p "a photo of a cat" -m "$P" -W 64 -H 64 --steps 1 --seed 1 -q -o "$O/x.png" "$@"; }
empty_out() { if [ -z "$(ls -A "$O")" ]; then pass "nothing written"; else bad "files left: $(ls "$O")"; rm -f "$O"/*; fi; }

expect_exit 7 "ticat.safetensors: is an embedding of width 768 \(SD 1.x\) but the model's text encoder takes 32" -- \
  run --embeddings-dir "$E/width"
expect_exit 5 "nan/ticat.pt: tensor 'string_to_param.\*' holds NaN or infinite values" -- run --embeddings-dir "$E/nan"
expect_exit 5 "none/ticat.safetensors: holds 2 tensors \(a, b\) and no string_to_param" -- run --embeddings-dir "$E/none"
expect_exit 5 "terms/ticat.pt: its string_to_param holds 2 tensors" -- run --embeddings-dir "$E/terms"
expect_exit 8 "paramdict/ticat.pt: .*ParameterDict" -- run --embeddings-dir "$E/paramdict"
expect_exit 8 "code/ticat.pt: .*(posix|os)\.system" -- run --embeddings-dir "$E/code"
expect_exit 6 "long/ticat.safetensors: has 76 vectors; a prompt window holds 75" -- run --embeddings-dir "$E/long"
expect_exit 5 "truncated/ticat.pt: " -- run --embeddings-dir "$E/truncated"
expect_exit 5 "junk/ticat.safetensors: " -- run --embeddings-dir "$E/junk"
expect_exit 3 "embeddings\[0\]: no such embedding file '$E/nope.pt'" -- run --embedding "$E/nope.pt"
expect_exit 3 "embeddings_dir: embeddings folder '$E/nope' does not exist" -- run --embeddings-dir "$E/nope"
expect_exit 3 "GEN_EMBEDDINGS_DIR: embeddings folder '$E/gone' does not exist" -- env GEN_EMBEDDINGS_DIR="$E/gone" "$GEN" \
  -p "a photo of ticat" -m "$P" -W 64 -H 64 --steps 1 --seed 1 -q -o "$O/x.png"
# Named explicitly, a file is read whatever the prompt says.
expect_exit 7 "width/ticat.safetensors: is an embedding of width 768" -- run_no_name --embedding "$E/width/ticat.safetensors"
empty_out
# Not named by the prompt: a broken file (and an empty one) in the folder is no error, nor is a
# width mismatch.
expect_exit 0 "" -- run --embeddings-dir "$E/mixed"
rm -f "$O"/*
run_no_name --embeddings-dir "$E/width" && pass "an unnamed file of another width is no error" ||
  bad "an unnamed file of another width failed the request"
# ... and the good embedding was used: the infotext names it.
if "$GEN_PYTHON" -c 'import sys; from PIL import Image
sys.exit(0 if "TI hashes: \"ticat: " in Image.open(sys.argv[1]).text["parameters"] else 1)' "$O/x.png"; then
  bad "a prompt without ticat lists it in TI hashes"
else
  pass "no TI hashes for a prompt without the name"
fi
rm -f "$O"/*
run --embeddings-dir "$E/mixed" 2>/dev/null
if "$GEN_PYTHON" -c 'import sys; from PIL import Image
sys.exit(0 if "TI hashes: \"ticat: " in Image.open(sys.argv[1]).text["parameters"] else 1)' "$O/x.png"; then
  pass "the good embedding beside broken files is used (TI hashes)"
else
  bad "no TI hashes for ticat in the mixed folder"
fi
# An embedding named only by hires fix's prompt is listed too (A1111 lists every encoding's).
rm -f "$O"/*
run_no_name --embeddings-dir "$E/mixed" --hires-scale 1.5 --hires-steps 1 --hires-prompt "a photo of ticat" 2>/dev/null
if "$GEN_PYTHON" -c 'import sys; from PIL import Image
sys.exit(0 if "TI hashes: \"ticat: " in Image.open(sys.argv[1]).text["parameters"] else 1)' "$O/x.png"; then
  pass "an embedding only in --hires-prompt is in TI hashes"
else
  bad "an embedding only in --hires-prompt is missing from TI hashes"
fi
# A job line's embeddings must be a list of names: the line fails as invalid-argument (2).
echo '{"prompt": "a photo of ticat", "embeddings": "ticat.pt"}' >"$GEN_TMP/req.jsonl"
"$GEN" batch "$GEN_TMP/req.jsonl" -m "$P" -O "$O" 2>"$GEN_TMP/batch.err"
if grep -q "failed \[invalid-argument\].*field 'embeddings' must be an array of file names" "$GEN_TMP/batch.err"; then
  pass "a job whose embeddings is not a list fails as invalid-argument"
else
  bad "job line with embeddings as text: $(cat "$GEN_TMP/batch.err")"
fi
finish
