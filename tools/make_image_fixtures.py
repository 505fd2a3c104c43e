#!/usr/bin/env python3
"""Writes the image fixtures of the C++ image tests (tests/data/images/).

Small PNG and JPEG files written by the reference (Pillow) and, for the layouts
Pillow cannot write (16-bit RGB/RGBA/grey+alpha, 2/4-bit grey, interlacing, a
tRNS colour key), by the small PNG writer below. Next to them, fixtures.json
holds for each file the pixels that gen must decode, as hex of the row-major
interleaved samples (16-bit: big-endian pairs), and the text chunks and EXIF
orientation it must report.

Where the expected pixels come from:
  - files Pillow wrote: Pillow's own decoding of the file, converted to the
    layout gen returns (palette -> RGB/RGBA, 1-bit -> 8-bit grey, CMYK -> RGB, EXIF
    orientation applied with ImageOps.exif_transpose as A1111 does);
  - files the small writer wrote: the array it was given; the script checks
    that Pillow decodes each of them to the same values wherever Pillow can
    represent them (it reads 16-bit RGB as 8-bit, keeping the high byte).
JPEG decoding may differ slightly between gen's libjpeg-turbo and the one in
Pillow's wheel (different versions, SIMD paths); the tolerance per file is in
fixtures.json (see JPEG_TOLERANCE).

Usage: GEN_PYTHON tools/make_image_fixtures.py [OUT_DIR]   (needs Pillow, numpy)
"""
import io
import json
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image, ImageOps, PngImagePlugin
import PIL

# Largest per-sample difference accepted between gen's JPEG decoding and
# Pillow's. Both use libjpeg-turbo's accurate integer IDCT and fancy
# upsampling, which are exact integer algorithms, so equal results are
# expected; 2 levels leave room for a different libjpeg-turbo build (SIMD vs C
# merged upsampling and colour conversion round differently by one level).
# CMYK adds Pillow's own CMYK->RGB rounding (another level). Observed when
# these fixtures were made (Pillow 13.0 with libjpeg-turbo 3.x against Debian's
# libjpeg-turbo 2.1.5): identical samples for every file.
JPEG_TOLERANCE = 2
CMYK_TOLERANCE = 3

rng = np.random.default_rng(20240601)


# ---------------------------------------------------------------- small PNG writer

def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def pack_rows(arr, bit_depth):
    """arr: (h, w, c) integer array -> list of packed row bytes (filter byte not included)."""
    h, w, c = arr.shape
    rows = []
    for y in range(h):
        samples = arr[y].reshape(-1)
        if bit_depth == 16:
            rows.append(samples.astype(">u2").tobytes())
        elif bit_depth == 8:
            rows.append(samples.astype(np.uint8).tobytes())
        else:
            per_byte = 8 // bit_depth
            out = bytearray()
            for i in range(0, len(samples), per_byte):
                b = 0
                group = samples[i:i + per_byte]
                for k, v in enumerate(group):
                    b |= int(v) << (8 - bit_depth * (k + 1))
                out.append(b)
            rows.append(bytes(out))
    return rows


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def raw_png(arr, bit_depth, color_type, interlace=False, before_idat=b"", filters=(0,)):
    """PNG bytes of arr (h, w, c) with the given IHDR. Rows use the filter types
    in `filters` in turn (0 none, 1 sub, 2 up; 3/4 not needed here)."""
    h, w, _ = arr.shape
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 1 if interlace else 0)
    bpp = max(1, (arr.shape[2] * bit_depth) // 8)
    raw = bytearray()
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    k = 0
    for xs, ys, dx, dy in passes:
        sub = arr[ys::dy, xs::dx]
        if sub.shape[0] == 0 or sub.shape[1] == 0:
            continue
        prev = None
        for row in pack_rows(sub, bit_depth):
            f = filters[k % len(filters)]
            k += 1
            if f == 2 and prev is None:
                f = 0
            if f == 0:
                data = row
            elif f == 1:
                data = bytes((row[i] - (row[i - bpp] if i >= bpp else 0)) & 255 for i in range(len(row)))
            else:
                data = bytes((row[i] - prev[i]) & 255 for i in range(len(row)))
            raw.append(f)
            raw += data
            prev = row
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + before_idat +
            chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + chunk(b"IEND", b""))


# ---------------------------------------------------------------- helpers

def hexpix(arr, bit_depth):
    a = np.asarray(arr)
    if a.ndim == 2:
        a = a[:, :, None]
    return (a.astype(">u2") if bit_depth == 16 else a.astype(np.uint8)).tobytes().hex()


def pattern(h, w, c, maxval, smooth=False):
    if not smooth:
        return rng.integers(0, maxval + 1, size=(h, w, c), dtype=np.int64)
    y, x = np.mgrid[0:h, 0:w]
    out = np.zeros((h, w, c), dtype=np.int64)
    for k in range(c):
        v = (x * (k + 1) * 7 + y * (5 - k) * 9) % 256
        v = v + rng.integers(-6, 7, size=(h, w))
        out[:, :, k] = np.clip(v, 0, 255)
    return out


