#!/usr/bin/env python3
"""Fixture for gen's training-image resize and crop (src/training/dataset.hpp fit_image,
tests/unit/test_training_options.cpp): what diffusers' examples/controlnet/train_controlnet.py
does to each training and control image before ToTensor —

    transforms.Resize(resolution, interpolation=InterpolationMode.BILINEAR)   # shorter side
    transforms.CenterCrop(resolution)

run by torchvision itself on PIL images (Pillow's bilinear filter). Pseudo-random RGB pictures of
odd and even sizes, portrait and landscape, smaller and larger than the resolution, one already
at the resolution; tests/data/training/resize.safetensors holds
    in.<k>   uint8 [H, W, 3]          the picture
    out.<k>  uint8 [R, R, 3]          torchvision's result
and the resolution in the metadata.

    python tools/make_train_resize_fixture.py [--out tests/data/training]
"""
import argparse
import os

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file
from torchvision import transforms

SIZES = [(50, 37), (37, 50), (64, 64), (80, 64), (30, 20), (32, 32), (33, 91)]  # (width, height)
RESOLUTION = 32


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data", "training"))
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    fit = transforms.Compose([
        transforms.Resize(RESOLUTION, interpolation=transforms.InterpolationMode.BILINEAR),
        transforms.CenterCrop(RESOLUTION),
    ])
    tensors = {}
    for k, (w, h) in enumerate(SIZES):
        # smooth gradients plus noise: both the filter's weights and its rounding matter
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1), (xx + yy) * 127 // (w + h)], -1)
        pic = np.clip(base + rng.integers(-40, 41, size=(h, w, 3)), 0, 255).astype(np.uint8)
        out = np.asarray(fit(Image.fromarray(pic, "RGB")))
        assert out.shape == (RESOLUTION, RESOLUTION, 3), out.shape
        tensors[f"in.{k}"] = torch.from_numpy(pic.copy())
        tensors[f"out.{k}"] = torch.from_numpy(out.copy())
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "resize.safetensors")
    save_file(tensors, path, metadata={"resolution": str(RESOLUTION), "count": str(len(SIZES))})
    print(path)


if __name__ == "__main__":
    main()
