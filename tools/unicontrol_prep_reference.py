#!/usr/bin/env python3
"""Reference control maps of salesforce/UniControl's task preparations (docs/unicontrol.md,
tests/cli/test_unicontrol_prep.sh): grayscale, blur, outpainting, inpainting and hedsketch, as
the reference's demos (app/gradio_*.py) make them from the user's photo.

The reference is not on PyPI and is not copied into gen. This script takes it from a checkout
or bare clone of github:salesforce/UniControl (`--repo`) and runs its own code, cut out with
`ast` (no module of the reference is imported whole):
  annotator/util.py                  resize_image, HWC3
  annotator/{grayscale,blur,outpainting,inpainting}/__init__.py
                                     GrayscaleConverter, Blurrer, Outpainter, Inpainter
  annotator/hed/__init__.py          ControlNetHED_Apache2, HEDdetector.__call__ (on the CPU:
                                     Tensor.cuda is the identity here)
  app/gradio_{colorization,deblur,outpainting,inpainting}.py
                                     the module-level helpers grayscale(), blur(), outpainting(),
                                     inpainting() (resize_image(HWC3(img), res), then the annotator)
  app/gradio_hedsketch2image.py      process()'s sketch loop (`retry = 0` … the `while`): threshold
                                     drawn with np.random.randint(110, 160), binary threshold,
                                     bitwise_not, 3×3 Gaussian blur, again (up to 5 more times) while
                                     fewer than 0.5 % of the values are under 5
After each, the demos' own last steps, written out here: cv2.resize(map, (W, H), INTER_LINEAR) to
resize_image(input, res)'s size (the same size: a copy), and for grayscale the grey channel
repeated three times.

The HED weights are random (hed_weights below: after tools/controlnet_aux_reference.py's,
controlnet-aux's ControlNetHED_Apache2, the same module as the reference's), written by
`--hed-weights FILE` without the reference, so the test makes the same file.

    python tools/unicontrol_prep_reference.py --repo PATH/UniControl(.git) --out tests/data/unicontrol_prep
    python tools/unicontrol_prep_reference.py --hed-weights /tmp/ControlNetHED.safetensors

Writes to --out: <case>.png (the reference's map) and cases.json (gen's --preprocess spec, the
resolution, the seed, the thresholds the hedsketch loop drew). The photo is
tests/data/control/source.png.
"""
import argparse
import ast
import io
import json
import os
import subprocess
import tarfile
import tempfile

import cv2
import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
PHOTO = os.path.join(HERE, "..", "tests", "data", "control", "source.png")
RES = 128


def hed_weights():
    """Random ControlNetHED weights whose map spreads over 0-253 on the test photo (the recipe of
    controlnet_aux_reference.make_hed with the projections scaled by 2, not 40: the sketch's
    thresholds, 110-159, then keep 70 % to 59 % of the pixels, and 250 keeps 0.06 %, which makes
    the demo's loop try again)."""
    from controlnet_aux.hed import ControlNetHED_Apache2
    torch.manual_seed(18)
    net = ControlNetHED_Apache2().float().eval()
    with torch.no_grad():
        net.norm.copy_(torch.tensor([120.0, 110.0, 100.0]).view(1, 3, 1, 1))
        for b in (net.block1, net.block2, net.block3, net.block4, net.block5):
            b.projection.weight.mul_(2.0)
    return {k: v.contiguous() for k, v in net.state_dict().items()}


def read_reference(repo, paths):
    """The text of `paths` in the reference (a work tree or a bare clone at HEAD)."""
    out = {}
    if os.path.isdir(os.path.join(repo, "annotator")):
        for p in paths:
            out[p] = open(os.path.join(repo, p), encoding="utf-8").read()
        return out
    data = subprocess.run(["git", "--git-dir", repo, "archive", "HEAD"] + paths, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        for p in paths:
            out[p] = t.extractfile(p).read().decode("utf-8")
    return out


def cut(source, names, scope, path):
    """The top-level functions / classes `names` of `source`, executed in `scope`."""
    tree = ast.parse(source)
    nodes = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name in names]
    missing = set(names) - {n.name for n in nodes}
    if missing:
        raise SystemExit(f"{path}: no {', '.join(sorted(missing))}")
    exec(compile(ast.Module(body=nodes, type_ignores=[]), path, "exec"), scope)
    return [scope[n] for n in names]


def sketch_loop(source, path):
    """process()'s statements from `retry = 0` to the end of its `while` loop, as code."""
    tree = ast.parse(source)
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "process")
    body = fn.body[0].body if isinstance(fn.body[0], ast.With) else fn.body
    start = next(i for i, s in enumerate(body) if isinstance(s, ast.Assign) and ast.unparse(s) == "retry = 0")
    end = next(i for i, s in enumerate(body) if i > start and isinstance(s, ast.While))
    return compile(ast.Module(body=body[start:end + 1], type_ignores=[]), path, "exec")


class FixedRandom:
    """np.random for the sketch loop with a given threshold (gen's unicontrol_hedsketch:threshold=T)."""

    def __init__(self, t, log):
        self.t, self.log = t, log

    def randint(self, lo, hi):
        self.log.append(self.t)
        return self.t


