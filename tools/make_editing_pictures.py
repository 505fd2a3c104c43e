#!/usr/bin/env python3
"""The pictures of docs/editing.md: every editing mode run by `gen` on the demo model that gen
trained itself (models/demo, 64x64 coloured shapes; docs/training.md#the-demo-model), laid out
as labelled contact sheets. Each sheet's tiles are real `gen` outputs, scaled 3x (nearest) so a
64-pixel picture can be seen; the commands are printed as they run.

    python tools/make_editing_pictures.py --gen build/tools/gen --out docs/images/editing

Deterministic: fixed seeds, one thread (the same gen on the same CPU draws the same sheets).
"""
import argparse
import os
import shlex
import subprocess
import sys
import tempfile

from PIL import Image, ImageDraw

SCALE = 3
LABEL_H = 30


def run(gen, args, out):
    cmd = [gen, "-m", "models/demo/model", "--steps", "20", "--seed", "1", "--threads", "1", "-q",
           "--overwrite", "--metadata", "none"] + args + ["-o", out]
    print("$ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
    subprocess.run(cmd, check=True)
    return out


def sheet(tiles, path, title):
    """tiles: [(label, png path)] in one row, each scaled SCALE times with its label below."""
    ims = [Image.open(p).convert("RGB") for _, p in tiles]
    ims = [im.resize((im.width * SCALE, im.height * SCALE), Image.NEAREST) for im in ims]
    pad = 8
    w = sum(im.width for im in ims) + pad * (len(ims) + 1)
    h = max(im.height for im in ims) + LABEL_H + 2 * pad + 16
    out = Image.new("RGB", (w, h), (255, 255, 255))
    d = ImageDraw.Draw(out)
    d.text((pad, 4), title, fill=(0, 0, 0))
    x = pad
    for (label, _), im in zip(tiles, ims):
        out.paste(im, (x, pad + 16))
        for k, line in enumerate(label.split("\n")):
            d.text((x, pad + 16 + im.height + 3 + 11 * k), line, fill=(0, 0, 0))
        x += im.width + pad
    tmp = path + ".tmp.png"
    out.save(tmp, optimize=True)
    os.replace(tmp, path)
    print(f"wrote {path} ({w}x{h})", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gen", required=True, help="the gen executable")
    ap.add_argument("--out", required=True, help="folder for the sheets")
    a = ap.parse_args()
    if not os.path.isdir("models/demo/model"):
        sys.exit("run from the repository root (models/demo/model not found)")
    os.makedirs(a.out, exist_ok=True)
    gen = os.path.abspath(a.gen)
    outline, mask = "models/demo/example/outline.png", "models/demo/example/mask.png"
    cn = ["--control", "models/demo/controlnet", "--control-image", outline]
    red = "a red circle on a blue background"
    with tempfile.TemporaryDirectory() as t:
        j = lambda n: os.path.join(t, n)  # noqa: E731
        init = run(gen, ["-p", red, "-W", "64", "-H", "64"] + cn, j("init.png"))

        # Image-to-image: the same picture, another caption, rising strength.
        green = "a green circle on a yellow background"
        tiles = [("init image", init)]
        for s in ("0.3", "0.5", "0.7", "0.9"):
            tiles.append((f"--strength {s}", run(gen, ["-p", green, "-i", init, "--strength", s], j(f"i2i-{s}.png"))))
        tiles.append(("--strength 0.9\n+ ControlNet outline",
                      run(gen, ["-p", green, "-i", init, "--strength", "0.9"] + cn, j("i2i-cn.png"))))
        sheet(tiles, os.path.join(a.out, "img2img.png"), f'img2img: "{green}"')

        # Inpainting with the 4-channel demo UNet: repaint the shape, keep the background.
        paint = "a yellow circle on a blue background"
        base = ["-p", paint, "-i", init, "--mask", mask, "--strength", "1"]
        tiles = [("init image", init), ("--mask", mask),
                 ("--inpaint-blend\ndiffusers", run(gen, base, j("inp-d.png"))),
                 ("--inpaint-blend a1111", run(gen, base + ["--inpaint-blend", "a1111"], j("inp-a.png"))),
                 ("--mask-blur 4", run(gen, base + ["--mask-blur", "4"], j("inp-blur.png"))),
                 ("--inpaint-fill\nlatent_noise", run(gen, base + ["--inpaint-fill", "latent_noise", "--inpaint-blend", "a1111"],
                                                      j("inp-ln.png"))),
                 ("--strength 0.6", run(gen, ["-p", paint, "-i", init, "--mask", mask, "--strength", "0.6"], j("inp-06.png")))]
        sheet(tiles, os.path.join(a.out, "inpaint.png"), f'inpainting: "{paint}"')

        # Outpainting: 32 new pixels left and right, each fill mode.
        tiles = [("init image", init)]
        for fill in ("edge", "mirror", "matched", "#808080"):
            tiles.append((f"--outpaint-fill {fill}",
                          run(gen, ["-p", red, "-i", init, "--outpaint", "left:32,right:32", "--outpaint-fill", fill,
                                    "--mask-blur", "4", "--strength", "1"], j(f"out-{fill.strip('#')}.png"))))
        sheet(tiles, os.path.join(a.out, "outpaint.png"), "outpainting: --outpaint left:32,right:32 --mask-blur 4")

        # Hires fix: 64 -> 128 with each kind of upscaler (the demo model only saw 64x64).
        first = run(gen, ["-p", red, "-W", "64", "-H", "64"], j("hr-first.png"))
        tiles = [("first pass 64x64", first)]
        for u in ("latent", "latent_bicubic_antialiased", "lanczos"):
            tiles.append((f"--hires-upscaler\n{u}",
                          run(gen, ["-p", red, "-W", "64", "-H", "64", "--hires-scale", "2", "--hires-upscaler", u,
                                    "--hires-strength", "0.5", "--hires-steps", "10"], j(f"hr-{u}.png"))))
        tiles.append(("--hires-strength 0.3\n(lanczos)",
                      run(gen, ["-p", red, "-W", "64", "-H", "64", "--hires-scale", "2", "--hires-upscaler", "lanczos",
                                "--hires-strength", "0.3", "--hires-steps", "10"], j("hr-03.png"))))
        sheet(tiles, os.path.join(a.out, "hires.png"), f'hires fix x2: "{red}"')


if __name__ == "__main__":
    main()