def pil(arr, mode):
    """A Pillow image of `mode` from an (h, w[, c]) array."""
    a = np.asarray(arr)
    data = a.astype("<u2").tobytes() if mode == "I;16" else a.astype(np.uint8).tobytes()
    return Image.frombytes(mode, (a.shape[1], a.shape[0]), data)


def pillow_pixels(path):
    """What gen must decode, from Pillow's decoding of `path`."""
    im = Image.open(path)
    im.load()
    im = ImageOps.exif_transpose(im)
    mode = im.mode
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode == "1":
        im = im.convert("L")
    elif mode == "CMYK":
        im = im.convert("RGB")
    a = np.array(im)
    depth = 16 if a.dtype != np.uint8 else 8
    if a.ndim == 2:
        a = a[:, :, None]
    return a, depth


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "images")
    os.makedirs(out, exist_ok=True)
    entries = []

    def add(name, arr, depth, tolerance=0, text=None, orientation=1, source_depth=None, fmt="png"):
        arr = np.asarray(arr)
        if arr.ndim == 2:
            arr = arr[:, :, None]
        entries.append({
            "file": name, "format": fmt, "width": int(arr.shape[1]), "height": int(arr.shape[0]),
            "channels": int(arr.shape[2]), "bit_depth": depth,
            "source_bit_depth": source_depth or depth, "tolerance": tolerance,
            "orientation": orientation, "text": text or {}, "pixels": hexpix(arr, depth)})

    def pillow_file(name, im, tolerance=0, orientation=1, source_depth=None, after_idat=b"", **save):
        path = os.path.join(out, name)
        buf = io.BytesIO()
        im.save(buf, format="JPEG" if name.endswith(".jpg") else "PNG", **save)
        data = buf.getvalue()
        if after_idat:  # chunks spliced in before IEND (the last 12 bytes)
            assert data[-8:-4] == b"IEND"
            data = data[:-12] + after_idat + data[-12:]
        with open(path, "wb") as f:
            f.write(data)
        arr, depth = pillow_pixels(path)
        text = {}
        if name.endswith(".png"):
            reread = Image.open(path)
            reread.load()
            text = dict(reread.text)
        add(name, arr, depth, tolerance, text, orientation, source_depth,
            "jpeg" if name.endswith(".jpg") else "png")

    def raw_file(name, arr, depth, color_type, expect=None, pillow_check=None, **kw):
        path = os.path.join(out, name)
        with open(path, "wb") as f:
            f.write(raw_png(arr, depth, color_type, **kw))
        want = arr if expect is None else expect
        if pillow_check is not None:  # Pillow must agree where it can
            got = pillow_check(Image.open(path))
            exp = np.asarray(want if pillow_check.__name__ != "hi" else want >> 8)
            assert np.array_equal(np.asarray(got).reshape(exp.shape), exp), name
        out_depth = 16 if depth == 16 else 8
        add(name, want, out_depth, source_depth=depth)

    h, w = 11, 13  # odd sizes: partial bytes, partial Adam7 passes

    # Written by Pillow.
    pillow_file("grey8.png", pil(pattern(h, w, 1, 255)[:, :, 0].astype(np.uint8), "L"))
    g16 = pattern(h, w, 1, 65535)[:, :, 0].astype(np.uint16)
    g16[0, 0], g16[0, 1] = 0, 65535
    pillow_file("grey16.png", pil(g16, "I;16"))
    pillow_file("ga8.png", pil(pattern(h, w, 2, 255).astype(np.uint8), "LA"))
    pillow_file("rgb8.png", pil(pattern(h, w, 3, 255).astype(np.uint8), "RGB"))
    rgba = pattern(h, w, 4, 255).astype(np.uint8)
    rgba[0, :, 3], rgba[1, :, 3] = 0, 255
    pillow_file("rgba8.png", pil(rgba, "RGBA"))
    pillow_file("grey1.png", Image.fromarray(pattern(h, w, 1, 1)[:, :, 0].astype(bool)), source_depth=1)
    pal = pil(pattern(h, w, 1, 15)[:, :, 0].astype(np.uint8), "P")
    pal.putpalette([v for i in range(16) for v in (i * 16, 255 - i * 9, (i * 77) % 256)])
    pillow_file("palette4.png", pal, source_depth=4, bits=4)
    palt = pil(pattern(h, w, 1, 255)[:, :, 0].astype(np.uint8), "P")
    palt.putpalette([v for i in range(256) for v in (i, (i * 3) % 256, 255 - i)])
    palt.info["transparency"] = bytes((i * 5) % 256 for i in range(256))
    pillow_file("palette8_trns.png", palt, transparency=palt.info["transparency"])

    # A1111-style text chunks: tEXt for Latin-1 values, iTXt otherwise, plus
    # compressed zTXt / iTXt and a tEXt chunk after the image data.
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a photo of a café, best quality\nNegative prompt: blurry\n"
                  "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1234, Size: 13x11")
    info.add_text("gen", json.dumps({"prompt": "猫 on a mat ✓", "seed": 1}, ensure_ascii=False))
    info.add_text("long", "Lorem ipsum dolor sit amet. " * 40, zip=True)
    info.add_itxt("unicode zipped", "ünïcødé 🐈 " * 20, zip=True)
    info.add_text("empty", "")
    pillow_file("text_a1111.png", pil(pattern(h, w, 3, 255).astype(np.uint8), "RGB"),
                pnginfo=info, after_idat=chunk(b"tEXt", b"after idat\x00written after the pixels \xe9"))

    # EXIF orientations 2..8 in a PNG eXIf chunk (lossless, so exact).
    small = pil(pattern(3, 5, 3, 255).astype(np.uint8), "RGB")
    for o in range(2, 9):
        exif = Image.Exif()
        exif[0x0112] = o
        pillow_file("orient%d.png" % o, small, orientation=o, exif=exif)

    # Written by the small writer (layouts Pillow cannot write).
    hi = lambda im: np.array(im)  # noqa: E731 (Pillow keeps the high byte of 16-bit RGB)
    hi.__name__ = "hi"
    same = lambda im: np.array(im)  # noqa: E731
    raw_file("rgb16.png", pattern(h, w, 3, 65535), 16, 2, pillow_check=hi)
    raw_file("rgba16.png", pattern(h, w, 4, 65535), 16, 6, pillow_check=hi, filters=(0, 1, 2))
    raw_file("ga16.png", pattern(h, w, 2, 65535), 16, 4)
    for bits in (2, 4):
        a = pattern(h, w, 1, (1 << bits) - 1)
        raw_file("grey%d.png" % bits, a, bits, 0, expect=a * (255 // ((1 << bits) - 1)),
                 pillow_check=lambda im: np.array(im.convert("L")))
    a = pattern(h, w, 3, 255)
    raw_file("interlaced_rgb8.png", a, 8, 2, interlace=True, pillow_check=same, filters=(0, 1, 2))
    a = pattern(h, w, 1, 15)
    raw_file("interlaced_grey4.png", a, 4, 0, interlace=True, expect=a * 17,
             pillow_check=lambda im: np.array(im.convert("L")))
    a = pattern(h, w, 1, 65535)
    raw_file("interlaced_grey16.png", a, 16, 0, interlace=True)
    # RGB with a tRNS colour key: gen adds alpha (0 where the key matches).
    a = pattern(h, w, 3, 255)
    a[2, 3] = a[5, 7] = (10, 20, 30)
    rgba_want = np.concatenate([a, np.full((h, w, 1), 255)], axis=2)
    rgba_want[2, 3, 3] = rgba_want[5, 7, 3] = 0
    raw_file("rgb_trns.png", a, 8, 2, expect=rgba_want,
             before_idat=chunk(b"tRNS", struct.pack(">HHH", 10, 20, 30)),
             pillow_check=lambda im: np.array(im.convert("RGBA")))

    # JPEGs (Pillow, libjpeg-turbo): decoded by Pillow for the reference.
    jh, jw = 24, 32
    pillow_file("grey.jpg", pil(pattern(jh, jw, 1, 255, True)[:, :, 0].astype(np.uint8), "L"),
                tolerance=JPEG_TOLERANCE, quality=90)
    photo = pil(pattern(jh, jw, 3, 255, True).astype(np.uint8), "RGB")
    pillow_file("rgb420.jpg", photo, tolerance=JPEG_TOLERANCE, quality=90)
    pillow_file("rgb444.jpg", photo, tolerance=JPEG_TOLERANCE, quality=95, subsampling=0)
    pillow_file("progressive.jpg", photo, tolerance=JPEG_TOLERANCE, quality=85, progressive=True)
    pillow_file("cmyk.jpg", pil(pattern(jh, jw, 4, 255, True).astype(np.uint8), "CMYK"),
                tolerance=CMYK_TOLERANCE, quality=90)
    exif = Image.Exif()
    exif[0x0112] = 6
    pillow_file("orient6.jpg", photo, tolerance=JPEG_TOLERANCE, orientation=6, quality=90, exif=exif)

    with open(os.path.join(out, "fixtures.json"), "w") as f:
        json.dump({"pillow": PIL.__version__, "numpy": np.__version__, "images": entries}, f, indent=1,
                  ensure_ascii=False)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(out, n)) for n in os.listdir(out))
    print("wrote %d images to %s (%d bytes in all)" % (len(entries), out, total))


if __name__ == "__main__":
    main()