class LoggedRandom:
    """np.random for the sketch loop as the demo draws it (the global generator), each draw logged."""

    def __init__(self, log):
        self.log = log

    def randint(self, lo, hi):
        v = int(np.random.randint(lo, hi))
        self.log.append(v)
        return v


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo", help="salesforce/UniControl checkout or bare clone")
    ap.add_argument("--out", help="fixture folder (tests/data/unicontrol_prep)")
    ap.add_argument("--hed-weights", help="write the random HED weights (safetensors) and stop")
    a = ap.parse_args()
    if a.hed_weights:
        from safetensors.torch import save_file
        save_file(hed_weights(), a.hed_weights)
        return
    if not (a.repo and a.out):
        ap.error("--repo and --out (or --hed-weights)")
    files = ["annotator/util.py", "annotator/grayscale/__init__.py", "annotator/blur/__init__.py",
             "annotator/outpainting/__init__.py", "annotator/inpainting/__init__.py", "annotator/hed/__init__.py",
             "app/gradio_colorization.py", "app/gradio_deblur.py", "app/gradio_outpainting.py",
             "app/gradio_inpainting.py", "app/gradio_hedsketch2image.py"]
    src = read_reference(a.repo, files)
    from einops import rearrange
    from skimage import color
    base = {"np": np, "cv2": cv2, "torch": torch, "rearrange": rearrange, "color": color}
    resize_image, HWC3 = cut(src["annotator/util.py"], ["resize_image", "HWC3"], dict(base), "annotator/util.py")
    ann = {}
    for task, cls in (("grayscale", "GrayscaleConverter"), ("blur", "Blurrer"), ("outpainting", "Outpainter"),
                      ("inpainting", "Inpainter")):
        p = f"annotator/{task}/__init__.py"
        ann[task] = cut(src[p], [cls], dict(base), p)[0]()
    hed_scope = dict(base)
    Net, Detector = cut(src["annotator/hed/__init__.py"], ["DoubleConvBlock", "ControlNetHED_Apache2", "HEDdetector"],
                        hed_scope, "annotator/hed/__init__.py")[1:]
    torch.Tensor.cuda = lambda self, *x, **k: self  # the reference's HEDdetector moves its input to CUDA
    net = Net().float().eval()
    net.load_state_dict(hed_weights())
    hed = object.__new__(Detector)
    hed.netNetwork = net
    helpers = {}
    for task, app, model in (("grayscale", "colorization", "model_grayscale"), ("blur", "deblur", "model_blur"),
                             ("outpainting", "outpainting", "model_outpainting"),
                             ("inpainting", "inpainting", "model_inpainting")):
        p = f"app/gradio_{app}.py"
        scope = dict(base, resize_image=resize_image, HWC3=HWC3, **{model: ann[task]})
        helpers[task] = cut(src[p], [task], scope, p)[0]
    loop = sketch_loop(src["app/gradio_hedsketch2image.py"], "app/gradio_hedsketch2image.py")

    photo = np.asarray(Image.open(PHOTO).convert("RGB")).copy()
    os.makedirs(a.out, exist_ok=True)
    cases = []

    def finish(name, spec, m, extra=None):
        img = resize_image(HWC3(photo), RES)
        H, W, _ = img.shape
        m = cv2.resize(m, (W, H), interpolation=cv2.INTER_LINEAR)
        if m.ndim == 2:
            m = m[:, :, np.newaxis].repeat(3, axis=2)
        Image.fromarray(m).save(os.path.join(a.out, name + ".png"))
        cases.append(dict(name=name, spec=spec, resolution=RES, **(extra or {})))

    finish("grayscale", "unicontrol_grayscale", helpers["grayscale"](photo.copy(), RES))
    for k in (51, 11):
        finish(f"blur_{k}", f"unicontrol_blur:ksize={k}", helpers["blur"](photo.copy(), RES, k))
    for h, w in ((50, 50), (30, 75)):
        finish(f"outpainting_{h}_{w}", f"unicontrol_outpainting:height={h}:width={w}",
               helpers["outpainting"](photo.copy(), RES, h, w))
    for t, d, l, r in ((50, 50, 50, 50), (20, 65, 35, 80)):
        finish(f"inpainting_{t}_{d}_{l}_{r}", f"unicontrol_inpainting:top={t}:bottom={d}:left={l}:right={r}",
               helpers["inpainting"](photo.copy(), RES, t, d, l, r))
    # hedsketch: HED at the detect resolution (gradio_hedsketch2image: apply_hed(resize_image(input,
    # detect_resolution)), HWC3), then the sketch loop; drawn thresholds with np.random.seed(seed)
    # first (gen's seed), or a fixed one.
    edges = HWC3(hed(resize_image(photo.copy(), RES)))
    Image.fromarray(edges).save(os.path.join(a.out, "hed.png"))
    for name, spec, rnd, seed in (("hedsketch_seed7", "unicontrol_hedsketch", "seed", 7),
                                  ("hedsketch_seed123", "unicontrol_hedsketch", "seed", 123),
                                  ("hedsketch_t140", "unicontrol_hedsketch:threshold=140", 140, 0),
                                  ("hedsketch_t250", "unicontrol_hedsketch:threshold=250", 250, 0)):
        log = []
        if rnd == "seed":
            np.random.seed(seed)
            r = LoggedRandom(log)
        else:
            r = FixedRandom(rnd, log)
        np_view = type("np", (), {k: getattr(np, k) for k in ("sum", "random")})
        np_view.random = r
        scope = {"np": np_view, "cv2": cv2, "detected_map": edges.copy()}
        exec(loop, scope)
        finish(name, spec, scope["detected_map"], {"seed": seed, "thresholds": log, "tries": scope["cnt"] + 1})
    with open(os.path.join(a.out, "cases.json"), "w") as f:
        json.dump({"photo": "tests/data/control/source.png", "cases": cases,
                   "reference": "salesforce/UniControl annotator/*, app/gradio_*.py (cut out with ast)"}, f, indent=1)
    print(json.dumps(cases))


if __name__ == "__main__":
    main()
