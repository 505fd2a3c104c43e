#!/usr/bin/env python3
"""How well the demo model follows its control image and its caption (docs/training.md#the-demo-model).

For each sample of a shapes data set (`gen train shapes`, a seed the training did not use), gen draws
the caption with the sample's outline as the ControlNet's control image; the image is then read as
"shape" pixels (nearer, in RGB, to the caption's shape colour than to its background colour) and
compared with the sample's filled mask:

  iou     |shape ∩ mask| / |shape ∪ mask|, averaged over the samples
  colour  the fraction of samples whose mean colour inside the mask is nearest, of the palette, to
          the caption's shape colour

    python tools/demo_eval.py --gen build/tools/gen --model M --controlnet C1 [C2 ...] --data EVAL
        [--steps 20] [--csv out.csv] [--svg out.svg] [--min-iou X --min-colour Y]

Several ControlNets (e.g. training checkpoints) give one row each; --svg plots iou and colour
against the step number found in each path (checkpoint-<step>). --min-iou / --min-colour make it a
check: exit 1 when the last ControlNet scores below them. Needs numpy and Pillow.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

PALETTE = {  # src/training/shapes.cpp shape_palette()
    "red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220),
    "yellow": (240, 210, 40), "white": (245, 245, 245), "black": (20, 20, 20),
}


def score(image, mask, colour, background):
    img = np.asarray(Image.open(image).convert("RGB"), dtype=np.float64)
    fg, bg = np.array(PALETTE[colour], float), np.array(PALETTE[background], float)
    shape = np.linalg.norm(img - fg, axis=2) < np.linalg.norm(img - bg, axis=2)
    m = np.asarray(Image.open(mask).convert("L")) > 127
    iou = (shape & m).sum() / max(1, (shape | m).sum())
    inside = img[m].mean(axis=0)
    nearest = min(PALETTE, key=lambda k: np.linalg.norm(inside - np.array(PALETTE[k], float)))
    return float(iou), nearest == colour


def evaluate(gen, model, controlnet, samples, folder, steps, out_dir, extra):
    ious, colours = [], []
    for i, s in enumerate(samples):
        out = os.path.join(out_dir, f"{i:03d}.png")
        cmd = [gen, "-m", model, "-p", s["text"], "-W", "64", "-H", "64", "--steps", str(steps), "--seed", str(i),
               "-o", out, "--overwrite"] + extra
        if controlnet:
            cmd += ["--control", controlnet, "--control-image", os.path.join(folder, s["conditioning_image"])]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        iou, ok = score(out, os.path.join(folder, s["mask"]), s["colour"], s["background"])
        ious.append(iou)
        colours.append(ok)
    return float(np.mean(ious)), float(np.mean(colours))


def step_of(path):
    m = re.search(r"checkpoint-(\d+)", path)
    return int(m.group(1)) if m else None


def svg(rows, path):
    w, h, left, bottom = 520, 300, 50, 40
    steps = [r[0] for r in rows]
    xmax = max(steps) or 1

    def x(s):
        return left + (w - left - 20) * s / xmax

    def y(v):
        return h - bottom - (h - bottom - 20) * v

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11">',
             f'<rect width="{w}" height="{h}" fill="white"/>',
             f'<line x1="{left}" y1="{y(0)}" x2="{w - 20}" y2="{y(0)}" stroke="black"/>',
             f'<line x1="{left}" y1="{y(0)}" x2="{left}" y2="{y(1)}" stroke="black"/>']
    for v in (0, 0.25, 0.5, 0.75, 1):
        parts.append(f'<text x="{left - 6}" y="{y(v) + 4}" text-anchor="end">{v:g}</text>')
    for s in steps:
        parts.append(f'<text x="{x(s)}" y="{h - bottom + 14}" text-anchor="middle">{s}</text>')
    parts.append(f'<text x="{(w + left) / 2}" y="{h - 6}" text-anchor="middle">ControlNet training step</text>')
    for k, colour, label in ((1, "#c03030", "outline IoU"), (2, "#3050c0", "caption colour right")):
        pts = " ".join(f"{x(r[0]):.1f},{y(r[k]):.1f}" for r in rows)
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="2"/>')
        parts.append(f'<text x="{left + 10}" y="{12 + 14 * k}" fill="{colour}">{label}</text>')
    parts.append("</svg>\n")
    with open(path, "w") as f:
        f.write("\n".join(parts))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gen", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--controlnet", nargs="*", default=[])
    ap.add_argument("--data", required=True)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--csv")
    ap.add_argument("--svg")
    ap.add_argument("--min-iou", type=float)
    ap.add_argument("--min-colour", type=float)
    ap.add_argument("--gen-args", default="", help="more gen options, split on spaces")
    a = ap.parse_args()
    with open(os.path.join(a.data, "metadata.jsonl")) as f:
        samples = [json.loads(line) for line in f if line.strip()]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for cn in a.controlnet or [None]:
            iou, colour = evaluate(a.gen, a.model, cn, samples, a.data, a.steps, tmp, a.gen_args.split())
            step = step_of(cn) if cn else None
            rows.append((step if step is not None else 0, iou, colour, cn or "(no ControlNet)"))
            print(f"{cn or '(no ControlNet)'}: iou {iou:.3f}  colour {colour:.3f}", flush=True)
    if a.csv:
        with open(a.csv, "w") as f:
            f.write("step,iou,colour,controlnet\n" + "".join(f"{r[0]},{r[1]:.4f},{r[2]:.4f},{r[3]}\n" for r in rows))
    if a.svg:
        svg(sorted(rows), a.svg)
    last = rows[-1]
    if (a.min_iou is not None and last[1] < a.min_iou) or (a.min_colour is not None and last[2] < a.min_colour):
        print(f"below the bar: iou {last[1]:.3f} (min {a.min_iou}), colour {last[2]:.3f} (min {a.min_colour})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
