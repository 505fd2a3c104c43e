#!/usr/bin/env python3
"""SDXL T2I-Adapter references from diffusers' StableDiffusionXLAdapterPipeline for the CLI
parity test (tests/cli/test_t2i_adapter_sdxl.sh, docs/t2i_adapter.md).

With the tiny models of tools/make_tiny_models.py in M: the tiny SDXL pipeline saved as
tools/diffusers_sdxl_reference.py saves it (SDXL's scheduler config, the tokenizers padded as
sd_xl_base_1.0's), random diffusers T2IAdapters of type full_adapter_xl (PixelUnshuffle(16), the
pool only before the third level; TencentARC's t2i-adapter-*-sdxl-1.0 are such folders) whose
channels fit the tiny SDXL UNet, control images, and the images the pipeline renders (one
adapter, a MultiAdapter of two with a batch of 2, a one-channel adapter without CFG on a resized
image), with cases.json for tests/cli/parity.sh (gen's arguments for the same requests).

    python tools/t2i_adapter_sdxl_reference.py --models M --out R
"""
import argparse
import importlib.util
import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def sd15_tool():  # make_adapter: the random adapters of tools/t2i_adapter_reference.py
    spec = importlib.util.spec_from_file_location("t2i_adapter_reference", os.path.join(HERE, "t2i_adapter_reference.py"))
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    from diffusers import StableDiffusionXLAdapterPipeline, StableDiffusionXLPipeline
    from diffusers.models.adapter import MultiAdapter
    from diffusers_sdxl_reference import save_tiny_sdxl
    torch.set_grad_enabled(False)
    make_adapter = sd15_tool().make_adapter
    os.makedirs(a.out, exist_ok=True)
    folder = save_tiny_sdxl(a.models, a.out)
    pipe = StableDiffusionXLPipeline.from_pretrained(folder)
    ch = list(pipe.unet.config.block_out_channels)
    # FullAdapterXL has 4 levels: the tiny UNet's 2 take the first two features (the third,
    # pooled, does not fit its middle block and is unused, as in diffusers).
    xl = dict(channels=ch + [ch[-1]] * (4 - len(ch)), downscale_factor=16, adapter_type="full_adapter_xl")
    adapters = {"xl": make_adapter(21, 3.0, in_channels=3, num_res_blocks=2, **xl),
                "xl2": make_adapter(22, 3.0, in_channels=3, num_res_blocks=2, **xl),
                "xl_grey": make_adapter(23, 3.0, in_channels=1, num_res_blocks=1, **xl)}
    files = {}
    for name, ad in adapters.items():
        files[name] = os.path.join(a.out, f"adapter-{name}")
        ad.save_pretrained(files[name])
    rng = np.random.default_rng(6)
    images = []
    for i, (h, w) in enumerate(((64, 80), (64, 80), (75, 90))):  # the last one is resized (Lanczos)
        path = os.path.join(a.out, f"adapter{i}.png")
        Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8)).save(path)
        images.append(path)
    cases = [dict(name="none", seed=50, units=[]),
             dict(name="xl_folder", seed=50, units=[("xl", 0, 0.8)]),
             dict(name="xl_weights_file", seed=50, units=[("xl", 1, 1.0)], weights_file=True),
             dict(name="xl_multi_batch2", seed=50, batch=2, units=[("xl", 0, 0.7), ("xl2", 1, 0.5)]),
             dict(name="xl_grey_resized_no_cfg", seed=50, cfg=1.0, units=[("xl_grey", 2, 1.2)])]
    out_cases = []
    for c in cases:
        steps, cfg, batch, w, h = 4, c.get("cfg", 7.5), c.get("batch", 1), 80, 64
        gens = [torch.Generator().manual_seed(c["seed"] + i) for i in range(batch)]
        kw = dict(prompt="a lighthouse", negative_prompt="fog", num_inference_steps=steps, guidance_scale=cfg,
                  num_images_per_prompt=batch, generator=gens, width=w, height=h, output_type="np")
        args = ["-p", "a lighthouse", "-n", "fog", "-m", folder, "-W", str(w), "-H", str(h), "--steps", str(steps),
                "--cfg-scale", str(cfg), "--sampler", "euler", "--seed", str(c["seed"]), "--batch-size", str(batch)]
        units = c["units"]
        if not units:
            result = StableDiffusionXLPipeline(**pipe.components)(**kw).images
        else:
            ims = []
            for kind, image, _ in units:
                im = Image.open(images[image]).convert("RGB")
                ims.append(im.convert("L") if adapters[kind].config.in_channels == 1 else im)
            one = len(units) == 1
            net = adapters[units[0][0]] if one else MultiAdapter([adapters[u[0]] for u in units])
            run = StableDiffusionXLAdapterPipeline(adapter=net, **pipe.components)
            result = run(**kw, image=ims[0] if one else ims,
                         adapter_conditioning_scale=units[0][2] if one else [u[2] for u in units]).images
            for kind, image, scale in units:
                f = files[kind]
                if c.get("weights_file"):  # the weights file alone: the kind from the shapes (16x unshuffle)
                    f = os.path.join(f, "diffusion_pytorch_model.safetensors")
                args += ["--adapter", f, "--adapter-image", images[image], "--adapter-scale", str(scale)]
        for i, im in enumerate(result):
            Image.fromarray((im * 255).round().astype(np.uint8)).save(os.path.join(a.out, f"{c['name']}-{i}.png"))
        out_cases.append(dict(name=c["name"], batch=batch, args=args, infotext=""))
    with open(os.path.join(a.out, "cases.json"), "w") as f:
        json.dump(out_cases, f, indent=1)


if __name__ == "__main__":
    main()
