#!/usr/bin/env python3
"""Reference maps of the annotators from PyPI's controlnet-aux 0.0.10 (tests/unit/test_annotators*.cpp).

Writes into --out:
  ControlNetHED.pth, table5_pidinet.pth, sk_model.pth, sk_model2.pth, netG.pth,
  mlsd_large_512_fp32.pth
      random weights (fixed seeds) in the original files' key layouts, saved with torch.save as
      the lllyasviel/Annotators files are (the PiDiNet file wraps a `module.`-prefixed state
      dict in {'state_dict': ..., 'epoch': ...}); the test converts them with gen's convert.
      The last layers' weights are scaled up so that the maps span 0-255 (random weights
      otherwise give a flat grey map that tests nothing).
  <case>.png          controlnet-aux's 8-bit output for each case (HWC3 RGB)
  raw.safetensors     the networks' float outputs per case (before quantisation)
  util.safetensors    util.py's resize_image / nms / safe_step on the test photo
  cases.json          the cases: gen's preprocess spec, resolution, file names
  mlsd_synthetic.safetensors, mlsd_synthetic_<i>.png
                      M-LSD's line decoding and drawing on a synthetic network output that holds
                      lines (random weights rarely give any above the thresholds): the output,
                      pred_lines' lines per threshold pair and MLSDdetector's map (see mlsd_synthetic)

The photo is tests/data/control/source.png (96x80). The model-free content shuffle seeds
NumPy's global generator with np.random.seed(seed) before the call (gen's shuffle:seed=N).
`color` is not in controlnet-aux 0.0.10: its reference is the T2I-Adapter / sd-webui-controlnet
formula, written out below with opencv-python (resize_image to the detect resolution, INTER_CUBIC
down to (W // 64, H // 64), INTER_NEAREST back).
Run: python tools/controlnet_aux_reference.py --out DIR  (9 s of CPU, 31 s wall on 2 busy cores;
about 320 MB written, netG.pth alone 218 MB: the full-size U-Net).
"""
import argparse
import functools
import json
import os
import warnings

warnings.filterwarnings("ignore")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402

from controlnet_aux.hed import ControlNetHED_Apache2, HEDdetector  # noqa: E402
from controlnet_aux.lineart import Generator, LineartDetector  # noqa: E402
from controlnet_aux.lineart_anime import LineartAnimeDetector, UnetGenerator  # noqa: E402
from controlnet_aux.mlsd import MLSDdetector  # noqa: E402
from controlnet_aux.mlsd.models.mbv2_mlsd_large import MobileV2_MLSD_Large  # noqa: E402
from controlnet_aux.mlsd.utils import pred_lines  # noqa: E402
from controlnet_aux.lineart_standard import LineartStandardDetector  # noqa: E402
from controlnet_aux.pidi import PidiNetDetector  # noqa: E402
from controlnet_aux.pidi.model import pidinet  # noqa: E402
from controlnet_aux.shuffle import ContentShuffleDetector  # noqa: E402
from controlnet_aux import util  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PHOTO = os.path.join(HERE, "..", "tests", "data", "control", "source.png")


def make_hed(out):
    torch.manual_seed(18)
    net = ControlNetHED_Apache2().float().eval()
    with torch.no_grad():
        net.norm.copy_(torch.tensor([120.0, 110.0, 100.0]).view(1, 3, 1, 1))
        for b in (net.block1, net.block2, net.block3, net.block4, net.block5):
            b.projection.weight.mul_(40.0)
    torch.save(net.state_dict(), os.path.join(out, "ControlNetHED.pth"))
    return HEDdetector(net)


def make_pidinet(out):
    torch.manual_seed(19)
    net = pidinet().eval()
    with torch.no_grad():
        for m in net.conv_reduces:
            m.conv.weight.mul_(30.0)
        net.classifier.weight.copy_(torch.tensor([1.5, -0.5, 1.0, 0.8]).view(1, 4, 1, 1))
    sd = {"module." + k: v for k, v in net.state_dict().items()}
    torch.save({"epoch": 14, "state_dict": sd}, os.path.join(out, "table5_pidinet.pth"))
    return PidiNetDetector(net)


def make_lineart(out):
    nets = []
    for seed, name in ((20, "sk_model.pth"), (21, "sk_model2.pth")):
        torch.manual_seed(seed)
        g = Generator(3, 1, 3).eval()
        with torch.no_grad():
            g.model4[1].weight.mul_(6.0)
        torch.save(g.state_dict(), os.path.join(out, name))
        nets.append(g)
    return LineartDetector(nets[0], nets[1])


def make_lineart_anime(out):
    # As LineartAnimeDetector.from_pretrained builds it; the file holds DataParallel's names
    # (module.*), which from_pretrained strips, as Anime2Sketch's netG.pth does.
    torch.manual_seed(22)
    norm = functools.partial(torch.nn.InstanceNorm2d, affine=False, track_running_stats=False)
    net = UnetGenerator(3, 1, 8, 64, norm_layer=norm, use_dropout=False).eval()
    with torch.no_grad():
        net.model.model[3].weight.mul_(8.0)  # the outermost up-convolution: tanh spans -1..1
    torch.save({"module." + k: v for k, v in net.state_dict().items()}, os.path.join(out, "netG.pth"))
    return LineartAnimeDetector(net)


