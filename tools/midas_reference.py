#!/usr/bin/env python3
"""Reference maps of MiDaS DPT-Hybrid (`midas`) and `normal_midas` from PyPI's controlnet-aux 0.0.10
(its MidasDetector and DPTDepthModel over timm's ViT-hybrid), for tests/unit/test_midas.cpp.

The real network (dpt_hybrid-midas-501f0c75.pt: ResNet-50 stem + ViT-B/16, 123 M parameters) is
too large for a test, so this builds the SAME classes with smaller widths (controlnet-aux's
DPTDepthModel(backbone="vitb_rn50_384", features=32) whose timm backbone is a ResNetV2 with
stages (2, 1, 2) of widths (128, 256, 512) and stem 32, and a 12-block ViT of width 128, 2 heads,
position-embedding grid 8; only the sizes in controlnet-aux's builders are swapped, every forward
is controlnet-aux's and timm 1.0.31's own). Hooks, readout projection, fusion and head are the
real ones. Random weights (fixed seed), the last conv's bias raised so that the ReLU'd depth spans
a range, saved with torch.save as the original file is (a plain state dict, key names as the
real file's), under the original's name; the test converts it with gen's convert.

Writes into --out:
  dpt_hybrid-midas-501f0c75.pt     the random tiny network
  <case>.png                       MidasDetector's 8-bit output (depth, or normal) per case
  raw.safetensors                  per resolution R: input.R (the network input [1,3,H,W]:
                                   resize_image to R, / 127.5 - 1), depth.R (the network's
                                   output [1,H,W])
  cases.json                       the cases: gen's preprocess spec, resolution
The photo is tests/data/control/source.png (96x80).
Run: python tools/midas_reference.py --out DIR  (a few seconds; 12 MB written)
"""
import argparse
import json
import math
import os
import warnings
from functools import partial

warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402
from timm.layers import StdConv2dSame  # noqa: E402
from timm.models.resnetv2 import ResNetV2  # noqa: E402
from timm.models.vision_transformer_hybrid import _create_vision_transformer_hybrid  # noqa: E402

import controlnet_aux.midas.midas.blocks as blocks  # noqa: E402
import controlnet_aux.midas.midas.vit as vit  # noqa: E402
from controlnet_aux import util  # noqa: E402
from controlnet_aux.midas import MidasDetector  # noqa: E402
from controlnet_aux.midas.midas.dpt_depth import DPTDepthModel  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PHOTO = os.path.join(HERE, "..", "tests", "data", "control", "source.png")
WIDTHS = [128, 256, 96, 96]  # the real: [256, 512, 768, 768] (ResNet stages 1-2, reassembled ViT)
EMBED, HEADS = 128, 2  # the real: 768, 12 (64-wide heads in both)


def tiny_backbone(pretrained, use_readout="ignore", hooks=None, use_vit_only=False):
    """controlnet-aux's _make_pretrained_vitb_rn50_384 with timm's vit_base_r50_s16_384 at smaller sizes."""
    backbone = ResNetV2(layers=(2, 1, 2), channels=(128, 256, 512), stem_chs=32, num_classes=0, global_pool="",
                        in_chans=3, preact=False, stem_type="same", conv_layer=partial(StdConv2dSame, eps=1e-8))
    model = _create_vision_transformer_hybrid("vit_base_r50_s16_384", backbone=backbone, pretrained=False,
                                              embed_dim=EMBED, depth=12, num_heads=HEADS, img_size=128)
    return vit._make_vit_b_rn50_backbone(model, features=WIDTHS, size=[384, 384], hooks=hooks,
                                         use_vit_only=use_vit_only, use_readout=use_readout, vit_features=EMBED)


def make_model(out):
    blocks._make_pretrained_vitb_rn50_384 = tiny_backbone
    scratch = blocks._make_scratch
    blocks._make_scratch = lambda in_shape, out_shape, groups=1, expand=False: scratch(WIDTHS, out_shape, groups, expand)
    torch.manual_seed(18)
    net = DPTDepthModel(path=None, backbone="vitb_rn50_384", non_negative=True, features=32).eval()
    with torch.no_grad():  # random everything: norms, biases, position embeddings, class token
        for name, p in net.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.3 * torch.randn_like(p))
            elif p.dim() == 1 or name.endswith(("pos_embed", "cls_token")):
                p.copy_(0.1 * torch.randn_like(p))
            else:
                p.copy_(torch.randn_like(p) / math.sqrt(p[0].numel()))
        net.scratch.output_conv[4].bias.fill_(1.0)  # the depth's ReLU keeps most of the map
    assert net.pretrained.model.pos_embed.shape == (1, 65, EMBED)
    torch.save(net.state_dict(), os.path.join(out, "dpt_hybrid-midas-501f0c75.pt"))
    return net


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)
    net = make_model(args.out)

    class Inference(torch.nn.Module):  # MiDaSInference without its file loading
        def __init__(self):
            super().__init__()
            self.model = net

        def forward(self, x):
            return self.model(x)

    raw = {}
    inference = Inference()
    forward = inference.forward

    def capture(x):
        y = forward(x)
        raw[f"input.{x.shape[2]}x{x.shape[3]}"] = x.numpy().copy()
        raw[f"depth.{x.shape[2]}x{x.shape[3]}"] = y.numpy().copy()
        return y

    inference.forward = capture
    detector = MidasDetector(inference)
    photo = np.array(Image.open(PHOTO).convert("RGB"))
    cases = []

    def add(name, spec, res, image):
        Image.fromarray(util.HWC3(np.ascontiguousarray(image))).save(os.path.join(args.out, name + ".png"))
        cases.append({"name": name, "preprocess": spec, "resolution": res})

    for res in (128, 192):
        depth = detector(photo, detect_resolution=res, image_resolution=res, output_type="np")
        add(f"midas_{res}", "midas", res, depth)
        for a, bg_th, spec in ((np.pi * 2.0, 0.1, "normal_midas"), (3.0, 0.4, "normal_midas:a=3:bg_th=0.4")):
            d2, normal = detector(photo, a=a, bg_th=bg_th, depth_and_normal=True, detect_resolution=res,
                                  image_resolution=res, output_type="np")
            assert np.array_equal(d2, depth)
            add(f"{spec.replace(':', '_').replace('=', '')}_{res}", spec, res, normal)
    save_file(raw, os.path.join(args.out, "raw.safetensors"))
    with open(os.path.join(args.out, "cases.json"), "w") as f:
        json.dump({"photo": "control/source.png", "cases": cases}, f, indent=1)


if __name__ == "__main__":
    main()
