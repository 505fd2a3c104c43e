#!/usr/bin/env python3
"""PSNR in dB between two 8-bit images of the same size (RGB), as issue 5 states its
fp16-GPU vs fp32-CPU target: 10·log10(255² / mean squared difference) over all pixels and
channels. Prints the value; with --min, exits 1 when it is below.

    python tools/psnr.py a.png b.png [--min 30]
"""
import argparse
import math
import sys

import numpy as np
from PIL import Image


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--min", type=float, default=None, help="fail (exit 1) below this many dB")
    args = ap.parse_args()
    try:
        a = np.asarray(Image.open(args.a).convert("RGB"), dtype=np.float64)
        b = np.asarray(Image.open(args.b).convert("RGB"), dtype=np.float64)
    except OSError as e:
        print(f"psnr: {e}", file=sys.stderr)
        return 2
    if a.shape != b.shape:
        print(f"psnr: {args.a} is {a.shape[1]}x{a.shape[0]} but {args.b} is {b.shape[1]}x{b.shape[0]}", file=sys.stderr)
        return 2
    mse = float(np.mean((a - b) ** 2))
    psnr = math.inf if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)
    print(f"PSNR {psnr:.2f} dB (max difference {int(np.max(np.abs(a - b)))} levels)")
    return 1 if args.min is not None and psnr < args.min else 0


if __name__ == "__main__":
    sys.exit(main())
