#!/usr/bin/env python3
"""A full-size UniControl control model with random weights (the reference's layout: SD 1.5's
ControlNet encoder plus the per-task hint blocks, the shared hint trunk, the HyperNet 768 → 1280
and its 12 + 2 layer nets, under control_model.*), for the load-and-run check of docs/unicontrol.md.
The real checkpoints cannot be downloaded here. Not part of the test suite (it writes 0.75 GB).

    python tools/make_sd15_random.py --out build/sd15          # the base model and control-sd15-random
    python tools/make_unicontrol_random.py build/sd15/control-sd15-random.safetensors \\
        build/sd15/unicontrol-random.safetensors [--dtype fp16|fp32]

The ControlNet encoder is the one of make_sd15_random.py's ControlNet; the UniControl parts are
made as tools/make_tiny_unicontrol.py makes them (random, the HyperNet as wide as SD 1.5's text
encoder, 768). It prints the control model's parameter count (377,414,640 for the reference's
v1.0 / v1.1 layout: tools/unicontrol_reference.py --full-count).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch
from safetensors.torch import load_file, save_file


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("control")
    ap.add_argument("out")
    ap.add_argument("--dtype", choices=("fp16", "fp32"), default="fp16")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = os.path.join(tmp, "text_encoder.json")
        with open(cfg, "w") as f:
            json.dump({"hidden_size": 768}, f)
        fp32 = os.path.join(tmp, "unicontrol.safetensors")
        subprocess.run([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "make_tiny_unicontrol.py"),
                        a.control, cfg, fp32], check=True)
        d = load_file(fp32)
    dtype = torch.float16 if a.dtype == "fp16" else torch.float32
    save_file({k: v.to(dtype).contiguous() for k, v in d.items()}, a.out)
    print(json.dumps({"parameters": sum(v.numel() for v in d.values()), "tensors": len(d), "file": a.out}))


if __name__ == "__main__":
    main()
