#!/usr/bin/env python3
"""Reference control maps, for tests/unit/test_control_image.cpp: edges with OpenCV's Python
package (what diffusers' ControlNet examples use: cv2.Canny on the RGB array), resizing with
Pillow's LANCZOS (what diffusers does to a control image of another size).

Writes tests/data/control/: source.png (a synthetic 96x80 RGB image: shapes, gradients,
noise) and one PNG per case, listed in cases.json.

    python tools/make_control_fixtures.py
"""
import json
import os

import cv2
import numpy as np
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "control")


def source():
    rng = np.random.default_rng(7)
    h, w = 80, 96
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 / w, y * 255 / h, (x + y) * 127 / (w + h)], -1)
    img[(x - 30) ** 2 + (y - 35) ** 2 < 18 ** 2] = (250, 40, 30)
    img[10:30, 55:90] = (20, 200, 60)
    img[50:75, 60:70] = (240, 240, 240)
    img += rng.normal(0, 6, img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def main():
    os.makedirs(OUT, exist_ok=True)
    rgb = source()
    Image.fromarray(rgb).save(os.path.join(OUT, "source.png"))
    cases = []

    def add(name, spec, resize, w, h, out):
        if out.ndim == 2:
            out = np.repeat(out[:, :, None], 3, axis=2)
        Image.fromarray(out).save(os.path.join(OUT, name + ".png"))
        cases.append(dict(name=name, preprocess=spec, resize=resize, width=w, height=h))

    add("canny_100_200", "canny:100:200", "just", 96, 80, cv2.Canny(rgb, 100, 200))
    add("canny_50_150", "canny:50:150", "just", 96, 80, cv2.Canny(rgb, 50, 150))
    add("invert", "invert", "just", 96, 80, 255 - rgb)
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    add("threshold_127", "threshold:127", "just", 96, 80, cv2.threshold(grey, 127, 255, cv2.THRESH_BINARY)[1])
    def resize(img, w, h):
        return np.asarray(Image.fromarray(img).resize((w, h), Image.LANCZOS))

    add("shrink_just", "none", "just", 64, 48, resize(rgb, 64, 48))
    add("enlarge_just", "none", "just", 128, 104, resize(rgb, 128, 104))
    add("shrink_width_only", "none", "just", 64, 80, resize(rgb, 64, 80))
    # crop: scale to cover 64x64 (80 → 64: factor 0.8, 96 → 77), keep the centre 64 columns
    big = resize(rgb, 77, 64)
    add("crop_64x64", "none", "crop", 64, 64, big[:, 6:70])
    # fill: scale to fit 64x64 (96 → 64: factor 2/3, 80 → 53), pad black above and below
    small = resize(rgb, 64, 53)
    filled = np.zeros((64, 64, 3), np.uint8)
    filled[5:58] = small
    add("fill_64x64", "none", "fill", 64, 64, filled)
    add("canny_after_resize", "canny:100:200", "just", 64, 48,
        cv2.Canny(resize(rgb, 64, 48), 100, 200))
    # ControlNet tile's tile_resample (the A1111 extension): INTER_AREA down by R, back up cubic.
    # (A rate of 3.5 differs by one level in a few pixels between Debian's OpenCV 4.6, which gen
    # links, and opencv-python 4.10: only whole rates are compared exactly.)
    for r in (2.0, 4.0):
        h, w = rgb.shape[:2]
        down = cv2.resize(rgb, (int(w / r), int(h / r)), interpolation=cv2.INTER_AREA)
        add(f"tile_resample_{r:g}".replace(".", "_"), f"tile_resample:{r:g}", "just", 96, 80,
            cv2.resize(down, (w, h), interpolation=cv2.INTER_CUBIC))
    add("tile_resample_1", "tile_resample:1", "just", 96, 80, rgb)  # below 1.1: unchanged
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump({"opencv": cv2.__version__, "cases": cases}, f, indent=1)


if __name__ == "__main__":
    main()
