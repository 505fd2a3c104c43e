#!/usr/bin/env python3
"""Reference outputs for A1111's "outpainting mk2" matched-noise fill
(tests/unit/test_matched_noise.cpp, src/editing/matched_noise.cpp).

A1111 (stable-diffusion-webui) is not installable. This script runs A1111's own
`get_matched_noise` (scripts/outpainting_mk_2.py; taken there from parlance-zz/g-diffuser-bot)
from a copy of that file the user fetched, without importing the rest of A1111: the function
is cut out of the file with `ast` and executed with numpy and scikit-image, as A1111 imports them.

    # fetch stable-diffusion-webui's scripts/outpainting_mk_2.py first, e.g. with git:
    python tools/a1111_matched_noise_reference.py --a1111-file PATH/outpainting_mk_2.py

Writes tests/data/matched_noise/:
  rng.json             numpy.random.default_rng(seed).random(n) for a few seeds (the PCG64
                       stream src/editing/matched_noise.cpp reproduces)
  <case>_image.png     the extended canvas (new pixels black, as mk2's Image.new("RGB"))
  <case>_mask.png      the mask (white = new pixels)
  <case>_out.png       mk2's result, 8-bit as mk2 stores it: np.clip(noised * 255, 0, 255).astype(uint8)
  outputs.safetensors  the same before the 8-bit step (float64, one tensor per case), for the
                       close comparison
  cases.json           the cases: files, noise_q, color_variation
"""
import argparse
import ast
import json
import os

import numpy as np
import skimage  # noqa: F401  (get_matched_noise uses skimage.exposure)
import skimage.exposure  # noqa: F401
from PIL import Image
from safetensors.numpy import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "matched_noise")


def load_get_matched_noise(path):
    source = open(path, encoding="utf-8").read()
    tree = ast.parse(source)
    fn = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "get_matched_noise"]
    if not fn:
        raise SystemExit(f"{path}: no get_matched_noise function")
    module = ast.Module(body=fn, type_ignores=[])
    scope = {"np": np, "skimage": skimage, "math": __import__("math")}
    exec(compile(module, path, "exec"), scope)
    return scope["get_matched_noise"]


def photo(h, w, seed):
    """A small synthetic 'photo': gradients, two shapes, noise (8-bit RGB)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([40 + x * 180 / w, 60 + y * 150 / h, 200 - (x + y) * 90 / (w + h)], -1)
    img[(x - w // 3) ** 2 + (y - h // 2) ** 2 < (min(h, w) // 5) ** 2] = (210, 60, 40)
    img[h // 5: h // 2, w // 2: w - 4] = (30, 170, 90)
    img += rng.normal(0, 8, img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def canvas(src, left, right, top, bottom):
    h, w, _ = src.shape
    out = np.zeros((h + top + bottom, w + left + right, 3), np.uint8)
    out[top:top + h, left:left + w] = src
    mask = np.full(out.shape, 255, np.uint8)
    mask[top:top + h, left:left + w] = 0
    return out, mask


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--a1111-file", required=True, help="stable-diffusion-webui's scripts/outpainting_mk_2.py")
    args = ap.parse_args()
    get_matched_noise = load_get_matched_noise(args.a1111_file)
    os.makedirs(OUT, exist_ok=True)

    rng = {str(seed): np.random.default_rng(seed).random(40).tolist() for seed in (0, 1, 12345, 2**40 + 7)}
    with open(os.path.join(OUT, "rng.json"), "w") as f:
        json.dump(rng, f)

    cases = []
    floats = {}
    # (name, source h, w, left, right, top, bottom, noise_q, color_variation)
    specs = [
        ("right", 40, 32, 0, 24, 0, 0, 1.0, 0.05),      # one side, tall canvas
        ("all", 24, 40, 8, 16, 8, 8, 1.0, 0.05),        # every side, wide canvas
        ("topq", 32, 32, 0, 0, 16, 0, 0.5, 0.3),        # other fall-off and colour variation
        ("left_grey", 32, 24, 16, 0, 0, 8, 2.0, 1.0),
    ]
    for name, h, w, l, r, t, b, q, cv in specs:
        src = photo(h, w, seed=len(cases) + 3)
        image, mask = canvas(src, l, r, t, b)
        np_image = (image / 255.0).astype(np.float64)
        np_mask = (mask / 255.0).astype(np.float64)
        noised = get_matched_noise(np_image, np_mask, q, cv)
        out = np.clip(noised * 255.0, 0.0, 255.0).astype(np.uint8)
        Image.fromarray(image).save(os.path.join(OUT, f"{name}_image.png"))
        Image.fromarray(mask).save(os.path.join(OUT, f"{name}_mask.png"))
        Image.fromarray(out).save(os.path.join(OUT, f"{name}_out.png"))
        floats[name] = np.ascontiguousarray(noised.astype(np.float64))
        cases.append({"name": name, "noise_q": q, "color_variation": cv})
    save_file(floats, os.path.join(OUT, "outputs.safetensors"))
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1)
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