MLSD_CENTER, MLSD_DISPLACEMENT = (100.0, 3.0), 100.0  # the centre map: weight scale, bias


def make_mlsd(out):
    # Random batch-norm statistics (the defaults, mean 0 / var 1, would test nothing); block23's
    # last 1x1 convolution scaled and its centre-map bias raised so that the random network
    # gives lines above the default thresholds.
    torch.manual_seed(23)
    net = MobileV2_MLSD_Large().eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.6, 1.4)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
        net.block23.conv3.weight[7].mul_(MLSD_CENTER[0])
        net.block23.conv3.bias[7] = MLSD_CENTER[1]
        net.block23.conv3.weight[8:12].mul_(MLSD_DISPLACEMENT)
    torch.save(net.state_dict(), os.path.join(out, "mlsd_large_512_fp32.pth"))
    return MLSDdetector(net)


class FixedOutput(torch.nn.Module):
    """A stand-in M-LSD network: returns the same output for any input."""

    def __init__(self, output):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))
        self.output = output

    def forward(self, x):
        return self.output


def mlsd_synthetic(out, photo, res):
    """A network output [1, 9, H/2, W/2] for the photo at detect resolution `res` that holds
    lines: ~400 distinct peaks on a low background (some next to a higher one, which the 3x3
    max-pool removes; more than top-k's 200 above the score 0.1), displacements of -30..30 (some ending outside
    the image, some negative, fractional), a few of length exactly 5 (the distance threshold
    5 keeps none of them) and a few scores exactly float32(0.3) (the score threshold 0.3 keeps
    none). pred_lines' lines and MLSDdetector's map for each threshold pair."""
    h, w = (s // 2 for s in util.resize_image(util.HWC3(photo), res).shape[:2])
    rng = np.random.default_rng(24)
    t = np.empty((1, 9, h, w), np.float32)
    t[0, 0] = rng.uniform(-9.0, -6.0, (h, w))
    t[0, 1:] = rng.uniform(-30.0, 30.0, (8, h, w))
    flat = rng.choice(h * w, 400, replace=False)
    t[0, 0].flat[flat] = rng.uniform(-4.0, 0.5, 400)  # ~130 above the score 0.3: its ties in the top 200
    ys, xs = np.unravel_index(flat[:40], (h, w))
    t[0, 0, ys, np.minimum(xs + 1, w - 1)] = t[0, 0, ys, xs] + 0.5  # a higher neighbour
    # logit whose float32 sigmoid is exactly float32(0.3)
    z = np.float32(np.log(0.3 / 0.7))
    while torch.sigmoid(torch.tensor(z)).item() != np.float32(0.3):
        z = np.nextafter(z, np.float32(1.0) if torch.sigmoid(torch.tensor(z)).item() < np.float32(0.3)
                         else np.float32(-1.0))
    for i in flat[40:50]:
        t[0, 0].flat[i] = z
    for i in flat[50:60]:  # length 5 exactly: (3, 4) from start to end
        y, x = divmod(i, w)
        t[0, 1:5, y, x] = [1.5, -2.0, -1.5, 2.0]
        t[0, 0, y, x] = 2.0
    tensors = {"output": t}
    pairs = [(0.1, 0.1), (0.3, 5.0), (0.05, 20.0), (0.6, 0.0)]
    det = MLSDdetector(FixedOutput(torch.from_numpy(t)))
    for i, (score, dist) in enumerate(pairs):
        img = util.resize_image(util.HWC3(photo), res)
        tensors[f"lines_{i}"] = np.asarray(pred_lines(img, det.model, [img.shape[0], img.shape[1]], score, dist),
                                           np.float64)
        m = det(photo, thr_v=score, thr_d=dist, detect_resolution=res, image_resolution=res, output_type="np")
        Image.fromarray(hwc3_u8(m)).save(os.path.join(out, f"mlsd_synthetic_{i}.png"))
    save_file(tensors, os.path.join(out, "mlsd_synthetic.safetensors"))
    with open(os.path.join(out, "mlsd_synthetic.json"), "w") as f:
        json.dump({"resolution": res, "pairs": [{"score": s, "distance": d} for s, d in pairs]}, f, indent=1)


def hwc3_u8(x):
    return util.HWC3(np.ascontiguousarray(x))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)
    photo = np.array(Image.open(PHOTO).convert("RGB"))
    cases, raw = [], {}

    def add(name, spec, resolution, image):
        Image.fromarray(hwc3_u8(image)).save(os.path.join(args.out, name + ".png"))
        cases.append({"name": name, "preprocess": spec, "resolution": resolution})

    # The networks' float outputs, captured by wrapping the modules' forward.
    def capture(module, key):
        def hook(_m, _inp, output):
            o = output[-1] if isinstance(output, (list, tuple)) else output  # PiDiNet: the fused map
            raw[key[0]] = o[0, 0].detach().numpy().astype(np.float32).copy()
        return module.register_forward_hook(hook)

    hed = make_hed(args.out)
    pidi = make_pidinet(args.out)
    lineart = make_lineart(args.out)
    anime = make_lineart_anime(args.out)
    mlsd = make_mlsd(args.out)
    key = [""]
    # HED's module is called through __call__, which nn.Module hooks only via forward: wrap it.
    hed_call = ControlNetHED_Apache2.__call__

    def hed_hooked(self, x):
        out = hed_call(self, x)
        for i, o in enumerate(out):  # the five side outputs, at 1, 1/2, 1/4, 1/8, 1/16 size
            raw[f"{key[0]}.{i}"] = o[0, 0].numpy().astype(np.float32).copy()
        return out
    ControlNetHED_Apache2.__call__ = hed_hooked
    capture(pidi.netNetwork, key)
    capture(lineart.model, key)
    capture(lineart.model_coarse, key)

    def capture_all(module):  # the input as fed and the whole output
        def hook(_m, inp, output):
            raw[key[0] + ".input"] = inp[0].detach().numpy().astype(np.float32).copy()
            raw[key[0]] = output[0].detach().numpy().astype(np.float32).copy()
        return module.register_forward_hook(hook)
    capture_all(anime.model)
    capture_all(mlsd.model)

    for res in (128, 64):
        for safe in (False, True):
            for scribble in (False, True):
                opts = (":safe" if safe else "") + (":scribble" if scribble else "")
                n = f"hed{opts.replace(':', '_')}_{res}"
                key[0] = n
                add(n, "hed" + opts, res, hed(photo, detect_resolution=res, image_resolution=res, safe=safe,
                                               scribble=scribble, output_type="np"))
                n = f"pidinet{opts.replace(':', '_')}_{res}"
                key[0] = n
                add(n, "pidinet" + opts, res, pidi(photo, detect_resolution=res, image_resolution=res, safe=safe,
                                                   scribble=scribble, output_type="np"))
        for coarse in (False, True):
            n = f"lineart{'_coarse' if coarse else ''}_{res}"
            key[0] = n
            add(n, "lineart_coarse" if coarse else "lineart", res,
                lineart(photo, coarse=coarse, detect_resolution=res, image_resolution=res, output_type="np"))
        n = f"lineart_anime_{res}"
        key[0] = n
        add(n, "lineart_anime", res, anime(photo, detect_resolution=res, image_resolution=res, output_type="np"))
        for score, dist in ((0.1, 0.1), (0.3, 4.0)):
            spec = "mlsd" if (score, dist) == (0.1, 0.1) else f"mlsd:score={score}:distance={dist}"
            n = f"mlsd_{res}" if spec == "mlsd" else f"mlsd_s{int(score * 100)}_d{int(dist)}_{res}"
            key[0] = n
            add(n, spec, res, mlsd(photo, thr_v=score, thr_d=dist, detect_resolution=res, image_resolution=res,
                                   output_type="np"))
        add(f"lineart_standard_{res}", "lineart_standard", res,
            LineartStandardDetector()(photo, detect_resolution=res, output_type="np"))
        add(f"lineart_standard_s3_t4_{res}", "lineart_standard:sigma=3:threshold=4", res,
            LineartStandardDetector()(photo, guassian_sigma=3.0, intensity_threshold=4, detect_resolution=res,
                                      output_type="np"))
        for seed in (0, 1234):
            np.random.seed(seed)
            add(f"shuffle_seed{seed}_{res}", f"shuffle:seed={seed}", res,
                ContentShuffleDetector()(photo, detect_resolution=res, image_resolution=res, output_type="np"))
        img = util.resize_image(util.HWC3(photo), res)
        h, w = img.shape[:2]
        c = cv2.resize(img, (w // 64, h // 64), interpolation=cv2.INTER_CUBIC)
        add(f"color_{res}", "color", res, cv2.resize(c, (w, h), interpolation=cv2.INTER_NEAREST))

    mlsd_synthetic(args.out, photo, 256)

    # util.py's steps on their own.
    u = {}
    for res in (64, 128, 200, 512):
        u[f"resize_image_{res}"] = util.resize_image(util.HWC3(photo), res)
    grey = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    u["nms_input"] = grey
    u["nms_127_3"] = util.nms(grey, 127, 3.0)
    u["nms_60_1.5"] = util.nms(grey, 60, 1.5)
    ramp = np.linspace(0, 1, 1001, dtype=np.float64)
    u["safe_step_input"] = ramp
    u["safe_step_2"] = util.safe_step(ramp)
    save_file({k: np.ascontiguousarray(v) for k, v in u.items()}, os.path.join(args.out, "util.safetensors"))
    save_file(raw, os.path.join(args.out, "raw.safetensors"))
    with open(os.path.join(args.out, "cases.json"), "w") as f:
        json.dump({"photo": "control/source.png", "cases": cases}, f, indent=1)


if __name__ == "__main__":
    main()
