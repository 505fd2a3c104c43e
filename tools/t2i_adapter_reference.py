#!/usr/bin/env python3
"""T2I-Adapter references from diffusers (models/adapter.py, StableDiffusionAdapterPipeline).

Two modes:

  t2i_adapter_reference.py --fixtures tests/data/t2i_adapter
      Small random adapters and one call each (the unit test tests/unit/test_t2i_adapter.cpp):
      <name>.safetensors (diffusers names), <name>.pth (TencentARC's original names, torch.save),
      <name>_io.safetensors (the input image "x" and diffusers' features "feature.<i>").

  t2i_adapter_reference.py --models M --out R
      With the tiny models of tools/make_tiny_models.py in M: random adapters that fit the tiny
      SD 1.5 UNet (diffusers folders and original .pth files), control images, and the images
      StableDiffusionAdapterPipeline renders for each case (single adapter and MultiAdapter),
      with cases.json for tests/cli/parity.sh (gen's arguments for the same requests).

Run with the project venv's python (torch 2.11, diffusers 0.42.1). The original-layout files are
written from the diffusers weights with the names of TencentARC's ldm/modules/encoders/adapter.py
(Adapter: body.<level·n + block>; Adapter_light: body.<level>.body.<block>).
"""
import argparse
import json
import os
import re

import numpy as np
import torch


def original_names(state, light, num_res_blocks):
    """diffusers T2IAdapter names -> TencentARC's original names."""
    out = {}
    for k, v in state.items():
        assert k.startswith("adapter."), k
        k = k[len("adapter."):]
        if light:
            k = re.sub(r"^body\.(\d+)\.resnets\.(\d+)\.", r"body.\1.body.\2.", k)
        else:
            m = re.match(r"^body\.(\d+)\.resnets\.(\d+)\.(.*)$", k)
            if m:
                k = f"body.{int(m[1]) * num_res_blocks + int(m[2])}.{m[3]}"
            m = re.match(r"^body\.(\d+)\.in_conv\.(.*)$", k)
            if m and not light:
                k = f"body.{int(m[1]) * num_res_blocks}.in_conv.{m[2]}"
        out[k] = v.contiguous()
    return out


def make_adapter(seed, scale=1.0, **config):
    from diffusers import T2IAdapter
    torch.manual_seed(seed)
    a = T2IAdapter(**config).eval()
    g = torch.Generator().manual_seed(seed + 1000)
    with torch.no_grad():
        for p in a.parameters():  # random, strong enough to show in a tiny model's images
            p.copy_(torch.randn(p.shape, generator=g) * scale / max(1.0, (p[0].numel()) ** 0.5))
    return a


def save_original(adapter, path):
    c = adapter.config
    light = c.adapter_type == "light_adapter"
    torch.save(original_names(adapter.state_dict(), light, c.num_res_blocks), path)


def fixtures(out):
    from safetensors.torch import save_file
    os.makedirs(out, exist_ok=True)
    specs = {
        "full": dict(in_channels=3, channels=[4, 8], num_res_blocks=2, adapter_type="full_adapter"),
        "light": dict(in_channels=3, channels=[4, 8], num_res_blocks=2, adapter_type="light_adapter"),
        "full_grey": dict(in_channels=1, channels=[4, 8, 8], num_res_blocks=1, adapter_type="full_adapter"),
    }
    for i, (name, cfg) in enumerate(specs.items()):
        a = make_adapter(100 + i, **cfg)
        save_file({k: v.contiguous() for k, v in a.state_dict().items()}, os.path.join(out, name + ".safetensors"))
        save_original(a, os.path.join(out, name + ".pth"))
        g = torch.Generator().manual_seed(200 + i)
        x = torch.rand((1, cfg["in_channels"], 40, 24), generator=g)  # odd feature sizes: the ceil-mode pool
        with torch.no_grad():
            feats = a(x)
        io = {"x": x}
        io.update({f"feature.{k}": f.contiguous() for k, f in enumerate(feats)})
        save_file(io, os.path.join(out, name + "_io.safetensors"))


