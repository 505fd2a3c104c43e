#!/usr/bin/env python3
"""Reference maps of NormalBAE (`normal_bae`) from PyPI's controlnet-aux 0.0.10 (its
NormalBaeDetector over NNET: the bundled gen-efficientnet "tf_efficientnet_b5_ap" encoder and the
decoder of Bae et al. 2021 in its inference mode), for tests/unit/test_normalbae.cpp and
tests/cli/test_preprocess_normalbae.sh.

The real network (scannet.pt: 72.6 M parameters, 290 MB) is too large for a test, so by default
this builds the SAME classes with fewer blocks and two narrower decoder layers: the encoder is
geffnet's _gen_efficientnet("tf_efficientnet_b5_ap", channel_multiplier=1.6, depth_multiplier=1.1)
(B5's widths, TF "same" padding and BN eps, 2-3-3-4-4-5-2 blocks instead of 3-5-5-7-7-9-3), and the
decoder's conv2 / up1 are 2048→256 / 256+176→256 instead of 2048→2048 / 2048+176→1024 (up2 reads
256+64; up2-up4 keep the widths the decoder's forward hard-codes). Every forward is controlnet-aux's
own. With --full the real-size NNET is built instead (for timings and a one-off check).
Random weights (torch.manual_seed), BatchNorm statistics random too, saved with torch.save as
scannet.pt is: {"model": state dict} with DataParallel's "module." before every name (the
reference's load_checkpoint strips it), under the original's name.

Writes into --out:
  scannet.pt              the random network
  <case>.png              NormalBaeDetector's 8-bit output per case (detect = image resolution)
  raw.safetensors         per network input size HxW: input.HxW (the network input [1,3,H,W]:
                          resize_image, / 255, ImageNet normalisation), normal.HxW (the decoder's
                          last output, out_res1 [1,4,H,W]: normal x, y, z and kappa)
  cases.json              the cases: gen's preprocess spec, resolution
The photo is tests/data/control/source.png (96x80).
Run: python tools/normalbae_reference.py --out DIR [--full] [--resolutions 64,192]
"""
import argparse
import json
import math
import os
import types
import warnings

warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402

from controlnet_aux import util  # noqa: E402
from controlnet_aux.normalbae import NormalBaeDetector  # noqa: E402
from controlnet_aux.normalbae.nets.NNET import NNET  # noqa: E402
from controlnet_aux.normalbae.nets.submodules.submodules import UpSampleBN  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PHOTO = os.path.join(HERE, "..", "tests", "data", "control", "source.png")


def small_encoder():
    """The bundled geffnet's tf_efficientnet_b5_ap builder at depth_multiplier 1.1 (B5's is 2.2).
    NNET's Encoder has loaded geffnet (torch.hub.load of controlnet-aux's efficientnet_repo)."""
    import sys
    gen_efficientnet = sys.modules["geffnet.gen_efficientnet"]
    model = gen_efficientnet._gen_efficientnet("tf_efficientnet_b5_ap", channel_multiplier=1.6, depth_multiplier=1.1,
                                               pretrained=False, bn_eps=gen_efficientnet.BN_EPS_TF_DEFAULT,
                                               pad_type="same")
    model.global_pool = torch.nn.Identity()  # as Encoder does
    model.classifier = torch.nn.Identity()
    return model


def make_model(out, full):
    args = types.SimpleNamespace(mode="client", architecture="BN", pretrained="scannet", sampling_ratio=0.4,
                                 importance_ratio=0.7)  # NormalBaeDetector.from_pretrained's
    torch.manual_seed(18)
    net = NNET(args)
    if not full:
        net.encoder.original_model = small_encoder()
        net.decoder.conv2 = torch.nn.Conv2d(2048, 256, kernel_size=1, stride=1, padding=0)
        net.decoder.up1 = UpSampleBN(skip_input=256 + 176, output_features=256)
        net.decoder.up2 = UpSampleBN(skip_input=256 + 64, output_features=512)
    net.eval()
    with torch.no_grad():  # random everything, BatchNorm statistics included
        for name, p in net.named_parameters():
            if p.dim() == 1 and name.endswith("weight"):  # BatchNorm scale
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            elif p.dim() == 1:
                p.copy_(0.1 * torch.randn_like(p))
            else:
                p.copy_(torch.randn_like(p) / math.sqrt(p[0].numel()))
        for name, b in net.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(0.1 * torch.randn_like(b))
            elif name.endswith("running_var"):
                b.copy_(0.5 + torch.rand_like(b))
    state = {"module." + k: v for k, v in net.state_dict().items()}
    torch.save({"model": state}, os.path.join(out, "scannet.pt"))
    return net


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--full", action="store_true", help="the real-size network (290 MB)")
    ap.add_argument("--resolutions", default="64,192")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)
    net = make_model(args.out, args.full)
    raw = {}
    forward = net.forward

    def capture(x, **kw):
        y = forward(x, **kw)
        size = f"{x.shape[2]}x{x.shape[3]}"
        raw["input." + size] = x.numpy().copy()
        raw["normal." + size] = y[0][-1].numpy().copy()
        return y

    net.forward = capture
    detector = NormalBaeDetector(net)
    photo = np.array(Image.open(PHOTO).convert("RGB"))
    cases = []
    for res in (int(r) for r in args.resolutions.split(",")):
        normal = detector(photo, detect_resolution=res, image_resolution=res, output_type="np")
        name = f"normal_bae_{res}"
        Image.fromarray(util.HWC3(np.ascontiguousarray(normal))).save(os.path.join(args.out, name + ".png"))
        cases.append({"name": name, "preprocess": "normal_bae", "resolution": res})
    save_file(raw, os.path.join(args.out, "raw.safetensors"))
    with open(os.path.join(args.out, "cases.json"), "w") as f:
        json.dump({"photo": "control/source.png", "cases": cases}, f, indent=1)


if __name__ == "__main__":
    main()
