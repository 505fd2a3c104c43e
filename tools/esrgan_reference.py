#!/usr/bin/env python3
"""Reference ESRGAN-family nets for gen's tests (tests/unit/test_upscalers.cpp, tests/cli/test_upscale.sh).

Builds tiny RRDBNets with spandrel 0.4.2 (the package A1111 and ComfyUI load upscalers with), random
weights, saves each in the layout real files use and runs spandrel on a random image:

    python tools/esrgan_reference.py --out DIR

writes, per case, DIR/<case>.pth or .safetensors (the file as released models are laid out) and
DIR/cases.safetensors with `<case>.input` [1, C, H, W] and `<case>.output` (spandrel's model loaded
from that very file through spandrel.ModelLoader, fp32 on the CPU, no tiling), and
DIR/cases.json with the hyper-parameters spandrel inferred (scale, nf, nb, in/out channels).
With --a1111 IMAGE.png it also writes DIR/a1111_<case>.png: A1111's tiled upscale (upscale_with_model:
split_grid / combine_grid with Pillow's masked paste, BGR input, 255·x truncated) of IMAGE, as the
pipeline does it, re-implemented here on top of Pillow (A1111 itself is not installable).

The weights are random (seeded), nf and nb tiny (spandrel's growth channels stay 32), so the files are
a few hundred KB and are made at test time rather than committed.
"""
import argparse
import json
import math
import os
from collections import OrderedDict

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file
from spandrel import ModelLoader
from spandrel.architectures.ESRGAN import ESRGAN


def old_state(nf, nb, scale, in_nc=3, out_nc=3, plus=False, seed=0):
    torch.manual_seed(seed)
    net = ESRGAN(in_nc=in_nc, out_nc=out_nc, num_filters=nf, num_blocks=nb, scale=scale, plus=plus)
    with torch.no_grad():
        for p in net.parameters():  # small weights: activations stay in range through the blocks
            p.copy_(torch.randn_like(p) * (0.5 / math.sqrt(p[0].numel())))
    return OrderedDict((k, v.contiguous().clone()) for k, v in net.state_dict().items())


def to_new(state, nb, style):
    """Old ESRGAN names -> BasicSR ("basicsr") or BSRGAN / old Real-ESRGAN ("bsrgan") names."""
    seq = max(int(k.split(".")[1]) for k in state)
    ups = (seq - 4) // 3
    body, rdb, trunk, up, hr = (("body", "rdb", "conv_body", "conv_up", "conv_hr") if style == "basicsr"
                                else ("RRDB_trunk", "RDB", "trunk_conv", "upconv", "HRconv"))
    out = OrderedDict()
    for k, v in state.items():
        p = k.split(".")
        if p[1] == "0":
            out["conv_first." + p[2]] = v
        elif p[1] == "1" and p[3] == str(nb):
            out[f"{trunk}.{p[4]}"] = v
        elif p[1] == "1":  # model.1.sub.i.RDBk.convj.0.w
            out[f"{body}.{p[3]}.{rdb}{p[4][3:]}.{p[5]}.{p[7]}"] = v
        elif int(p[1]) == 3 * ups + 2:
            out[f"{hr}.{p[2]}"] = v
        elif int(p[1]) == 3 * ups + 4:
            out["conv_last." + p[2]] = v
        else:
            out[f"{up}{int(p[1]) // 3}.{p[2]}"] = v
    return out


# (name, file, layout, nf, nb, net scale, in_nc, out_nc, plus, wrapper, input size)
CASES = [
    ("old_x4", "old_x4.pth", "old", 8, 1, 4, 3, 3, False, None, (16, 16)),
    ("basicsr_x4", "basicsr_x4.pth", "basicsr", 8, 2, 4, 3, 3, False, "params_ema", (12, 16)),
    ("basicsr_x4_st", "basicsr_x4.safetensors", "basicsr", 8, 1, 4, 3, 3, False, None, (16, 12)),
    ("bsrgan_x2", "bsrgan_x2.pth", "bsrgan", 8, 1, 2, 3, 3, False, None, (10, 16)),
    ("old_x1", "old_x1.safetensors", "old", 8, 1, 1, 3, 3, False, None, (16, 16)),
    ("plus_x2", "plus_x2.pth", "old", 8, 1, 2, 3, 3, True, None, (16, 16)),
    # Real-ESRGAN x2plus: pixel-unshuffled input (in_nc 12), a x4 net, x2 overall; odd size: reflect-padded
    ("unshuffle_x2", "unshuffle_x2.pth", "basicsr", 8, 1, 4, 12, 3, False, "params_ema", (15, 14)),
    # BasicSR's training checkpoints hold both; "params" gets other random weights, so a loader
    # that picks it differs from spandrel (which runs params_ema)
    ("both_x2", "both_x2.pth", "basicsr", 8, 1, 2, 3, 3, False, "params+params_ema", (12, 12)),
]


