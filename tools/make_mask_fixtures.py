#!/usr/bin/env python3
"""Reference pixels for tests/unit/test_mask_ops.cpp (src/editing/): inpainting masks, crops,
resizes and overlays as diffusers (VaeImageProcessor), Pillow and OpenCV make them.

Writes tests/data/masks/: small PNG inputs and outputs, and cases.json listing each case (the
function, its arguments, the input and expected files, crop boxes). Every expected file is made
by the reference itself:
  - diffusers 0.42's VaeImageProcessor (get_crop_region, resize with resize_mode "default" /
    "fill" / "crop", preprocess with do_binarize, apply_overlay); "fill" both with and without
    margins (which _resize_and_fill fills with Image.resize's default BICUBIC and a box);
  - Pillow for its own operations (convert, paste, alpha_composite, GaussianBlur, and
    Image.resize with BICUBIC and LANCZOS, with and without a box, for src/image/resample.cpp);
  - cv2.GaussianBlur with A1111's kernel size for A1111's mask blur, numpy.pad for the
    outpainting canvas.
A1111 (stable-diffusion-webui) is not installable; for its masked-content fill and overlay the
script makes the same Pillow calls its modules/masking.py fill and modules/processing.py
apply_overlay make, in the order they make them (docs/masks.md).

It also checks, over all 2^24 colours, that Pillow's convert("L") is
(R*19595 + G*38470 + B*7471 + 0x8000) >> 16 (what src/editing/pil_ops.hpp computes), and, on a
grid of sizes, the order of Pillow 13's two resampling passes that src/image/resample.cpp follows
(vertical first when the height shrinks by more than twice as many pixels as the width).

    python tools/make_mask_fixtures.py
"""
import json
import os

import cv2
import diffusers
import numpy as np
import PIL
import torch
from diffusers.image_processor import VaeImageProcessor
from PIL import Image, ImageFilter, ImageOps

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "masks")
rng = np.random.default_rng(1717)
rng_fill = np.random.default_rng(1818)  # for the cases added with fill's margins: the others keep their pixels
cases = []


def save(name, img):
    img.save(os.path.join(OUT, name + ".png"))
    return name + ".png"


def add(kind, **kw):
    cases.append(dict(kind=kind, **kw))


def blob_mask(w, h, soft=True, seed_blobs=3):
    """A mask with a few filled ellipses (255), soft edges and a little noise when soft."""
    y, x = np.mgrid[0:h, 0:w]
    m = np.zeros((h, w), np.float64)
    for _ in range(seed_blobs):
        cx, cy = rng.uniform(0.2 * w, 0.8 * w), rng.uniform(0.2 * h, 0.8 * h)
        rx, ry = rng.uniform(1.5, w / 4), rng.uniform(1.5, h / 4)
        m = np.maximum(m, 1.2 - ((x - cx) / rx) ** 2 - ((y - cy) / ry) ** 2)
    m = np.clip(m, 0, 1) * 255
    if soft:
        m = m + rng.normal(0, 20, m.shape) * (m > 0)
    else:
        m = (m > 127) * 255.0
    return Image.fromarray(np.clip(np.round(m), 0, 255).astype(np.uint8), "L")


def random_image(w, h, mode, gen=None):
    gen = gen or rng
    bands = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}[mode]
    a = gen.integers(0, 256, (h, w, bands), dtype=np.uint8)
    if mode in ("LA", "RGBA"):
        a[..., -1][gen.random((h, w)) < 0.15] = 0  # some fully transparent pixels
        a[..., -1][gen.random((h, w)) < 0.15] = 255
    return Image.fromarray(a[..., 0] if bands == 1 else a, mode)


