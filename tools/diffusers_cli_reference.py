#!/usr/bin/env python3
"""Reference images from diffusers for the CLI parity test (tests/cli/test_diffusers_parity.sh).

From the tiny diffusers folders that make_tiny_models.py writes, it saves a
StableDiffusionControlNetPipeline as transformers 5 / diffusers save it (tokenizer.json only),
runs diffusers on a list of requests (plain text-to-image with several samplers and seeds,
one ControlNet with a range, two ControlNets, guess mode, the SD 2.x-style v-prediction
pipeline) and writes, per case, the 8-bit PNG diffusers makes and the `gen` arguments of the
same request into OUT/cases.json.

    python tools/diffusers_cli_reference.py --models DIR --out OUT
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

SCHEDULERS = {"euler": "EulerDiscreteScheduler", "euler_a": "EulerAncestralDiscreteScheduler",
              "unipc": "UniPCMultistepScheduler", "dpmpp_2m": "DPMSolverMultistepScheduler", "ddim": "DDIMScheduler",
              "pndm": "PNDMScheduler", "heun": "HeunDiscreteScheduler"}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    import diffusers
    from diffusers import ControlNetModel, StableDiffusionControlNetPipeline, StableDiffusionPipeline
    from diffusers.models.controlnets.multicontrolnet import MultiControlNetModel
    torch.set_grad_enabled(False)
    os.makedirs(a.out, exist_ok=True)
    d = os.path.join(a.models, "diffusers")
    sd1 = StableDiffusionPipeline.from_pretrained(os.path.join(d, "tiny-sd15-pipeline"), safety_checker=None,
                                                  requires_safety_checker=False)
    cn = ControlNetModel.from_pretrained(os.path.join(d, "tiny-controlnet"))
    # A second ControlNet: the same architecture, other weights.
    cn2 = ControlNetModel.from_pretrained(os.path.join(d, "tiny-controlnet"))
    g = torch.Generator().manual_seed(77)
    for p in cn2.parameters():
        p.data += 0.02 * torch.randn(p.shape, generator=g)
    cn2.save_pretrained(os.path.join(a.out, "controlnet2"))
    pipe_dir = os.path.join(a.out, "cn-pipeline")
    StableDiffusionControlNetPipeline(vae=sd1.vae, text_encoder=sd1.text_encoder, tokenizer=sd1.tokenizer,
                                      unet=sd1.unet, controlnet=cn, scheduler=sd1.scheduler, safety_checker=None,
                                      feature_extractor=None, requires_safety_checker=False).save_pretrained(pipe_dir)
    sd2_dir = os.path.join(d, "tiny-sd21-pipeline")
    sd2 = StableDiffusionPipeline.from_pretrained(sd2_dir, safety_checker=None, requires_safety_checker=False)
    # An SD 2.x-style ControlNet (linear projections), made from that UNet.
    g = torch.Generator().manual_seed(78)
    cn_sd2 = ControlNetModel.from_unet(sd2.unet)
    for p in cn_sd2.parameters():
        p.data += 0.02 * torch.randn(p.shape, generator=g)
    cn_sd2.save_pretrained(os.path.join(a.out, "controlnet-sd2"))
    rng = np.random.default_rng(3)
    controls = []
    for i, (h, w) in enumerate(((64, 80), (64, 80), (75, 101))):  # the last one is resized (Lanczos)
        path = os.path.join(a.out, f"control{i}.png")
        Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8)).save(path)
        controls.append(path)

    cases = [
        dict(name="euler", sampler="euler", seed=1, prompt="a red house by the sea", negative="fog"),
        dict(name="euler_a_batch2", sampler="euler_a", seed=2, prompt="a cat", negative="", batch=2),
        dict(name="dpmpp_2m_no_cfg", sampler="dpmpp_2m", seed=3, prompt="mountains", negative="", cfg=1.0),
        dict(name="ddim", sampler="ddim", seed=4, prompt="", negative=""),
        dict(name="heun", sampler="heun", seed=6, prompt="a boat", negative=""),
        dict(name="control_range", sampler="unipc", seed=7, prompt="a tower", negative="blurry",
             controls=[dict(net="cn", image=0, scale=0.8, start=0.0, end=0.6)]),
        dict(name="control_two", sampler="euler", seed=8, prompt="a bridge", negative="",
             controls=[dict(net="cn", image=0, scale=1.0, start=0.25, end=1.0),
                       dict(net="cn2", image=1, scale=0.6, start=0.0, end=0.5)]),
        dict(name="control_guess", sampler="euler_a", seed=9, prompt="", negative="", cfg=3.0, guess=True,
             controls=[dict(net="cn2", image=1, scale=1.3, start=0.0, end=1.0)]),
        dict(name="control_resized", sampler="euler", seed=11, prompt="a harbour", negative="",
             controls=[dict(net="cn", image=2, scale=0.9, start=0.0, end=1.0)]),
        dict(name="plain_syntax_long", sampler="euler", seed=13, syntax="plain",
             prompt="a (red) [house] by the sea, fish &amp; chips, \u201cquoted\u201d, " + ", ".join(["detail"] * 40),
             negative="(blurry:1.4)"),
        dict(name="sd2_vpred", family="sd2", sampler="euler", seed=10, prompt="a lighthouse", negative="night"),
        dict(name="sd2_control", family="sd2", sampler="dpmpp_2m", seed=12, prompt="a lighthouse", negative="",
             controls=[dict(net="cn_sd2", image=0, scale=1.0, start=0.0, end=0.75)]),
    ]
    nets = {"cn": (cn, os.path.join(pipe_dir, "controlnet")), "cn2": (cn2, os.path.join(a.out, "controlnet2")),
            "cn_sd2": (cn_sd2, os.path.join(a.out, "controlnet-sd2"))}
    out_cases = []
    for c in cases:
        steps, cfg, batch, w, h = 4, c.get("cfg", 7.5), c.get("batch", 1), 80, 64
        base = sd2 if c.get("family") == "sd2" else sd1
        scheduler = getattr(diffusers, SCHEDULERS[c["sampler"]]).from_config(base.scheduler.config)
        parts = dict(vae=base.vae, text_encoder=base.text_encoder, tokenizer=base.tokenizer, unet=base.unet,
                     scheduler=scheduler, safety_checker=None, feature_extractor=None, requires_safety_checker=False)
        gens = [torch.Generator().manual_seed(c["seed"] + i) for i in range(batch)]
        kw = dict(prompt=c["prompt"], negative_prompt=c["negative"], num_inference_steps=steps, guidance_scale=cfg,
                  num_images_per_prompt=batch, generator=gens, width=w, height=h, output_type="np")
        model = sd2_dir if c.get("family") == "sd2" else pipe_dir
        args = ["-p", c["prompt"], "-n", c["negative"], "-m", model, "-W", str(w), "-H", str(h), "--steps", str(steps),
                "--cfg-scale", str(cfg), "--sampler", c["sampler"], "--seed", str(c["seed"]), "--batch-size", str(batch)]
        if c.get("syntax"):
            args += ["--prompt-syntax", c["syntax"]]
        if "controls" in c:
            u = c["controls"]
            images = [Image.open(controls[x["image"]]).convert("RGB") for x in u]
            net = nets[u[0]["net"]][0] if len(u) == 1 else MultiControlNetModel([nets[x["net"]][0] for x in u])
            pipe = StableDiffusionControlNetPipeline(controlnet=net, **parts)
            one = len(u) == 1
            images = pipe(**kw, image=images[0] if one else images,
                          controlnet_conditioning_scale=u[0]["scale"] if one else [x["scale"] for x in u],
                          control_guidance_start=u[0]["start"] if one else [x["start"] for x in u],
                          control_guidance_end=u[0]["end"] if one else [x["end"] for x in u],
                          guess_mode=c.get("guess", False)).images
            for x in u:
                args += ["--control", nets[x["net"]][1], "--control-image", controls[x["image"]],
                         "--control-scale", str(x["scale"]), "--control-start", str(x["start"]),
                         "--control-end", str(x["end"])]
            if c.get("guess"):
                args.append("--guess-mode")
        else:
            images = StableDiffusionPipeline(**parts)(**kw).images
        for i, im in enumerate(images):
            Image.fromarray((im * 255).round().astype(np.uint8)).save(os.path.join(a.out, f"{c['name']}-{i}.png"))
        out_cases.append(dict(name=c["name"], batch=batch, args=args))
    with open(os.path.join(a.out, "cases.json"), "w") as f:
        json.dump(out_cases, f, indent=1)


if __name__ == "__main__":
    main()