def a1111_upscale(run, img, tile, overlap):
    """A1111 modules/upscaler_utils.py upscale_with_model + modules/images.py split_grid /
    combine_grid, written from their description: tiles of `tile` px overlapping by `overlap`,
    each tile upscaled as an 8-bit BGR image, the row tiles blended over `overlap` columns with a
    linear mask, the rows over `overlap` rows, by Pillow's masked paste."""
    def net8(tile_img):
        a = np.array(tile_img)[:, :, ::-1]
        x = torch.from_numpy(np.ascontiguousarray(np.transpose(a, (2, 0, 1))) / 255).float().unsqueeze(0)
        with torch.no_grad():
            y = run(x)
        y = 255.0 * np.moveaxis(y.squeeze(0).float().clamp_(0, 1).numpy(), 0, 2)
        return Image.fromarray(y.astype(np.uint8)[:, :, ::-1], "RGB")

    w, h = img.size
    if tile <= 0:
        return net8(img)
    cols = max(1, math.ceil((w - overlap) / (tile - overlap)))
    rows = max(1, math.ceil((h - overlap) / (tile - overlap)))
    dx = (w - tile) / (cols - 1) if cols > 1 else 0
    dy = (h - tile) / (rows - 1) if rows > 1 else 0
    grid = []
    for r in range(rows):
        y = int(r * dy)
        y = h - tile if y + tile >= h else y
        row = []
        for c in range(cols):
            x = int(c * dx)
            x = w - tile if x + tile >= w else x
            row.append((x, img.crop((x, y, x + tile, y + tile))))
        grid.append((y, row))
    s = None
    out_rows = []
    for y, row in grid:
        outs = []
        for x, t in row:
            o = net8(t)
            s = o.width // t.width
            outs.append((x * s, o))
        out_rows.append((y * s, outs))
    ov, th, W, H = overlap * s, tile * s, w * s, h * s
    mask_w = Image.fromarray((np.arange(ov, dtype=np.float32)[None, :].repeat(th, 0) * 255 / ov).astype(np.uint8), "L")
    mask_h = Image.fromarray((np.arange(ov, dtype=np.float32)[:, None].repeat(W, 1) * 255 / ov).astype(np.uint8), "L")
    out = Image.new("RGB", (W, H))
    for y, outs in out_rows:
        line = Image.new("RGB", (W, th))
        for x, t in outs:
            if x == 0:
                line.paste(t, (0, 0))
                continue
            line.paste(t.crop((0, 0, ov, th)), (x, 0), mask=mask_w)
            line.paste(t.crop((ov, 0, th, th)), (x + ov, 0))
        if y == 0:
            out.paste(line, (0, 0))
            continue
        out.paste(line.crop((0, 0, W, ov)), (0, y), mask=mask_h)
        out.paste(line.crop((0, ov, W, th)), (0, y + ov))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--a1111", help="an RGB PNG to upscale with A1111's tiling (tile 192, overlap 8 unless given)")
    ap.add_argument("--tile", type=int, default=192)
    ap.add_argument("--overlap", type=int, default=8)
    ap.add_argument("--only", help="comma-separated case names")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(1)
    tensors, meta = {}, {}
    only = set(a.only.split(",")) if a.only else None
    for i, (name, file, layout, nf, nb, scale, in_nc, out_nc, plus, wrap, (h, w)) in enumerate(CASES):
        if only and name not in only:
            continue
        state = old_state(nf, nb, scale, in_nc, out_nc, plus, seed=i + 1)
        if layout != "old":
            state = to_new(state, nb, layout)
        path = os.path.join(a.out, file)
        if file.endswith(".safetensors"):
            save_file(dict(state), path)
        else:
            if wrap == "params+params_ema":
                other = to_new(old_state(nf, nb, scale, in_nc, out_nc, plus, seed=i + 101), nb, layout)
                torch.save({"params": other, "params_ema": state}, path)
            else:
                torch.save({wrap: state} if wrap else state, path)
        desc = ModelLoader("cpu").load_from_file(path)
        model = desc.model.eval().float()
        torch.manual_seed(100 + i)
        x = torch.rand(1, desc.input_channels, h, w)
        with torch.no_grad():
            y = model(x)
        tensors[name + ".input"] = x.contiguous()
        tensors[name + ".output"] = y.contiguous()
        meta[name] = {"file": file, "scale": desc.scale, "in_nc": desc.input_channels,
                      "out_nc": desc.output_channels, "tags": desc.tags}
        if a.a1111:
            img = Image.open(a.a1111).convert("RGB")
            a1111_upscale(model, img, a.tile, a.overlap).save(os.path.join(a.out, f"a1111_{name}.png"))
    save_file(tensors, os.path.join(a.out, "cases.safetensors"))
    with open(os.path.join(a.out, "cases.json"), "w") as f:
        json.dump(meta, f, indent=1)


if __name__ == "__main__":
    main()
