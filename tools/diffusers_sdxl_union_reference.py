#!/usr/bin/env python3
"""Reference images from diffusers' StableDiffusionXLControlNetUnionPipeline for the CLI parity
test (tests/cli/test_sdxl_union_parity.sh).

From the tiny SDXL folder that make_tiny_models.py writes (set up as
diffusers_sdxl_controlnet_reference.py does), it makes a random ControlNet Union
(ControlNetUnionModel.from_unet, 8 control types as xinsir's files, then random weights), saves
it as a diffusers folder and as the single diffusers-named .safetensors file xinsir ships
(named *_promax.safetensors, no config), runs diffusers on a list of requests (one control type,
the single file, two types at once, two types with start/end, guess mode, a batch of two) and
writes per case the 8-bit PNGs diffusers makes and the `gen` arguments of the same request into
OUT/cases.json. The "none" case is the same request without the ControlNet (the test checks that
the Union changes the image).

    python tools/diffusers_sdxl_union_reference.py --models DIR --out OUT
"""
import argparse
import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

# xinsir/controlnet-union-sdxl-1.0's control types (the model card's indices).
TYPES = {"openpose": 0, "depth": 1, "hed": 2, "canny": 3, "normal": 4, "segment": 5, "tile": 6, "repaint": 7}


def random_union(unet, seed):
    """A ControlNet Union shaped after `unet`: every weight moved by noise, the zero convolutions,
    spatial_ch_projs and the hint encoder's ends made large, so that the control images and their
    types show in the result as with a trained net."""
    from diffusers import ControlNetUnionModel
    c = unet.config.block_out_channels[0]
    base = ControlNetUnionModel.from_unet(unet, conditioning_embedding_out_channels=(16, 32, 32, 64))
    cfg = {k: v for k, v in base.config.items() if not k.startswith("_")}
    net = ControlNetUnionModel(**{**cfg, "num_control_type": 8, "num_trans_channel": c, "num_proj_channel": c,
                                  "num_trans_head": 8})
    g = torch.Generator().manual_seed(seed)
    for name, p in sorted(net.named_parameters()):
        if name == "task_embedding":
            p.data = torch.randn(p.shape, generator=g)
            continue
        p.data = 0.05 * torch.randn(p.shape, generator=g) + (p.data if p.std() > 0 else 0)
        if name.startswith(("controlnet_down_blocks.", "controlnet_mid_block.", "controlnet_cond_embedding.conv_",
                            "spatial_ch_projs.", "control_add_embedding.")):
            p.data *= 10
    return net.eval()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    import diffusers
    from diffusers import StableDiffusionXLControlNetUnionPipeline, StableDiffusionXLPipeline
    from diffusers_sdxl_reference import save_tiny_sdxl
    from safetensors.torch import save_file
    torch.set_grad_enabled(False)
    os.makedirs(a.out, exist_ok=True)
    folder = save_tiny_sdxl(a.models, a.out)
    pipe = StableDiffusionXLPipeline.from_pretrained(folder)

    net = random_union(pipe.unet, 93)
    union_dir = os.path.join(a.out, "controlnet-union")
    union_file = os.path.join(a.out, "controlnet-union_promax.safetensors")
    net.save_pretrained(union_dir)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, union_file)

    rng = np.random.default_rng(6)
    controls = []
    for i in range(2):
        path = os.path.join(a.out, f"control{i}.png")
        Image.fromarray((rng.random((64, 80, 3)) * 255).astype(np.uint8)).save(path)
        controls.append(path)

    cases = [
        dict(name="none", seed=1, prompt="a red house by the sea", negative="fog", types=[]),
        dict(name="one", seed=1, prompt="a red house by the sea", negative="fog", types=["depth"], scale=0.8),
        # The same weights as xinsir's single file: diffusers' image of the folder ("same").
        dict(name="one_file", same="one", file=True, seed=1, prompt="a red house by the sea", negative="fog",
             types=["depth"], scale=0.8),
        dict(name="two", seed=2, prompt="a cat", negative="", types=["openpose", "canny"], scale=0.7),
        dict(name="two_start_end", seed=3, prompt="a boat", negative="rain", sampler="dpmpp_2m",
             types=["segment", "hed"], scale=1.0, start=0.25, end=0.75),
        # Guess mode without CFG: diffusers 0.42's Union pipeline fails with both (the one-hot is
        # repeated for the two CFG halves while the ControlNet runs on the conditional one).
        dict(name="guess", seed=4, prompt="a tower", negative="", cfg=1.0, guess=True, types=["normal"], scale=1.2),
        dict(name="guess_two", seed=5, prompt="a tower", negative="", cfg=1.0, guess=True, types=["tile", "depth"],
             scale=0.9),
        dict(name="batch_two", seed=6, prompt="a lake", negative="blurry", batch=2, types=["canny", "openpose"],
             scale=1.0),
    ]
    schedulers = {"euler": "EulerDiscreteScheduler", "dpmpp_2m": "DPMSolverMultistepScheduler"}
    out_cases, done = [], {}
    for c in cases:
        steps, cfg, w, h, sampler = 4, c.get("cfg", 7.5), 80, 64, c.get("sampler", "euler")
        batch = c.get("batch", 1)
        scheduler = getattr(diffusers, schedulers[sampler]).from_config(pipe.scheduler.config)
        parts = {**pipe.components, "scheduler": scheduler}
        gens = [torch.Generator().manual_seed(c["seed"] + i) for i in range(batch)]
        kw = dict(prompt=c["prompt"], negative_prompt=c["negative"], num_inference_steps=steps, guidance_scale=cfg,
                  generator=gens, width=w, height=h, output_type="np", num_images_per_prompt=batch)
        args = ["-p", c["prompt"], "-n", c["negative"], "-m", folder, "-W", str(w), "-H", str(h),
                "--steps", str(steps), "--cfg-scale", str(cfg), "--sampler", sampler, "--seed", str(c["seed"])]
        if batch > 1:
            args += ["--batch-size", str(batch)]
        types = c["types"]
        start, end = c.get("start", 0.0), c.get("end", 1.0)
        if c.get("same"):
            images = done[c["same"]]
        elif not types:
            images = StableDiffusionXLPipeline(**parts)(**kw).images
        else:
            imgs = [Image.open(controls[i]).convert("RGB") for i in range(len(types))]
            run = StableDiffusionXLControlNetUnionPipeline(controlnet=net, **parts)
            images = run(**kw, control_image=imgs, control_mode=[TYPES[t] for t in types],
                         controlnet_conditioning_scale=c["scale"], control_guidance_start=start,
                         control_guidance_end=end, guess_mode=c.get("guess", False)).images
        if types:
            args += ["--control", union_file if c.get("file") else union_dir, "--control-scale", str(c["scale"]),
                     "--control-start", str(start), "--control-end", str(end)]
            for i, t in enumerate(types):
                args += ["--control-type", t, "--control-image", controls[i]]
        if c.get("guess"):
            args.append("--guess-mode")
        done[c["name"]] = images
        for i, img in enumerate(images):
            Image.fromarray((img * 255).round().astype(np.uint8)).save(os.path.join(a.out, f"{c['name']}-{i}.png"))
        infotext = f"Union Type: {'+'.join(types)}" if types else ""
        out_cases.append(dict(name=c["name"], batch=batch, args=args, infotext=infotext))
    with open(os.path.join(a.out, "cases.json"), "w") as f:
        json.dump(out_cases, f, indent=1)


if __name__ == "__main__":
    main()