def fill_margin(img, width, height, mode):
    """The margins _resize_and_fill stretches the fitted image's edges into (with Pillow's default
    BICUBIC and an empty box), as [top/bottom, left/right]; [0, 0] for other modes. The tests
    check that both kinds occur."""
    if mode != "fill":
        return [0, 0]
    ratio, src_ratio = width / height, img.width / img.height
    src_w = width if ratio < src_ratio else img.width * height // img.height
    src_h = height if ratio >= src_ratio else img.height * width // img.width
    if ratio < src_ratio:
        return [max(height // 2 - src_h // 2, 0), 0]
    if ratio > src_ratio:
        return [0, max(width // 2 - src_w // 2, 0)]
    return [0, 0]


def rect_mask(w, h, box):
    """An L mask, 255 inside box (x1, y1, x2, y2): its crop region is then known in advance, so
    that get_crop_region cannot reach the target's aspect ratio inside the image (margins)."""
    a = np.zeros((h, w), np.uint8)
    a[box[1]:box[3], box[0]:box[2]] = 255
    return Image.fromarray(a, "L")


def check_luminance():
    v = np.arange(1 << 24, dtype=np.uint32)
    rgb = np.stack([(v >> 16) & 255, (v >> 8) & 255, v & 255], -1).astype(np.uint8).reshape(4096, 4096, 3)
    got = np.asarray(Image.fromarray(rgb, "RGB").convert("L")).astype(np.uint32)
    r, g, b = (rgb[..., i].astype(np.uint32) for i in range(3))
    want = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16
    assert (got == want).all(), "Pillow's convert('L') is not L24 any more"
    per_mille = (r * 299 + g * 587 + b * 114) // 1000
    return int((per_mille != got).sum())


def check_pass_order():
    """Pillow 13 (python-pillow/Pillow#9549) resamples vertically first when
    h - H > 2 * (w - W) and H < h (image sizes w x h to W x H, box or not): checked by redoing each
    resize as two one-axis resizes in either order, where the orders give different pixels.
    Returns how many sizes decided it."""
    g = np.random.default_rng(7)
    decided = 0
    for w, h in [(40, 40), (40, 17), (17, 40)]:
        im = Image.fromarray(g.integers(0, 256, (h, w), dtype=np.uint8), "L")
        for W in range(1, 61, 2):
            for H in range(1, 61, 2):
                got = np.asarray(im.resize((W, H), Image.BICUBIC))
                h_first = np.asarray(im.resize((W, h), Image.BICUBIC).resize((W, H), Image.BICUBIC))
                v_first = np.asarray(im.resize((w, H), Image.BICUBIC).resize((W, H), Image.BICUBIC))
                if (h_first == v_first).all():
                    continue
                rule = H < h and h - H > 2 * (w - W)
                assert (got == (v_first if rule else h_first)).all(), f"pass order changed: {w}x{h} -> {W}x{H}"
                decided += 1
    assert decided > 1000
    return decided


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))
    differ = check_luminance()
    pass_order_sizes = check_pass_order()
    proc = VaeImageProcessor(vae_scale_factor=8)
    mproc = VaeImageProcessor(vae_scale_factor=8, do_normalize=False, do_binarize=True, do_convert_grayscale=True)

    # 1. convert("L") and ImageOps.invert of every layout.
    for mode in ("L", "LA", "RGB", "RGBA"):
        src = random_image(13, 9, mode)
        add("to_l", input=save("l_in_" + mode, src), expect=save("l_out_" + mode, src.convert("L")),
            invert=save("l_inv_" + mode, ImageOps.invert(src.convert("L"))))
    rgba = random_image(13, 9, "RGBA")
    add("from_alpha", input=save("alpha_in", rgba),
        expect=save("alpha_out", Image.fromarray(255 - np.asarray(rgba)[..., 3])))

    # 2. diffusers' mask preprocessing (binarised), each mode, with and without a crop box.
    for name, m, w, h, mode, crop in [
        ("mask_l_default", blob_mask(37, 29), 24, 16, "default", None),
        ("mask_rgb_default", blob_mask(37, 29).convert("RGB"), 40, 32, "default", None),
        ("mask_rgba_default", random_image(21, 18, "RGBA"), 16, 24, "default", None),
        ("mask_l_fill_crop", blob_mask(40, 30), 24, 16, "fill", "region"),
        ("mask_rgb_fill_tall", blob_mask(30, 40).convert("RGB"), 32, 16, "fill", None),
        ("mask_rgba_fill", random_image(30, 22, "RGBA"), 16, 32, "fill", None),
        ("mask_rgba_fill_exact", random_image(30, 20, "RGBA"), 24, 16, "fill", None),
        ("mask_l_crop", blob_mask(33, 21), 16, 16, "crop", None),
        # padding_mask_crop's path with margins: the crop region clamped by the image, so fill
        # leaves margins left/right (a wide target) or top/bottom (a tall one)
        ("mask_l_fill_crop_wide", rect_mask(40, 30, (12, 9, 22, 19)), 64, 16, "fill", "region"),
        ("mask_rgb_fill_crop_tall", rect_mask(30, 40, (9, 12, 19, 22)).convert("RGB"), 16, 64, "fill", "region"),
        ("mask_la_fill", random_image(25, 9, "LA", rng_fill), 16, 16, "fill", None),
    ]:
        # StableDiffusionInpaintPipeline: mask_processor.get_crop_region(mask, width, height, pad)
        box = list(mproc.get_crop_region(m, w, h, pad=3)) if crop else None
        t = mproc.preprocess(m, height=h, width=w, resize_mode=mode, crops_coords=tuple(box) if box else None)
        arr = t[0, 0].numpy()
        assert set(np.unique(arr)) <= {0.0, 1.0}
        add("preprocess_mask", input=save(name + "_in", m), width=w, height=h, mode=mode, crop=box,
            margin=fill_margin(m.crop(tuple(box)) if box else m, w, h, mode),
            expect=save(name + "_out", Image.fromarray((arr * 255).astype(np.uint8), "L")))
    # the resize step alone: Lanczos on the L image (Pillow, as diffusers calls it)
    m = blob_mask(37, 29)
    add("resize", input=save("resize_l_in", m), width=24, height=16,
        expect=save("resize_l_out", m.resize((24, 16), resample=Image.LANCZOS)))

    # 3. get_crop_region: (mask, width, height, pad) -> box
    for i, (w, h, pad, soft) in enumerate([(64, 48, 0, False), (64, 48, 4, True), (512, 256, 8, False),
                                          (96, 128, 0, True), (48, 64, 32, False), (512, 512, 2, True)]):
        m = blob_mask(40 + 3 * i, 30 + 5 * i, soft=soft, seed_blobs=1 + i % 3)
        add("crop_region", input=save(f"region{i}", m), width=w, height=h, pad=pad,
            expect=list(proc.get_crop_region(m, w, h, pad=pad)))
    # a mask touching the right edge and one reaching top and bottom (the shift-back branches)
    for i, (shape, box, w, h) in enumerate([((20, 30), (22, 5, 30, 9), 32, 32), ((24, 16), (3, 0, 7, 24), 64, 16)]):
        a = np.zeros(shape, np.uint8)
        a[box[1]:box[3], box[0]:box[2]] = 200
        m = Image.fromarray(a, "L")
        add("crop_region", input=save(f"region_edge{i}", m), width=w, height=h, pad=2,
            expect=list(proc.get_crop_region(m, w, h, pad=2)))

    # 4. image preprocessing as the inpaint pipeline does it (crop, resize mode), 8-bit before
    #    normalising; checked against preprocess's tensor.
    for name, img, w, h, mode, crop_mask in [
        ("img_fill_crop", random_image(40, 30, "RGB"), 24, 16, "fill", blob_mask(40, 30)),
        ("img_fill_wide", random_image(45, 20, "RGB"), 32, 32, "fill", None),
        ("img_fill_tall", random_image(20, 45, "RGB"), 32, 32, "fill", None),
        ("img_fill_thin", random_image(40, 5, "RGB"), 16, 16, "fill", None),
        ("img_fill_exact", random_image(45, 30, "RGB"), 24, 16, "fill", None),
        ("img_crop", random_image(45, 20, "RGB"), 24, 24, "crop", None),
        ("img_default", random_image(37, 29, "RGB"), 27, 21, "default", None),
        ("img_fill_crop_wide", random_image(40, 30, "RGB", rng_fill), 64, 16, "fill", rect_mask(40, 30, (12, 9, 22, 19))),
        ("img_fill_crop_tall", random_image(30, 40, "RGB", rng_fill), 16, 64, "fill", rect_mask(30, 40, (9, 12, 19, 22))),
    ]:
        box = list(mproc.get_crop_region(crop_mask, w, h, pad=2)) if crop_mask is not None else None
        cropped = img.crop(tuple(box)) if box else img
        hh, ww = proc.get_default_height_width(cropped, h, w)
        pixels = proc.resize(cropped, hh, ww, resize_mode=mode)
        t = proc.preprocess(img, height=h, width=w, crops_coords=tuple(box) if box else None, resize_mode=mode)
        want = torch.from_numpy(np.asarray(pixels).astype(np.float32) / 255.0).permute(2, 0, 1) * 2 - 1
        assert torch.equal(t[0], want), name
        add("preprocess_image", input=save(name + "_in", img), width=w, height=h, mode=mode, crop=box,
            margin=fill_margin(cropped, ww, hh, mode),
            expect=save(name + "_out", pixels))

    # resize mode fill alone, at sizes preprocess would round (odd margins: the far strip is
    # clipped by the canvas, or leaves its last row/column black), every layout
    for name, mode, (sw, sh), (w, h) in [("fill_l", "L", (20, 13), (33, 17)), ("fill_rgba", "RGBA", (13, 20), (17, 33)),
                                         ("fill_la", "LA", (25, 9), (16, 15)), ("fill_rgb", "RGB", (9, 25), (24, 7))]:
        src = random_image(sw, sh, mode, rng_fill)
        margin = fill_margin(src, w, h, "fill")
        assert max(margin) > 0, name
        add("resize_mode", input=save(name + "_in", src), width=w, height=h, mode="fill", margin=margin,
            expect=save(name + "_out", proc.resize(src, h, w, resize_mode="fill")))
    used = [c["margin"] for c in cases if "margin" in c]
    assert any(m[0] > 0 for m in used) and any(m[1] > 0 for m in used), "fill cases without both margin kinds"

    # 5. apply_overlay, with and without a crop box; init RGB and RGBA.
    for name, init_mode, crop in [("overlay_rgb", "RGB", False), ("overlay_rgba", "RGBA", False),
                                  ("overlay_crop", "RGB", True)]:
        m = blob_mask(36, 28)
        init = random_image(36, 28, init_mode)
        box = list(proc.get_crop_region(m, 16, 16, pad=2)) if crop else None
        gen = random_image(16, 16, "RGB") if crop else random_image(36, 28, "RGB")
        out = proc.apply_overlay(m, init, gen, tuple(box) if box else None)
        add("apply_overlay", mask=save(name + "_mask", m), init=save(name + "_init", init),
            image=save(name + "_gen", gen), crop=box, expect=save(name + "_out", out))

    # 6. Pillow primitives: GaussianBlur, alpha_composite, premultiplication round trip.
    for mode, radius in [("L", 0.5), ("L", 2), ("RGB", 3.7), ("RGBA", 4), ("L", 16), ("RGBA", 256)]:
        src = random_image(23, 17, mode)
        name = f"blur_{mode}_{str(radius).replace('.', '_')}"
        add("gaussian_blur", input=save(name + "_in", src), radius=radius,
            expect=save(name + "_out", src.filter(ImageFilter.GaussianBlur(radius))))
    a, b = random_image(31, 19, "RGBA"), random_image(31, 19, "RGBA")
    add("alpha_composite", dst=save("composite_dst", a), src=save("composite_src", b),
        expect=save("composite_out", Image.alpha_composite(a, b)))
    add("premultiply", input=save("premul_in", b), expect=save("premul_out", b.convert("RGBa").convert("RGBA")))

    # Image.resize itself (src/image/resample.cpp through pil_resize): BICUBIC and LANCZOS, up and
    # down, with no box, fractional boxes, empty boxes on each edge (what fill's margins use) and
    # an integer box of the output size (Pillow crops); L, LA, RGB, RGBA (premultiplied).
    filters = {"bicubic": Image.BICUBIC, "lanczos": Image.LANCZOS}
    srcs = {mode: random_image(17, 13, mode, rng_fill) for mode in ("L", "LA", "RGB", "RGBA")}
    thin = random_image(17, 1, "RGB", rng_fill)
    for i, (mode, flt, size, box) in enumerate([
            ("L", "bicubic", (29, 7), None), ("RGB", "bicubic", (9, 31), None), ("RGBA", "bicubic", (11, 8), None),
            ("RGBA", "bicubic", (40, 30), None), ("LA", "bicubic", (23, 5), None), ("L", "bicubic", (17, 13), None),
            ("L", "bicubic", (12, 5), (0, 0, 17, 0)), ("RGB", "bicubic", (12, 5), (0, 13, 17, 13)),
            ("RGBA", "bicubic", (5, 20), (0, 0, 0, 13)), ("RGB", "bicubic", (5, 20), (17, 0, 17, 13)),
            ("LA", "bicubic", (17, 3), (0, 13, 17, 13)), ("RGB", "bicubic", (20, 9), (1.5, 2.25, 15.75, 11.0)),
            ("RGBA", "bicubic", (6, 4), (3, 2, 9, 6)), ("L", "lanczos", (6, 4), (3, 2, 9, 6)),
            ("RGBA", "lanczos", (8, 11), (2.5, 0.5, 16.0, 12.5)), ("RGB", "lanczos", (30, 3), (0, 0, 17, 0)),
            ("thin", "bicubic", (17, 4), (0, 1, 17, 1)),
            # either side of the pass-order rule (17x13 to W x 6: vertical first from W = 14,
            # 13 - 6 > 2 * (17 - W)), with and without a box
            ("RGB", "bicubic", (13, 6), None), ("RGB", "bicubic", (14, 6), None),
            ("L", "lanczos", (13, 6), (0.5, 0, 17, 13)), ("L", "lanczos", (14, 6), (0.5, 0, 17, 13))]):
        src = thin if mode == "thin" else srcs[mode]
        name = f"pilresize{i}_{mode}_{flt}"
        add("pil_resize", input=save(f"pilresize_in_{mode}", src), filter=flt, width=size[0], height=size[1],
            box=list(box) if box else None, expect=save(name, src.resize(size, filters[flt], box=box)))

    # 7. A1111: mask blur (cv2), masked-content fill and the overlay (its Pillow calls).
    for i, (bx, by) in enumerate([(4, 4), (3, 7), (0, 5), (1, 0), (12, 12)]):
        m = blob_mask(40, 32, soft=False)
        a = np.asarray(m)
        if bx > 0:
            a = cv2.GaussianBlur(a, (2 * int(2.5 * bx + 0.5) + 1, 1), bx)
        if by > 0:
            a = cv2.GaussianBlur(a, (1, 2 * int(2.5 * by + 0.5) + 1), by)
        add("a1111_blur", input=save(f"a1111_blur{i}_in", m), blur_x=bx, blur_y=by,
            expect=save(f"a1111_blur{i}_out", Image.fromarray(a)))
    img = random_image(30, 22, "RGB")
    m = blob_mask(30, 22)
    masked = Image.new("RGBa", img.size)
    masked.paste(img.convert("RGBA").convert("RGBa"), mask=ImageOps.invert(m.convert("L")))
    acc = Image.new("RGBA", img.size)
    for radius, repeats in [(256, 1), (64, 1), (16, 2), (4, 4), (2, 2), (0, 1)]:
        blurred = masked.filter(ImageFilter.GaussianBlur(radius)).convert("RGBA")
        for _ in range(repeats):
            acc.alpha_composite(blurred)
    add("a1111_fill", input=save("a1111_fill_in", img), mask=save("a1111_fill_mask", m),
        expect=save("a1111_fill_out", acc.convert("RGB")))
    # overlay: the masked original (image_masked.convert("RGBA")), the generated image fitted
    # into paste_to with resize_image mode 1 (_resize_and_crop's algorithm), pasted into a
    # transparent canvas, overlay composited over it.
    init = random_image(36, 28, "RGB")
    m = blob_mask(36, 28)
    over = Image.new("RGBa", init.size)
    over.paste(init.convert("RGBA").convert("RGBa"), mask=ImageOps.invert(m.convert("L")))
    over = over.convert("RGBA")
    box = proc.get_crop_region(m, 16, 16, pad=2)
    gen = random_image(16, 16, "RGB")
    base = Image.new("RGBA", over.size)
    base.paste(proc._resize_and_crop(gen, box[2] - box[0], box[3] - box[1]), (box[0], box[1]))
    base = base.convert("RGBA")
    base.alpha_composite(over)
    add("a1111_overlay", mask=save("a1111_overlay_mask", m), init=save("a1111_overlay_init", init),
        image=save("a1111_overlay_gen", gen), crop=list(box), overlay=save("a1111_overlay_rgba", over),
        expect=save("a1111_overlay_out", base.convert("RGB")))

    # 8. outpainting canvas against numpy.pad.
    for mode in ("RGB", "RGBA", "L"):
        src = random_image(7, 5, mode)
        a = np.asarray(src)
        pads = ((3, 9), (2, 11)) + (((0, 0),) if a.ndim == 3 else ())
        for fill, np_mode in [("edge", "edge"), ("mirror", "reflect")]:
            add("extend", input=save(f"extend_in_{mode}", src), fill=fill, left=2, right=11, top=3, bottom=9,
                expect=save(f"extend_{fill}_{mode}", Image.fromarray(np.pad(a, pads, mode=np_mode), mode)))

    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump({"diffusers": diffusers.__version__, "pillow": PIL.__version__, "opencv": cv2.__version__,
                   "luminance_per_mille_differs": differ,
                   "pass_order_sizes_checked": pass_order_sizes, "cases": cases}, f, indent=1)


if __name__ == "__main__":
    main()
