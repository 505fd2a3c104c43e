#!/usr/bin/env bash
# The hostile-input catalogue (issue 15), one group per class: requests that try to choose
# where gen writes, output targets that are links, FIFOs or devices, JSON nested without
# bound, inputs that block or never end, checkpoints whose views repeat their storage, work
# for what was not asked, silently wrong values, odd but valid names. Every failing case
# must exit with the code of docs/errors.md, print exactly one line on stderr naming the
# input, finish within $CASE_TIMEOUT seconds and leave nothing in the output folder (the
# `fails` and `works` helpers of cases.sh); the rest check that nothing was written where it
# must not be. The inputs are made here, at run time.
source "$(dirname "$0")/lib.sh"
: "${GEN_SRC:?}" "${GEN_PYTHON:?GEN_PYTHON must point to the project venv python}"
source "$(dirname "$0")/cases.sh"
CASE_TIMEOUT=60
make_tiny_models
SD=$M/tiny-sd15.safetensors
CN=$M/tiny-control-v11.safetensors
X=$GEN_TMP/hostile  # the hostile inputs
V=$GEN_TMP/victim   # files outside every output folder, which must stay as they are
O=$GEN_TMP/out
mkdir -p "$X" "$V" "$O"
cd "$GEN_TMP" || exit 1

# A PNG gen wrote (its "gen" chunk holds the request), to be tampered with.
"$GEN" -p "a house" -m "$P" -W 64 -H 64 --steps 1 --seed 3 -q -o "$X/made.png" || { bad "gen failed"; finish; }

"$GEN_PYTHON" - "$X" "$V" "$P" "$SD" <<'EOF' || { bad "making the hostile inputs failed"; finish; }
import json, os, struct, sys
import torch
from PIL import Image, PngImagePlugin

X, V, pipe, sd = sys.argv[1:5]
deep = "[" * 100000 + "]" * 100000
deep_obj = '{"a":' * 100000 + "1" + "}" * 100000
made = Image.open(f"{X}/made.png")
request = json.loads(made.text["gen"])

def tampered(name, chunk):
    info = PngImagePlugin.PngInfo()
    info.add_text("gen", chunk)
    made.save(f"{X}/{name}.png", pnginfo=info)

tampered("output-abs", json.dumps(dict(request, output=f"{V}/from-png.png")))
tampered("output-up", json.dumps(dict(request, output="../victim/from-png-up.png")))
tampered("deep", deep)
tampered("deep-object", deep_obj)
tampered("not-json", "{this is not json")
tampered("nul-prompt", json.dumps(dict(request, prompt="a house\u0000 and more")))
tampered("wrong-type", json.dumps(dict(request, steps="many")))
tampered("seed-huge", json.dumps(dict(request, seed=0)).replace('"seed": 0', '"seed": 1e30'))

open(f"{X}/deep.json", "w").write(deep)
open(f"{X}/deep-object.json", "w").write(deep_obj)

# Job files.
job = {"prompt": "a house", "width": 64, "height": 64, "steps": 1, "seed": 1}
def jobs(name, lines):
    with open(f"{X}/{name}.jsonl", "w") as f:
        for l in lines:
            f.write((l if isinstance(l, str) else json.dumps(l)) + "\n")
jobs("deep", [dict(job, id="before"), deep, deep_obj, dict(job, id="after")])
jobs("link", [dict(job, id="linked", output="sub/x.png"), dict(job, id="plain")])
jobs("one", [dict(job, id="one")])
jobs("nul", [dict(job, id="nul", prompt="a\u0000b"), dict(job, id="ok")])
jobs("seeds", [dict(job, id="huge", seed=1e30), dict(job, id="minus-two", seed=-2), dict(job, id="random", seed=-1),
               dict(job, id="big-int", seed=18446744073709551615)])
# --shard 1/2 renders the second line only; the other lines ask for 6.4 million images each.
jobs("shard", [dict(job, id="huge-0", batch_count=100000, batch_size=64), dict(job, id="small"),
               dict(job, id="huge-2", batch_count=100000, batch_size=64)])

# Checkpoints whose tensors repeat their storage: a stride-0 view of one float as 2^34 of
# them (64 GiB), and 5000 names for one 1 MiB storage (5 GB from a file of 1 MiB).
torch.save({"w": torch.zeros(1).expand(1 << 34)}, f"{X}/expanded.pth")
base = torch.zeros(1 << 18)
torch.save({f"t{i}": base for i in range(5000)}, f"{X}/aliased.pth")