def cli_cases(models, out):
    from diffusers import StableDiffusionAdapterPipeline, StableDiffusionPipeline, EulerDiscreteScheduler, \
        DPMSolverMultistepScheduler, EulerAncestralDiscreteScheduler
    from diffusers.models.adapter import MultiAdapter
    from PIL import Image
    torch.set_grad_enabled(False)
    os.makedirs(out, exist_ok=True)
    sd = StableDiffusionPipeline.from_pretrained(os.path.join(models, "diffusers", "tiny-sd15-pipeline"),
                                                 safety_checker=None, requires_safety_checker=False)
    ch = list(sd.unet.config.block_out_channels)
    adapters = {
        "full": make_adapter(11, 3.0, in_channels=3, channels=ch, num_res_blocks=2, adapter_type="full_adapter"),
        # light: diffusers' channels list gives one more feature (its last, pooled): unused here
        "light": make_adapter(12, 3.0, in_channels=3, channels=ch, num_res_blocks=2, adapter_type="light_adapter"),
        "grey": make_adapter(13, 3.0, in_channels=1, channels=ch, num_res_blocks=1, adapter_type="full_adapter"),
        "full2": make_adapter(14, 3.0, in_channels=3, channels=ch, num_res_blocks=2, adapter_type="full_adapter"),
    }
    files = {}
    for name, a in adapters.items():
        folder = os.path.join(out, f"adapter-{name}")
        a.save_pretrained(folder)
        files[name] = folder
        files[name + "_pth"] = os.path.join(out, f"adapter-{name}.pth")
        save_original(a, files[name + "_pth"])
    rng = np.random.default_rng(5)
    images = []
    for i, (h, w) in enumerate(((64, 80), (64, 80), (70, 93))):  # the last one is resized (Lanczos)
        path = os.path.join(out, f"adapter{i}.png")
        Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8)).save(path)
        images.append(path)
    schedulers = {"euler": EulerDiscreteScheduler, "euler_a": EulerAncestralDiscreteScheduler,
                  "dpmpp_2m": DPMSolverMultistepScheduler}
    # One sampler and seed throughout: each case differs from "none" by its adapters alone.
    cases = [
        dict(name="none", sampler="euler", seed=40, units=[]),
        dict(name="full_folder", sampler="euler", seed=40, units=[("full", "full", 0, 0.8)]),
        dict(name="full_pth", sampler="euler", seed=40, units=[("full", "full_pth", 1, 1.0)]),
        dict(name="light_pth", sampler="euler", seed=40, units=[("light", "light_pth", 0, 1.0)]),
        dict(name="grey_resized", sampler="euler", seed=40, units=[("grey", "grey", 2, 1.2)]),
        # (MultiAdapter needs adapters that downscale alike: the light adapter pools once more)
        dict(name="multi", sampler="euler", seed=40, batch=2,
             units=[("full", "full_pth", 0, 0.7), ("full2", "full2", 1, 0.5)]),
        dict(name="multi_three_no_cfg", sampler="euler", seed=40, cfg=1.0,
             units=[("full", "full", 1, 0.6), ("grey", "grey_pth", 0, 0.9), ("full2", "full2_pth", 2, 0.4)]),
    ]
    out_cases = []
    for c in cases:
        steps, cfg, batch, w, h = 4, c.get("cfg", 7.5), c.get("batch", 1), 80, 64
        sched = schedulers[c["sampler"]].from_config(sd.scheduler.config)
        parts = dict(vae=sd.vae, text_encoder=sd.text_encoder, tokenizer=sd.tokenizer, unet=sd.unet,
                     scheduler=sched, safety_checker=None, feature_extractor=None, requires_safety_checker=False)
        gens = [torch.Generator().manual_seed(c["seed"] + i) for i in range(batch)]
        kw = dict(prompt="a lighthouse", negative_prompt="fog", num_inference_steps=steps, guidance_scale=cfg,
                  num_images_per_prompt=batch, generator=gens, width=w, height=h, output_type="np")
        args = ["-p", "a lighthouse", "-n", "fog", "-m", os.path.join(models, "diffusers", "tiny-sd15-pipeline"),
                "-W", str(w), "-H", str(h), "--steps", str(steps), "--cfg-scale", str(cfg), "--sampler", c["sampler"],
                "--seed", str(c["seed"]), "--batch-size", str(batch)]
        units = c["units"]
        if not units:
            result = StableDiffusionPipeline(**parts)(**kw).images
        else:
            ims = []
            for kind, _, image, _ in units:
                im = Image.open(images[image]).convert("RGB")
                ims.append(im.convert("L") if adapters[kind].config.in_channels == 1 else im)
            one = len(units) == 1
            net = adapters[units[0][0]] if one else MultiAdapter([adapters[u[0]] for u in units])
            pipe = StableDiffusionAdapterPipeline(adapter=net, **parts)
            result = pipe(**kw, image=ims[0] if one else ims,
                          adapter_conditioning_scale=units[0][3] if one else [u[3] for u in units]).images
            for _, file, image, scale in units:
                args += ["--adapter", files[file], "--adapter-image", images[image], "--adapter-scale", str(scale)]
        for i, im in enumerate(result):
            Image.fromarray((im * 255).round().astype(np.uint8)).save(os.path.join(out, f"{c['name']}-{i}.png"))
        # The infotext names the adapter by its file name, never its path (docs/metadata.md).
        infotext = f"T2I-Adapter 0: \"Model: {os.path.basename(files[units[0][1]])}, Weight: " if units else ""
        out_cases.append(dict(name=c["name"], batch=batch, args=args, infotext=infotext))
    with open(os.path.join(out, "cases.json"), "w") as f:
        json.dump(out_cases, f, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fixtures", help="write the unit-test fixtures into this folder")
    ap.add_argument("--models", help="the tiny models (tools/make_tiny_models.py --out)")
    ap.add_argument("--out", help="where the CLI references go")
    a = ap.parse_args()
    if a.fixtures:
        fixtures(a.fixtures)
    elif a.models and a.out:
        cli_cases(a.models, a.out)
    else:
        ap.error("give --fixtures DIR, or --models M --out R")


if __name__ == "__main__":
    main()
