"""Checks with Pillow the images that test_image.cpp (ImagePillow.*) wrote.

Usage: python image_reference.py DIR, where DIR/cases.json lists each file with
the pixels gen wrote (hex of row-major samples, 16-bit as big-endian pairs),
its layout, the text chunks and an optional tolerance (JPEG). Prints "SKIP: ..."
and exits 0 when Pillow or numpy is missing; exits 1 on any mismatch.
"""
import json
import os
import sys

try:
    import numpy as np
    from PIL import Image
except ImportError as e:  # pragma: no cover
    print("SKIP: %s" % e)
    sys.exit(0)


def expected(case):
    raw = bytes.fromhex(case["pixels"])
    dtype = ">u2" if case["bit_depth"] == 16 else np.uint8
    a = np.frombuffer(raw, dtype=dtype).astype(np.int64)
    return a.reshape(case["height"], case["width"], case["channels"])


def pillow_view(im, case):
    """Pillow's decoding, and gen's expected pixels in Pillow's representation."""
    want = expected(case)
    got = np.array(im).astype(np.int64)
    if got.ndim == 2:
        got = got[:, :, None]
    if case["bit_depth"] == 16 and case["channels"] != 1:
        want = want >> 8  # Pillow keeps the high byte of 16-bit RGB(A) and LA
    if case["channels"] == 2 and im.mode == "RGBA":  # Pillow reads 16-bit LA as RGBA
        if not (np.array_equal(got[:, :, 0], got[:, :, 1]) and np.array_equal(got[:, :, 0], got[:, :, 2])):
            return got, None
        got = got[:, :, [0, 3]]
    return got, want


def main():
    folder = sys.argv[1]
    with open(os.path.join(folder, "cases.json")) as f:
        cases = json.load(f)
    bad = 0
    for case in cases:
        path = os.path.join(folder, case["file"])
        im = Image.open(path)
        im.load()
        got, want = pillow_view(im, case)
        tol = case.get("tolerance", 0)
        if want is None or got.shape != want.shape:
            print("%s: Pillow mode %s shape %s, gen wrote %s channels" % (case["file"], im.mode, got.shape,
                                                                      case["channels"]))
            bad += 1
            continue
        diff = int(np.abs(got - want).max())
        if diff > tol:
            print("%s: pixels differ by up to %d (tolerance %d)" % (case["file"], diff, tol))
            bad += 1
        text = dict(getattr(im, "text", {}) or {})
        if text != case["text"]:
            print("%s: text chunks %r, gen wrote %r" % (case["file"], text, case["text"]))
            bad += 1
    print("%d of %d files read by Pillow as gen wrote them" % (len(cases) - bad, len(cases)))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
