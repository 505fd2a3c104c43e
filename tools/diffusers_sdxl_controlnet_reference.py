#!/usr/bin/env python3
"""Reference images from diffusers' StableDiffusionXLControlNetPipeline for the CLI parity test
(tests/cli/test_sdxl_controlnet_parity.sh).

From the tiny SDXL folder that make_tiny_models.py writes (set up as
diffusers_sdxl_reference.py does: sd_xl_base_1.0's tokenizer padding and scheduler config), it
makes two SDXL ControlNets (diffusers ControlNetModel.from_unet, then random weights; the
second a "small"-like one: transformer_layers_per_block 0, norm and projections only), saves
them as diffusers folders and the first also as an LDM single file (control_model.* names,
label_emb, no config), runs diffusers on a list of requests (one ControlNet, the LDM file, two
ControlNets, start/end, guess mode, the small one) and writes per case the 8-bit PNG diffusers
makes and the `gen` arguments of the same request into OUT/cases.json. The "none" case is the
same request without a ControlNet (the test checks that every ControlNet changes the image).

    python tools/diffusers_sdxl_controlnet_reference.py --models DIR --out OUT
"""
import argparse
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
HERE = os.path.dirname(os.path.abspath(__file__))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402


def random_controlnet(unet, seed, **config):
    """An SDXL ControlNet shaped after `unet` (config keys overridden by `config`), random
    weights: every weight moved by noise, the zero convolutions and the hint encoder's ends
    made large, so that the control image's content shows in the result as with a trained net."""
    from diffusers import ControlNetModel
    base = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(16, 32, 32, 64))
    net = ControlNetModel.from_config({**dict(base.config), **config})
    g = torch.Generator().manual_seed(seed)
    for name, p in sorted(net.named_parameters()):
        p.data = 0.05 * torch.randn(p.shape, generator=g) + (p.data if p.std() > 0 else 0)
        if name.startswith(("controlnet_down_blocks.", "controlnet_mid_block.", "controlnet_cond_embedding.conv_")):
            p.data *= 10
    return net.eval()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    import diffusers
    from diffusers import StableDiffusionXLControlNetPipeline, StableDiffusionXLPipeline
    from diffusers.models.controlnets.multicontrolnet import MultiControlNetModel
    sys.path.insert(0, HERE)
    import make_tiny_models as layouts
    from diffusers_sdxl_reference import save_tiny_sdxl
    torch.set_grad_enabled(False)
    os.makedirs(a.out, exist_ok=True)
    folder = save_tiny_sdxl(a.models, a.out)
    pipe = StableDiffusionXLPipeline.from_pretrained(folder)

    cn = random_controlnet(pipe.unet, 91)
    n_levels = len(cn.config.down_block_types)
    small = random_controlnet(pipe.unet, 92, transformer_layers_per_block=[0] * n_levels)
    nets = {"cn": (cn, os.path.join(a.out, "controlnet-xl")),
            "small": (small, os.path.join(a.out, "controlnet-xl-small")),
            "ldm": (cn, os.path.join(a.out, "controlnet-xl-ldm.safetensors")),
            "small_ldm": (small, os.path.join(a.out, "controlnet-xl-small-ldm.safetensors"))}
    cn.save_pretrained(nets["cn"][1])
    small.save_pretrained(nets["small"][1])
    hint_blocks = 2 * (len(cn.config.conditioning_embedding_out_channels) - 1)
    for name in ("ldm", "small_ldm"):  # the LDM single files: control_model.* names, no config
        net, path = nets[name]
        table = layouts.unet_table(dict(net.config), controlnet=True, hint_blocks=hint_blocks)
        layouts.save(path, layouts.to_ldm(layouts.sd(net), table, "control_model."))

    rng = np.random.default_rng(5)
    controls = []
    for i in range(2):
        path = os.path.join(a.out, f"control{i}.png")
        Image.fromarray((rng.random((64, 80, 3)) * 255).astype(np.uint8)).save(path)
        controls.append(path)

    one = lambda net, image=0, scale=0.8, start=0.0, end=1.0: dict(net=net, image=image, scale=scale, start=start,  # noqa: E731
                                                                    end=end)
    cases = [
        dict(name="none", seed=1, prompt="a red house by the sea", negative="fog", controls=[]),
        dict(name="one", seed=1, prompt="a red house by the sea", negative="fog", controls=[one("cn")]),
        # The same weights as an LDM single file: diffusers' image of the folder ("same").
        dict(name="ldm_file", same="one", seed=1, prompt="a red house by the sea", negative="fog",
             controls=[one("ldm")]),
        dict(name="two", seed=2, prompt="a cat", negative="", controls=[one("cn", 0, 0.7), one("small", 1, 0.5)]),
        dict(name="start_end", seed=3, prompt="a boat", negative="rain", sampler="dpmpp_2m",
             controls=[one("cn", 1, 1.0, 0.25, 0.75)]),
        dict(name="guess", seed=4, prompt="a tower", negative="", cfg=3.0, guess=True, controls=[one("cn", 0, 1.2)]),
        dict(name="small", seed=5, prompt="a lake", negative="blurry", controls=[one("small", 1, 1.0)]),
        dict(name="small_ldm", same="small", seed=5, prompt="a lake", negative="blurry",
             controls=[one("small_ldm", 1, 1.0)]),
    ]
    schedulers = {"euler": "EulerDiscreteScheduler", "dpmpp_2m": "DPMSolverMultistepScheduler"}
    out_cases, done = [], {}
    for c in cases:
        steps, cfg, w, h, sampler = 4, c.get("cfg", 7.5), 80, 64, c.get("sampler", "euler")
        scheduler = getattr(diffusers, schedulers[sampler]).from_config(pipe.scheduler.config)
        parts = {**pipe.components, "scheduler": scheduler}
        gens = [torch.Generator().manual_seed(c["seed"])]
        kw = dict(prompt=c["prompt"], negative_prompt=c["negative"], num_inference_steps=steps, guidance_scale=cfg,
                  generator=gens, width=w, height=h, output_type="np")
        args = ["-p", c["prompt"], "-n", c["negative"], "-m", folder, "-W", str(w), "-H", str(h),
                "--steps", str(steps), "--cfg-scale", str(cfg), "--sampler", sampler, "--seed", str(c["seed"])]
        u = c["controls"]
        if c.get("same"):
            images = done[c["same"]]
        elif not u:
            images = StableDiffusionXLPipeline(**parts)(**kw).images
        else:
            single = len(u) == 1
            net = nets[u[0]["net"]][0] if single else MultiControlNetModel([nets[x["net"]][0] for x in u])
            pick = (lambda key: u[0][key]) if single else (lambda key: [x[key] for x in u])
            imgs = [Image.open(controls[x["image"]]).convert("RGB") for x in u]
            run = StableDiffusionXLControlNetPipeline(controlnet=net, **parts)
            images = run(**kw, image=imgs[0] if single else imgs, controlnet_conditioning_scale=pick("scale"),
                         control_guidance_start=pick("start"), control_guidance_end=pick("end"),
                         guess_mode=c.get("guess", False)).images
        for x in u:
            args += ["--control", nets[x["net"]][1], "--control-image", controls[x["image"]],
                     "--control-scale", str(x["scale"]), "--control-start", str(x["start"]),
                     "--control-end", str(x["end"])]
        if c.get("guess"):
            args.append("--guess-mode")
        done[c["name"]] = images
        Image.fromarray((images[0] * 255).round().astype(np.uint8)).save(os.path.join(a.out, f"{c['name']}-0.png"))
        out_cases.append(dict(name=c["name"], batch=1, args=args, infotext=""))
    with open(os.path.join(a.out, "cases.json"), "w") as f:
        json.dump(out_cases, f, indent=1)


if __name__ == "__main__":
    main()
