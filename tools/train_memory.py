#!/usr/bin/env python3
"""Peak memory and time of `gen train controlnet` with and without --gradient-checkpointing
(and with --mixed-precision bf16), for docs/training.md. Each configuration runs as its own
process; its peak resident set (ru_maxrss of that child alone, from os.wait4) and wall time are
reported. The peak includes what does not depend on the option (libtorch, the models, the
cache), so the difference between the rows is the activations that checkpointing frees.

    python tools/train_memory.py --gen build/tools/gen --model build/models/diffusers/tiny-sd15-pipeline \
        --size 256 --batch-size 4 [--steps 3] [--work /tmp/train-memory]

The data set is `--count` pictures of `--size`² (a disc and its outline), made here; the
ControlNet is `gen controlnet init` of the model.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

from PIL import Image, ImageDraw


def run(cmd):
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - start
    err = proc.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{err}")
    return usage.ru_maxrss / 1024.0, seconds  # MiB (ru_maxrss is in KiB on Linux)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gen", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--count", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--work", default="/tmp/gen-train-memory")
    args = ap.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    data = os.path.join(args.work, "data")
    os.makedirs(data)
    rows = []
    s = args.size
    for i in range(args.count):
        img = Image.new("RGB", (s, s), (240, 240, 240))
        ctl = Image.new("RGB", (s, s), (0, 0, 0))
        box = (s // 8 + i, s // 6, s - s // 8, s - s // 6 - i)
        ImageDraw.Draw(img).ellipse(box, fill=(200, 40, 40))
        ImageDraw.Draw(ctl).ellipse(box, outline=(255, 255, 255))
        img.save(f"{data}/img{i}.png")
        ctl.save(f"{data}/ctl{i}.png")
        rows.append({"image": f"img{i}.png", "conditioning_image": f"ctl{i}.png", "text": "a red disc"})
    with open(f"{data}/metadata.jsonl", "w") as f:
        f.write("\n".join(json.dumps(r) for r in rows) + "\n")
    cn = os.path.join(args.work, "cn0")
    subprocess.run([args.gen, "controlnet", "init", args.model, cn], check=True, stdout=subprocess.DEVNULL)
    base = [args.gen, "train", "controlnet", "-m", args.model, "--controlnet", cn, "--data", data,
            "--batch-size", str(args.batch_size), "--steps", str(args.steps), "--threads", str(args.threads)]
    print(f"{args.count} pictures of {s}x{s}, batch {args.batch_size}, {args.steps} steps, {args.threads} thread(s)")
    print(f"{'configuration':<34} {'peak RSS MiB':>12} {'wall s':>8}")
    for name, extra in (("fp32", []), ("fp32 + gradient checkpointing", ["--gradient-checkpointing"]),
                        ("bf16", ["--mixed-precision", "bf16"]),
                        ("bf16 + gradient checkpointing", ["--mixed-precision", "bf16", "--gradient-checkpointing"])):
        out = os.path.join(args.work, name.replace(" ", "-").replace("+", "and"))
        rss, secs = run(base + ["-o", out] + extra)
        print(f"{name:<34} {rss:12.0f} {secs:8.1f}")


if __name__ == "__main__":
    main()
