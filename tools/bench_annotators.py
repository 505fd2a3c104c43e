#!/usr/bin/env python3
"""gen's annotators beside controlnet-aux 0.0.10, in one run, on the same picture, the same random
weights (the original .pth layouts, converted once with `gen convert` for gen) and the same
thread count (torch.set_num_threads here, --threads for gen).

  python tools/bench_annotators.py --gen build/tools/gen --dir /tmp/annbench [--threads 2]
      [--repeats 5] [--warmup 1] [--device cpu|cuda] [--rounds 1] [--annotators hed pidinet ...]

gen: `gen bench -w annotators --json` (weights loaded once, each map timed as `gen preprocess`
makes it: detect and image resolution 512). Reference: the controlnet-aux detector called with
detect_resolution=image_resolution=512, on the same device as gen (--device; the detectors' .to())
(hed, pidinet, lineart, lineart_coarse, lineart_anime, mlsd with thresholds 0.1/0.1, openpose (body
only: random weights find no people, so no hand or face crops run on either side), lineart_standard,
shuffle (gen seeded, the reference from numpy's global state), midas and normal_midas: MidasDetector
over the DPT-Hybrid of tools/make_annotator_files.py);
depth_anything (not in controlnet-aux 0.0.10): transformers' DepthAnythingForDepthEstimation
(vits size) with the original repo's preprocessing (tools/depth_anything_reference.py:
network_input at 518, the original position-embedding resize), bilinear to the picture size,
min-max to 8 bits; normal_bae (not in the default list: the full-size network, 290 MB): the real-size
NNET of tools/normalbae_reference.py --full with random weights, saved as scannet.pt and converted,
run by controlnet-aux's NormalBaeDetector. Prints a table of medians and the ratio gen / reference.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings

warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_annotator_files as maf  # noqa: E402

DEFAULT = ["hed", "pidinet", "lineart", "lineart_coarse", "lineart_anime", "mlsd", "openpose", "lineart_standard",
           "shuffle", "depth_anything"]
# annotator → tools/make_annotator_files.py --full KIND
WEIGHTS = {"hed": "hed", "pidinet": "pidinet", "lineart": "lineart", "lineart_coarse": "lineart_coarse",
           "lineart_anime": "lineart_anime", "mlsd": "mlsd", "openpose": "openpose",
           "midas": "midas", "normal_midas": "midas"}


def picture(size=512):
    """Smooth colour gradients, a disc, bars and mild noise (fixed seed)."""
    rng = np.random.default_rng(18)
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    img = np.stack([60 + 150 * x / size, 80 + 120 * y / size, 200 - 120 * (x + y) / (2 * size)], -1)
    disc = (x - size * 0.4) ** 2 + (y - size * 0.55) ** 2 < size * size * 0.04
    img[disc] = [230, 190, 150]
    bars = ((x // (size // 8)) % 3 == 0) & (y > size * 0.7)
    img[bars] = [30, 50, 70]
    return np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)


def reference_runners(d, names, device):
    from controlnet_aux.hed import ControlNetHED_Apache2, HEDdetector
    from controlnet_aux.lineart import Generator, LineartDetector
    from controlnet_aux.lineart_standard import LineartStandardDetector
    from controlnet_aux.pidi import PidiNetDetector
    from controlnet_aux.pidi.model import pidinet

    def load(path):
        return torch.load(os.path.join(d, path), map_location="cpu")

    run = {}
    kw = dict(detect_resolution=512, image_resolution=512, output_type="np")
    if "hed" in names:
        net = ControlNetHED_Apache2().float().eval()
        net.load_state_dict(load("ControlNetHED.pth"))
        det = HEDdetector(net).to(device)
        run["hed"] = lambda p: det(p, **kw)
    if "pidinet" in names:
        net = pidinet().eval()
        net.load_state_dict({k.replace("module.", ""): v for k, v in load("table5_pidinet.pth")["state_dict"].items()})
        det_p = PidiNetDetector(net).to(device)
        run["pidinet"] = lambda p: det_p(p, **kw)
    if "lineart" in names or "lineart_coarse" in names:
        g1, g2 = Generator(3, 1, 3).eval(), Generator(3, 1, 3).eval()
        if "lineart" in names:
            g1.load_state_dict(load("sk_model.pth"))
        if "lineart_coarse" in names:
            g2.load_state_dict(load("sk_model2.pth"))
        det_l = LineartDetector(g1, g2).to(device)
        run["lineart"] = lambda p: det_l(p, coarse=False, **kw)
        run["lineart_coarse"] = lambda p: det_l(p, coarse=True, **kw)
    if "lineart_standard" in names:
        det_s = LineartStandardDetector()
        run["lineart_standard"] = lambda p: det_s(p, detect_resolution=512, output_type="np")
    if "lineart_anime" in names:
        import functools

        from controlnet_aux.lineart_anime import LineartAnimeDetector, UnetGenerator
        norm = functools.partial(torch.nn.InstanceNorm2d, affine=False, track_running_stats=False)
        net = UnetGenerator(3, 1, 8, 64, norm_layer=norm, use_dropout=False)  # as from_pretrained builds it
        net.load_state_dict({k.replace("module.", ""): v for k, v in load("netG.pth").items()})
        det_a = LineartAnimeDetector(net.eval()).to(device)
        run["lineart_anime"] = lambda p: det_a(p, **kw)
    if "mlsd" in names:
        from controlnet_aux.mlsd import MLSDdetector
        from controlnet_aux.mlsd.models.mbv2_mlsd_large import MobileV2_MLSD_Large
        net = MobileV2_MLSD_Large()
        net.load_state_dict(load("mlsd_large_512_fp32.pth"), strict=True)
        det_ml = MLSDdetector(net.eval()).to(device)
        run["mlsd"] = lambda p: det_ml(p, thr_v=0.1, thr_d=0.1, **kw)
    if "openpose" in names:
        from controlnet_aux.open_pose import OpenposeDetector
        from controlnet_aux.open_pose.body import Body
        body = Body(os.path.join(d, "body_pose_model.pth"))
        body.to(device)
        det_o = OpenposeDetector(body)
        run["openpose"] = lambda p: det_o(p, include_body=True, include_hand=False, include_face=False, **kw)
    if "shuffle" in names:
        from controlnet_aux.shuffle import ContentShuffleDetector
        det_sh = ContentShuffleDetector()
        np.random.seed(18)
        run["shuffle"] = lambda p: det_sh(p, **kw)
    if "depth_anything" in names:
        run["depth_anything"] = depth_reference(d, device)
    if "midas" in names or "normal_midas" in names:
        from controlnet_aux.midas import MidasDetector

        class Inference(torch.nn.Module):  # MiDaSInference without its file loading
            def __init__(self):
                super().__init__()
                self.model = maf.midas().eval()
                self.model.load_state_dict(load("dpt_hybrid-midas-501f0c75.pt"))

            def forward(self, x):
                return self.model(x)

        det_m = MidasDetector(Inference().eval()).to(device)
        run["midas"] = lambda p: det_m(p, **kw)
        run["normal_midas"] = lambda p: det_m(p, depth_and_normal=True, **kw)[1]
    if "normal_bae" in names:
        import normalbae_reference
        from controlnet_aux.normalbae import NormalBaeDetector
        det_n = NormalBaeDetector(normalbae_reference.make_model(d, full=True)).to(device)  # writes d/scannet.pt
        run["normal_bae"] = lambda p: det_n(p, **kw)
    return run


def depth_reference(d, device):
    """transformers' model (vits size, random weights) and its original-layout copy for gen, written
    here from the same model so both run the same weights."""
    import depth_anything_reference as dar
    from safetensors.torch import save_file

    width, layers, heads, neck, fusion, out_indices = maf.DEPTH["vits"]
    model = maf.hf_depth_anything("vits", meta=False)
    torch.manual_seed(18)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("lambda1") or ("norm" in name and name.endswith("weight")):
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            elif p.dim() == 1:
                p.copy_(0.1 * torch.randn_like(p))
            else:
                p.copy_(torch.randn_like(p) / max(1.0, p[0].numel()) ** 0.5)
    dar.HIDDEN, dar.LAYERS = width, layers
    save_file(dar.original_state_dict(model), os.path.join(d, "depth_anything_v2_vits.safetensors"))
    emb = model.backbone.embeddings
    emb.interpolate_pos_encoding = dar.original_interpolation.__get__(emb)
    model.to(device)

    def run(p):
        x = dar.network_input(p, 518).to(device)
        with torch.no_grad():
            depth = model(pixel_values=x).predicted_depth[:, None]
            depth = torch.nn.functional.interpolate(depth, p.shape[:2], mode="bilinear", align_corners=True)[0, 0].cpu()
        depth = (depth - depth.min()) / (depth.max() - depth.min()) * 255.0
        return depth.numpy().astype(np.uint8)
    return run


def median_times(fn, p, warmup, repeats):
    for _ in range(warmup):
        fn(p)
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(p)
        out.append(time.perf_counter() - t0)
    return statistics.median(out), min(out), max(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gen", required=True)
    ap.add_argument("--dir", required=True, help="scratch folder for the weights and the picture")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--annotators", nargs="+", default=DEFAULT)
    ap.add_argument("--rounds", type=int, default=1, help="alternate gen and the reference this many times")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    torch.set_num_threads(a.threads)
    kinds = [WEIGHTS[n] for n in a.annotators if n in WEIGHTS]
    missing = [k for k in kinds if not os.path.exists(os.path.join(a.dir, maf.FULL[k]))]
    if missing:
        subprocess.run([sys.executable, os.path.join(HERE, "make_annotator_files.py"), "--full", a.dir, *missing],
                       check=True, stdout=subprocess.DEVNULL)
    specs = []
    for n in a.annotators:
        if n in WEIGHTS:
            pth = os.path.join(a.dir, maf.FULL[WEIGHTS[n]])
            st = os.path.splitext(pth)[0] + ".safetensors"
            if not os.path.exists(st):
                subprocess.run([a.gen, "convert", pth, st], check=True, stdout=subprocess.DEVNULL)
            specs.append(n)
        elif n == "depth_anything":  # its weights come with the reference model (depth_reference)
            specs.append(n + ":file=" + os.path.join(a.dir, "depth_anything_v2_vits.safetensors"))
        elif n == "normal_bae":  # likewise (reference_runners writes scannet.pt; converted below)
            specs.append(n + ":file=" + os.path.join(a.dir, "scannet.safetensors"))
        elif n == "shuffle":  # seeded in gen (the reference draws from numpy's global state)
            specs.append("shuffle:seed=18")
        else:
            specs.append(n)
    pic = picture()
    png = os.path.join(a.dir, "picture.png")
    Image.fromarray(pic).save(png)

    run = reference_runners(a.dir, a.annotators, a.device)
    if "normal_bae" in a.annotators:
        subprocess.run([a.gen, "convert", os.path.join(a.dir, "scannet.pt"), os.path.join(a.dir, "scannet.safetensors"),
                        "--overwrite"], check=True, stdout=subprocess.DEVNULL)  # made again with each run
    cmd = [a.gen, "bench", "-w", "annotators", "--json", "--annotator-dir", a.dir, "--image", png,
           "--threads", str(a.threads), "--warmup", str(a.warmup), "--repeats", str(a.repeats),
           "--device", a.device]
    for spec in specs:
        cmd += ["--preprocess", spec]

    print(f"annotators at 512x512, {a.threads} thread(s), device {a.device}, {a.warmup} warm-up, "
          f"{a.repeats} repeats (median s), {a.rounds} round(s)")
    print(f"{'annotator':18} {'gen':>9} {'reference':>10} {'gen/ref':>8}")
    rows = []
    # A round: gen's annotators (one process), then the reference's. With --rounds N the two
    # alternate N times, so a slow spell of the machine does not land on one side only.
    for k in range(a.rounds):
        res = subprocess.run(cmd, check=True, capture_output=True, text=True)
        gen = {r["preprocess"].split(":")[0]: r for r in json.loads(res.stdout)["annotators"]}
        for n in a.annotators:
            ref = median_times(run[n], pic, a.warmup, a.repeats)[0]
            g = gen[n]["median_s"]
            rows.append({"annotator": n, "round": k, "gen_s": g, "reference_s": ref, "ratio": g / ref})
            print(f"{n:18} {g:9.4f} {ref:10.4f} {g / ref:8.2f}" + (f"   round {k + 1}" if a.rounds > 1 else ""))
    with open(os.path.join(a.dir, "bench_annotators.json"), "w") as f:
        json.dump({"threads": a.threads, "device": a.device, "repeats": a.repeats, "rounds": a.rounds, "rows": rows},
                  f, indent=1)


if __name__ == "__main__":
    main()
