#!/usr/bin/env bash
# SIGTERM / SIGINT on a large request (a tiny model at a size where one model call takes
# seconds): gen stops within a fraction of one model call (the UNet checks the stop flag
# between its blocks), exits 10 with no image and no temporary file, and in bar mode ends the
# bar's line before the error, so "interrupted" starts a clean line.
source "$(dirname "$0")/lib.sh"
: "${GEN_SRC:?}" "${GEN_PYTHON:?GEN_PYTHON must point to the project venv python}"
make_tiny_models
cd "$GEN_TMP"
SIZE=${GEN_INTERRUPT_SIZE:-512}

"$GEN_PYTHON" - "$GEN" "$P" "$SIZE" <<'PY' && pass "SIGTERM inside a model call: exit 10 within half a call, nothing written" || bad "SIGTERM during a model call"
import json, os, signal, subprocess, sys, time
gen, model, size = sys.argv[1:4]
os.makedirs("term", exist_ok=True)
out = "term/big.png"
p = subprocess.Popen([gen, "-p", "x", "-m", model, "-W", size, "-H", size, "--steps", "5", "--seed", "1", "-t", "1",
                      "-o", out, "--progress", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
seen = []
for line in p.stdout:
    if json.loads(line)["event"] == "step":
        seen.append(time.monotonic())
        if len(seen) == 2:
            break
if len(seen) < 2:
    print("gen ended before two steps:", p.wait(), p.stderr.read())
    sys.exit(1)
call = seen[1] - seen[0]          # one step of euler = one model call
time.sleep(0.3 * call)            # well inside the third call
t0 = time.monotonic()
p.send_signal(signal.SIGTERM)
rc = p.wait()
latency = time.monotonic() - t0
err = p.stderr.read().strip().splitlines()
print(f"model call {call:.2f} s; exit {rc} {latency:.2f} s after SIGTERM ({latency / call:.2f} of a call)")
ok = True
if rc != 10:
    print("exit code", rc, "wanted 10"); ok = False
if latency > 0.5 * call:
    print("took more than half a model call to stop"); ok = False
if not err or err[-1] != "gen: error [cancelled]: generation: interrupted by SIGTERM":
    print("stderr:", err); ok = False
if os.listdir("term"):
    print("left files:", os.listdir("term")); ok = False
sys.exit(0 if ok else 1)
PY

# Bar mode and Ctrl-C: the bar's line is ended, then the error on its own line.
"$GEN_PYTHON" - "$GEN" "$P" "$SIZE" <<'PY' && pass "SIGINT in bar mode: the bar line ends, 'interrupted' on a clean line" || bad "bar line after SIGINT"
import os, signal, subprocess, sys, time
gen, model, size = sys.argv[1:4]
os.makedirs("int", exist_ok=True)
with open("bar.err", "w") as err:
    p = subprocess.Popen([gen, "-p", "x", "-m", model, "-W", size, "-H", size, "--steps", "4", "--seed", "1", "-t", "1",
                          "-o", "int/big.png", "--progress", "bar"], stdout=subprocess.DEVNULL, stderr=err)
    while "it/s" not in open("bar.err", newline="").read():
        if p.poll() is not None:
            print("gen ended early"); sys.exit(1)
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    rc = p.wait()
text = open("bar.err", newline="").read()  # "\r" kept
lines = text.split("\n")
last = [l for l in lines if l][-1]
before = lines[lines.index(last) - 1].split("\r")[-1]
print(repr(text[-300:]))
ok = rc == 10 and last == "gen: error [cancelled]: generation: interrupted by SIGINT" and "it/s" in before \
    and text.endswith("\n") and not os.listdir("int")
sys.exit(0 if ok else 1)
PY
finish