# A safetensors file whose header starts with a UTF-8 byte-order mark (the reference refuses it).
raw = open(sd, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = b"\xef\xbb\xbf" + raw[8:8 + n]
header += b" " * (-len(header) % 8)
w = open(f"{X}/bom.safetensors", "wb")
w.write(struct.pack("<Q", len(header)) + header + raw[8 + n:])
w.close()
EOF

# A copy of the tiny pipeline (links to its parts) with one file replaced: pipeline NAME FILE.
pipeline() {
  local d=$X/$1 part
  mkdir -p "$d"
  for part in model_index.json scheduler text_encoder tokenizer vae unet; do ln -s "$P/$part" "$d/$part"; done
  rm "$d/${2%%/*}"
  if [ "${2%%/*}" != "$2" ]; then
    mkdir "$d/${2%%/*}"
    for part in "$P/${2%%/*}"/*; do ln -s "$part" "$d/${2%%/*}/"; done
    rm "$d/$2"
  fi
  echo "$d"
}

# ---------------------------------------------------------------- 1. where gen writes
writes() {
  # A request read from an image never chooses where to write; -o (or its default) does.
  rm -f "$V/from-png.png"
  works "--from a PNG whose request names an absolute output" 64 64 -- \
    gen_t --from "$X/output-abs.png" --steps 1 -q -o "$O/out.png"
  [ ! -e "$V/from-png.png" ] && pass "the absolute output of the stored request was not written" ||
    bad "--from wrote where the image's request said"
  rm -rf "$O"; mkdir -p "$O/cwd"
  (cd "$O/cwd" && gen_t --from "$X/output-up.png" --steps 1 -q)
  [ ! -e "$V/from-png-up.png" ] && [ "$(ls "$O/cwd" | grep -c '^gen-0-3\.png$')" = 1 ] &&
    pass "--from without -o writes the default name in the current folder, not '../'" ||
    bad "--from without -o: $(ls "$O/cwd") / $(ls "$V")"

  echo keep >"$V/target.txt"
  ln -sf "$V/target.txt" "$GEN_TMP/link.png"
  fails "-o an existing symbolic link" 2 invalid-argument "$(re "$GEN_TMP/link.png")" "symbolic link" \
    -- arg -o "$GEN_TMP/link.png"
  [ "$(cat "$V/target.txt")" = keep ] && pass "the link's target is untouched" || bad "the link's target changed"
  ln -sf "$V/no-such-file.png" "$GEN_TMP/dangling.png"
  fails "-o a dangling symbolic link" 2 invalid-argument "$(re "$GEN_TMP/dangling.png")" "symbolic link" \
    -- arg -o "$GEN_TMP/dangling.png"
  [ ! -e "$V/no-such-file.png" ] && pass "nothing created through the dangling link" || bad "wrote through a dangling link"
  mkfifo "$GEN_TMP/fifo.png"
  fails "-o a FIFO" 2 invalid-argument "$(re "$GEN_TMP/fifo.png")" "not a regular file" -- arg -o "$GEN_TMP/fifo.png"
  fails "-o /dev/null (a device)" 2 invalid-argument "/dev/null" "not a regular file" -- arg -o /dev/null
  fails "-o a folder" 2 invalid-argument "$(re "$V")" "folder" -- arg -o "$V"
  fails "gen preprocess -o a symbolic link" 2 invalid-argument "$(re "$GEN_TMP/link.png")" "symbolic link" \
    -- gen_t preprocess "$X/made.png" -W 64 -H 64 -o "$GEN_TMP/link.png"
  ln -sf "$V/target.txt" "$GEN_TMP/link.safetensors"
  fails "gen convert to a symbolic link" 2 invalid-argument "$(re "$GEN_TMP/link.safetensors")" "symbolic link" \
    -- gen_t convert "$M/tiny-sd15.ckpt" "$GEN_TMP/link.safetensors"

  # gen batch: a planted link inside -O, results files that are links or FIFOs.
  rm -rf "$O"; mkdir -p "$O" "$V/sub"; ln -s "$V/sub" "$O/sub"
  gen_t batch "$X/link.jsonl" -m "$P" -O "$O" -q 2>/dev/null; rc=$?
  [ "$rc" = 11 ] && [ -z "$(ls -A "$V/sub")" ] && [ -f "$O/plain-0-1.png" ] &&
    grep '"id":"linked"' "$O/link.results.jsonl" | grep -q "'sub' is a symbolic link" &&
    pass "batch: an output subfolder that is a planted link → that job fails, nothing written through it" ||
    bad "batch through a planted link: exit $rc, $(ls -A "$V/sub"), $(cat "$O/link.results.jsonl" 2>&1)"
  echo '{"id":"one","status":"ok"}' >"$V/results.jsonl"
  ln -s "$V/results.jsonl" "$GEN_TMP/results-link.jsonl"
  fails "batch --resume: a results file that is a symbolic link" 2 invalid-argument \
    "$(re "$GEN_TMP/results-link.jsonl")" "symbolic link" \
    -- gen_t batch "$X/one.jsonl" -m "$P" -O "$O" --results "$GEN_TMP/results-link.jsonl" --resume -q
  fails "batch: a results file that is a symbolic link" 2 invalid-argument "$(re "$GEN_TMP/results-link.jsonl")" \
    "symbolic link" -- gen_t batch "$X/one.jsonl" -m "$P" -O "$O" --results "$GEN_TMP/results-link.jsonl" -q
  rm -rf "$O"; mkdir -p "$O"; mkfifo "$GEN_TMP/results.fifo"
  fails "batch: a results file that is a FIFO" 2 invalid-argument "$(re "$GEN_TMP/results.fifo")" \
    "not a regular file" -- gen_t batch "$X/one.jsonl" -m "$P" -O "$O" --results "$GEN_TMP/results.fifo" -q
  [ "$(cat "$V/results.jsonl")" = '{"id":"one","status":"ok"}' ] && pass "the linked results file is untouched" ||
    bad "the linked results file changed"
}

# ---------------------------------------------------------------- 2. nesting without bound
nesting() {
  for f in deep deep-object; do
    fails "gen info: a request chunk nested 100000 deep ($f)" 5 invalid-format "$(re "$X/$f.png")" "nested deeper" \
      -- gen_t info "$X/$f.png"
    fails "gen info --json: a request chunk nested 100000 deep ($f)" 5 invalid-format "$(re "$X/$f.png")" \
      "nested deeper" -- gen_t info --json "$X/$f.png"
    fails "--from: a request chunk nested 100000 deep ($f)" 2 invalid-argument "$(re "$X/$f.png")" "nested deeper" \
      -- arg --from "$X/$f.png"
    fails "bench --request: a file nested 100000 deep ($f)" 2 invalid-argument "$(re "$X/$f.json")" "nested deeper" \
      -- gen_t bench --request "$X/$f.json" -m "$P"
  done
  fails "gen info: a request chunk that is not JSON" 5 invalid-format "$(re "$X/not-json.png")" "not valid JSON" \
    -- gen_t info "$X/not-json.png"
  rm -rf "$O"; mkdir -p "$O"
  gen_t batch "$X/deep.jsonl" -m "$P" -O "$O" -q 2>/dev/null; rc=$?
  [ "$rc" = 11 ] && [ -f "$O/before-0-1.png" ] && [ -f "$O/after-0-1.png" ] &&
    [ "$(grep -c 'nested deeper than 64' "$O/deep.results.jsonl")" = 2 ] &&
    [ "$(wc -c <"$O/deep.results.jsonl")" -lt 4000 ] &&
    pass "batch: two lines nested 100000 deep fail alone (short messages), the others render" ||
    bad "batch with deep lines: exit $rc; $(head -c 600 "$O/deep.results.jsonl" 2>&1)"
  gen_t batch "$X/deep.jsonl" -m "$P" -O "$O" --resume -q 2>/dev/null; rc=$?
  [ "$rc" = 11 ] && pass "batch --resume after deep lines runs (exit 11 again: they still fail)" ||
    bad "--resume after deep lines: exit $rc"
  for part in model_index.json unet/config.json scheduler/scheduler_config.json tokenizer/vocab.json; do
    d=$(pipeline "deep-${part//\//-}" "$part")
    cp "$X/deep.json" "$d/$part"
    fails "a pipeline whose $part is nested 100000 deep" 5 invalid-format "$(re "$d/$part")" "nested deeper" \
      -- arg -m "$d"
  done
}

# ---------------------------------------------------------------- 3 and 7. configs
# config NAME PART PYTHON: a copy of the tiny pipeline whose PART (a JSON file) is changed by
# PYTHON acting on `j`; prints the copy's folder.
config() {
  local d
  d=$(pipeline "cfg-$1" "$2")
  "$GEN_PYTHON" - "$P/$2" "$d/$2" "$3" <<'PY'
import json, sys
src, dst, change = sys.argv[1:4]
j = json.load(open(src))
exec(change)
json.dump(j, open(dst, "w"))
PY
  echo "$d"
}
configs() {
  local d U=unet/config.json V=vae/config.json T=text_encoder/config.json S=scheduler/scheduler_config.json
  # Sizes no real model has, then wrong JSON types (model_index.json too): refused naming the
  # file and the key, never a raw error, before anything is allocated.
  for c in "layers $U j['layers_per_block']=10**9 layers_per_block" \
           "layers-neg $U j['layers_per_block']=-3 layers_per_block" \
           "channels $U j['block_out_channels']=[10**9,10**9] block_out_channels" \
           "levels $U j['block_out_channels']=[32]*50;j['down_block_types']=['DownBlock2D']*50;j['up_block_types']=['UpBlock2D']*50 block_out_channels" \
           "heads $U j['attention_head_dim']=0 attention_head_dim" \
           "depth $U j['transformer_layers_per_block']=10**6 transformer_layers_per_block" \
           "cross $U j['cross_attention_dim']=-1 cross_attention_dim" \
           "te-layers $T j['num_hidden_layers']=10**9 num_hidden_layers" \
           "te-width $T j['hidden_size']=10**9 hidden_size" \
           "te-vocab $T j['vocab_size']=10**12 vocab_size" \
           "vae-layers $V j['layers_per_block']=10**9 layers_per_block" \
           "vae-groups $V j['norm_num_groups']=0 norm_num_groups" \
           "vae-groups-odd $V j['norm_num_groups']=7 norm_num_groups" \
           "timesteps $S j['num_train_timesteps']=2*10**9 num_train_timesteps" \
           "idx-number model_index.json j['unet']=5 unet" \
           "idx-list model_index.json j['unet']=['diffusers'] unet" \
           "idx-class model_index.json j['_class_name']=7 _class_name" \
           "unet-string $U j['block_out_channels']='abc' block_out_channels" \
           "unet-float $U j['layers_per_block']=2.5 layers_per_block" \
           "te-string $T j['hidden_size']='big' hidden_size" \
           "vae-null $V j['latent_channels']=None latent_channels" \
           "sched-string $S j['beta_start']='x' beta_start" \
           "sched-list $S j['num_train_timesteps']=[1000] num_train_timesteps"; do
    set -- $c
    d=$(config "$1" "$2" "$3")
    fails "config: $1 ($3)" 5 invalid-format "$(re "$d/$2")" "$4" -- arg -m "$d"
  done
  # Within the bounds but far more than the weights hold: refused before allocation.
  d=$(config wide-layers $U "j['layers_per_block']=16")
  fails "config: 16 layers per block for weights of 2" 5 invalid-format "$(re "$d/$U")" "does not belong" -- arg -m "$d"
  d=$(config wide-te $T "j['num_hidden_layers']=128;j['hidden_size']=4096;j['intermediate_size']=16384;j['num_attention_heads']=32")
  fails "config: a 128-layer text encoder for tiny weights" 5 invalid-format "$(re "$d/$T")" "does not belong" \
    -- arg -m "$d"
  d=$(config not-object $U "j=[1,2]")
  fails "config: a component config that is an array" 5 invalid-format "$(re "$d/$U")" "object" -- arg -m "$d"
}

# ---------------------------------------------------------------- 4. inputs that block or never end
blocking() {
  for part in model_index.json unet/config.json vae/config.json scheduler/scheduler_config.json \
              tokenizer/vocab.json text_encoder/config.json; do
    d=$(pipeline "fifo-${part//\//-}" "$part")
    mkfifo "$d/$part"
    fails "a pipeline whose $part is a FIFO" 2 invalid-argument "$(re "$d/$part")" "not a regular file" -- arg -m "$d"
  done
  d=$(pipeline big-config unet/config.json); truncate -s 5M "$d/unet/config.json"
  fails "a 5 MiB unet/config.json" 2 invalid-argument "$(re "$d/unet/config.json")" "larger than 4 MiB" -- arg -m "$d"
  d=$(pipeline big-vocab tokenizer/vocab.json); truncate -s 100M "$d/tokenizer/vocab.json"
  fails "a 100 MiB tokenizer vocab.json" 2 invalid-argument "$(re "$d/tokenizer/vocab.json")" "larger than 64 MiB" \
    -- arg -m "$d"
  mkfifo "$X/fifo.safetensors" "$X/fifo.jsonl" "$X/fifo.png" "$X/fifo.ckpt" "$X/fifo.json" "$X/fifo.txt.gz"
  fails "gen batch /dev/zero" 2 invalid-argument "/dev/zero" "not a regular file" -- gen_t batch /dev/zero -m "$P" -O "$O"
  fails "gen batch a FIFO" 2 invalid-argument "$(re "$X/fifo.jsonl")" "not a regular file" \
    -- gen_t batch "$X/fifo.jsonl" -m "$P" -O "$O"
  fails "-m a FIFO" 2 invalid-argument "$(re "$X/fifo.safetensors")" "not a regular file" -- ldm "$X/fifo.safetensors"
  fails "--control-image a FIFO" 2 invalid-argument "$(re "$X/fifo.png")" "not a regular file" \
    -- ctl "$X/fifo.png"
  fails "gen info a FIFO" 2 invalid-argument "$(re "$X/fifo.png")" "not a regular file" -- gen_t info "$X/fifo.png"
  fails "--from a FIFO" 2 invalid-argument "$(re "$X/fifo.png")" "not a regular file" -- arg --from "$X/fifo.png"
  fails "gen inspect a FIFO" 2 invalid-argument "$(re "$X/fifo.ckpt")" "not a regular file" \
    -- gen_t inspect "$X/fifo.ckpt"
  fails "gen convert a FIFO" 2 invalid-argument "$(re "$X/fifo.ckpt")" "not a regular file" \
    -- gen_t convert "$X/fifo.ckpt" "$O/out.safetensors"
  fails "bench --request a FIFO" 2 invalid-argument "$(re "$X/fifo.json")" "not a regular file" \
    -- gen_t bench --request "$X/fifo.json" -m "$P"
}

# ---------------------------------------------------------------- 5. views that repeat their storage
views() {
  for f in expanded aliased; do
    fails "gen convert: $f.pth" 6 unsupported "$(re "$X/$f.pth")" "repeat (their|the) storage" \
      -- gen_t convert "$X/$f.pth" "$O/out.safetensors"
    fails "gen inspect: $f.pth" 6 unsupported "$(re "$X/$f.pth")" "repeat (their|the) storage" \
      -- gen_t inspect "$X/$f.pth"
  done
}

# ---------------------------------------------------------------- 6. work for what was not asked
unasked() {
  fails "--threads 100000" 2 invalid-argument "threads" "more than the [0-9]+ CPUs" -- arg --threads 100000
  fails "gen batch --threads 100000" 2 invalid-argument "threads" "more than the [0-9]+ CPUs" \
    -- gen_t batch "$X/one.jsonl" -m "$P" -O "$O" --threads 100000
  rm -rf "$O"; mkdir -p "$O"
  if /usr/bin/time -f %M -o "$GEN_TMP/shard.rss" timeout 60 "$GEN" batch "$X/shard.jsonl" -m "$P" -O "$O" \
       --shard 1/3 -q 2>/dev/null && [ -f "$O/small-0-1.png" ] && [ "$(cat "$GEN_TMP/shard.rss")" -lt 2000000 ]; then
    pass "--shard 1/3 renders its one small job; the other shards' 6.4 million images cost nothing ($(cat "$GEN_TMP/shard.rss") KiB)"
  else bad "--shard beside huge jobs: $(ls "$O"), peak $(cat "$GEN_TMP/shard.rss" 2>&1) KiB"; fi
}

# ---------------------------------------------------------------- 8. silently wrong values
values() {
  fails "--seed 2^64" 2 invalid-argument "--seed|seed" "not a seed" -- arg --seed 18446744073709551616
  fails "--seed -2" 2 invalid-argument "--seed|seed" "not a seed" -- arg --seed -2
  works "--seed -1 (random)" 64 64 -- arg --seed -1
  works "--seed 2^64-1" 64 64 -- arg --seed 18446744073709551615
  fails "--from: a stored seed of 1e30" 2 invalid-argument "$(re "$X/seed-huge.png")" "seed" \
    -- arg --from "$X/seed-huge.png"
  rm -rf "$O"; mkdir -p "$O"
  gen_t batch "$X/seeds.jsonl" -m "$P" -O "$O" -q 2>/dev/null; rc=$?
  "$GEN_PYTHON" - "$O/seeds.results.jsonl" <<'PY' && [ "$rc" = 11 ] &&
import json, sys
r = {x["id"]: x for x in map(json.loads, open(sys.argv[1]))}
assert r["huge"]["status"] == "failed" and "seed" in r["huge"]["error"]["message"], r["huge"]
assert r["minus-two"]["status"] == "failed" and "seed" in r["minus-two"]["error"]["message"], r["minus-two"]
assert r["random"]["status"] == "ok", r["random"]
assert r["big-int"]["status"] == "ok" and r["big-int"]["seeds"] == [18446744073709551615], r["big-int"]
PY
    pass "job seeds: 1e30 and -2 refused, -1 random, 2^64-1 kept exactly" || bad "job seeds: exit $rc"
  fails "a safetensors header starting with a byte-order mark" 5 invalid-format "$(re "$X/bom.safetensors")" \
    "byte-order mark" -- ldm "$X/bom.safetensors"
  fails "a prompt holding NUL (--from)" 2 invalid-argument "prompt" "NUL" \
    -- arg --from "$X/nul-prompt.png"
  fails "--from: a stored request with a wrong type" 2 invalid-argument "$(re "$X/wrong-type.png")" "steps" \
    -- arg --from "$X/wrong-type.png"
  rm -rf "$O"; mkdir -p "$O"
  gen_t batch "$X/nul.jsonl" -m "$P" -O "$O" -q 2>/dev/null; rc=$?
  [ "$rc" = 11 ] && grep '"id":"nul"' "$O/nul.results.jsonl" | grep -q 'prompt: contains a NUL' &&
    [ -f "$O/ok-0-1.png" ] &&
    pass "batch: a prompt holding NUL fails naming the prompt, before rendering" ||
    bad "batch NUL prompt: exit $rc $(cat "$O/nul.results.jsonl" 2>&1)"
}

# ---------------------------------------------------------------- 9. odd but valid
odd() {
  local n244 n255
  n244=$(printf 'a%.0s' $(seq 240)).png n255=$(printf 'b%.0s' $(seq 251)).png
  rm -rf "$O"; mkdir -p "$O"
  arg -o "$O/$n244" && [ -f "$O/$n244" ] && [ "$(ls -A "$O" | wc -l)" = 1 ] &&
    pass "a 244-byte output name" || bad "a 244-byte output name: $(ls -A "$O")"
  rm -rf "$O"; mkdir -p "$O"
  arg -o "$O/$n255" && [ -f "$O/$n255" ] && pass "a 255-byte output name (NAME_MAX)" || bad "a 255-byte name"
  fails "a 256-byte output name" 2 invalid-argument "$(re "$O/x$n255")" "name too long" -- arg -o "$O/x$n255"
  fails "gen batch --max-models 0" 2 invalid-argument "max_models|--max-models" "at least 1" \
    -- gen_t batch "$X/one.jsonl" -m "$P" -O "$O" --max-models 0
  fails "gen batch --max-controlnets 0" 2 invalid-argument "max_controlnets|--max-controlnets" "at least 1" \
    -- gen_t batch "$X/one.jsonl" -m "$P" -O "$O" --max-controlnets 0
}

# ---------------------------------------------------------------- run
stream() {
  local name=$1 f; shift
  ( O=$GEN_TMP/out-$name failures=0
    for f in "$@"; do "$f"; done
    echo "$failures" >"$GEN_TMP/$name.failures" ) >"$GEN_TMP/$name.log" 2>&1 &
}
stream a writes nesting views
stream b blocking unasked values odd configs
wait
for s in a b; do
  cat "$GEN_TMP/$s.log"
  failures=$((failures + $(cat "$GEN_TMP/$s.failures" 2>/dev/null || echo 1)))
done
finish
