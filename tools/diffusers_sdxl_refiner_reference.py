#!/usr/bin/env python3
"""Reference images from diffusers' StableDiffusionXLImg2ImgPipeline for the CLI parity test
of the SDXL refiner (tests/cli/test_sdxl_refiner.sh).

From the tiny SDXL base and refiner folders that make_tiny_models.py writes, it saves both
pipelines with SDXL's scheduler config (as tools/diffusers_sdxl_reference.py does for the
base), writes an 80x64 init image, and runs diffusers on:
  - the refiner as image-to-image (two samplers, two strengths, aesthetic-score variants, a
    batch, an empty negative prompt, the refiner's LDM single file tiny-sdxl-refiner.safetensors);
  - the base as image-to-image (the same pipeline class: size/crop/target time ids);
  - the base → refiner hand-off: StableDiffusionXLPipeline with denoising_end F and
    output_type="latent", its latents given to the refiner with denoising_start F, both
    calls with the same list of CPU generators (so a stochastic sampler continues each
    image's stream); the same from the base's image-to-image
    (StableDiffusionXLImg2ImgPipeline with strength and denoising_end) and from
    StableDiffusionXLControlNetPipeline (a random SDXL ControlNet, made as
    diffusers_sdxl_controlnet_reference.py makes them, steering the base's part);
  - the base as 4-channel inpainting (StableDiffusionXLInpaintPipeline).
Per case it writes the 8-bit PNG diffusers makes and the `gen` arguments of the same request
into OUT/cases.json (with an A1111 infotext fragment for the hand-off).

    python tools/diffusers_sdxl_refiner_reference.py --models DIR --out OUT [--only NAME,...]
"""
import argparse
import hashlib
import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

SCHEDULERS = {"euler": "EulerDiscreteScheduler", "euler_a": "EulerAncestralDiscreteScheduler",
              "dpmpp_2m": "DPMSolverMultistepScheduler", "ddim": "DDIMScheduler"}
W, H = 80, 64


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", help="the cases to run, comma-separated names (default: all)")
    a = ap.parse_args()
    import diffusers
    from diffusers import (StableDiffusionXLControlNetPipeline, StableDiffusionXLImg2ImgPipeline,
                           StableDiffusionXLInpaintPipeline, StableDiffusionXLPipeline)
    import sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from diffusers_sdxl_controlnet_reference import random_controlnet
    from diffusers_sdxl_reference import save_tiny_sdxl, sdxl_euler, sdxl_scheduler_config
    torch.set_grad_enabled(False)
    torch.set_num_threads(1)  # tiny models: threads only contend (as make_tiny_models.py)
    os.makedirs(a.out, exist_ok=True)
    base_dir, refiner_dir = save_tiny_sdxl(a.models, a.out, scheduler_keys=True), os.path.join(a.out, "sdxl-refiner")
    StableDiffusionXLImg2ImgPipeline.from_pretrained(os.path.join(a.models, "diffusers", "tiny-sdxl-refiner-pipeline"),
                                                     scheduler=sdxl_euler()).save_pretrained(refiner_dir)
    sdxl_scheduler_config(refiner_dir)
    base = StableDiffusionXLPipeline.from_pretrained(base_dir)
    refiner = StableDiffusionXLImg2ImgPipeline.from_pretrained(refiner_dir)
    assert refiner.config.requires_aesthetics_score and not refiner.config.force_zeros_for_empty_prompt
    base_i2i = StableDiffusionXLImg2ImgPipeline.from_pretrained(base_dir)
    single = os.path.join(a.models, "tiny-sdxl-refiner.safetensors")
    with open(single, "rb") as f:
        single_hash = hashlib.sha256(f.read()).hexdigest()[:10]

    # Smooth content (a ramp plus a little noise) so that the tiny VAE's latents carry it.
    rng = np.random.default_rng(12)
    y, x = np.mgrid[0:H, 0:W]
    ramp = np.stack([x * 255 / W, y * 255 / H, (x + y) * 127 / (W + H)], -1)
    init = os.path.join(a.out, "init.png")
    Image.fromarray(np.clip(ramp + rng.normal(0, 20, ramp.shape), 0, 255).astype(np.uint8)).save(init)
    # A control image (a white frame on black) and an inpainting mask (a white ellipse).
    control, mask = os.path.join(a.out, "control.png"), os.path.join(a.out, "mask.png")
    frame = np.zeros((H, W, 3), np.uint8)
    frame[12:52, 16:64][[0, -1], :] = 255
    frame[12:52, 16:64][:, [0, -1]] = 255
    Image.fromarray(frame).save(control)
    Image.fromarray((((x - 40) / 24.0) ** 2 + ((y - 32) / 18.0) ** 2 <= 1).astype(np.uint8) * 255).save(mask)
    cn_dir = os.path.join(a.out, "sdxl-controlnet")
    random_controlnet(base.unet, 91).save_pretrained(cn_dir)
    from diffusers import ControlNetModel
    controlnet = ControlNetModel.from_pretrained(cn_dir).eval()

    cases = [
        # The refiner as image-to-image.
        dict(name="refine_euler_s03", sampler="euler", seed=1, strength=0.3),
        dict(name="refine_euler_s06", sampler="euler", seed=2, strength=0.6),
        dict(name="refine_dpmpp_2m_s03", sampler="dpmpp_2m", seed=3, strength=0.3),
        dict(name="refine_dpmpp_2m_s06_aesthetic", sampler="dpmpp_2m", seed=4, strength=0.6,
             aesthetic_score=8.5, negative_aesthetic_score=1.0),
        dict(name="refine_euler_aesthetic_micro", sampler="euler", seed=5, strength=0.5, aesthetic_score=3.0,
             original_size="1024x768", crop="16,32", negative_original_size="512x512", negative_crop="4,8"),
        dict(name="refine_euler_a_batch2", sampler="euler_a", seed=6, strength=0.5, batch=2),
        # force_zeros_for_empty_prompt is false for the refiner: "" is encoded.
        dict(name="refine_empty_negative", sampler="euler", seed=7, strength=0.5, negative=None, syntax="plain"),
        dict(name="refine_single_file", sampler="euler", seed=8, strength=0.6, single=True),
        # … also for the refiner's LDM file (diffusers' from_single_file: the refiner's config).
        dict(name="refine_single_file_empty_negative", sampler="euler", seed=14, strength=0.5, negative=None,
             syntax="plain", single=True),
        # The base as image-to-image (StableDiffusionXLImg2ImgPipeline without aesthetic score).
        dict(name="base_img2img_euler", sampler="euler", seed=9, strength=0.6, base=True,
             original_size="1024x1024", target_size="640x512"),
        # The hand-off at 0.8 (the base stops at timestep cutoff 200).
        dict(name="handoff_euler", sampler="euler", seed=10, switch=0.8),
        dict(name="handoff_dpmpp_2m", sampler="dpmpp_2m", seed=11, switch=0.8),
        dict(name="handoff_euler_a_batch2_07", sampler="euler_a", seed=12, switch=0.7, batch=2),
        dict(name="handoff_single_file", sampler="dpmpp_2m", seed=13, switch=0.8, single=True,
             infotext=f"Refiner: tiny-sdxl-refiner [{single_hash}], Refiner switch at: 0.8"),
        # The hand-off from the base's image-to-image (strength first, then the cutoff).
        dict(name="handoff_img2img_euler", sampler="euler", seed=15, switch=0.8, strength=0.7),
        dict(name="handoff_img2img_dpmpp_2m", sampler="dpmpp_2m", seed=16, switch=0.7, strength=0.9),
        # … from a ControlNet on the base (active for the first half of the whole schedule).
        dict(name="handoff_controlnet_euler", sampler="euler", seed=17, switch=0.8, controlnet=(0.8, 0.5)),
        dict(name="handoff_controlnet_euler_a_batch2", sampler="euler_a", seed=18, switch=0.7, controlnet=(1.0, 1.0),
             batch=2),
        # The base as 4-channel inpainting.
        dict(name="base_inpaint_euler", sampler="euler", seed=19, strength=0.75, base=True, inpaint=True),
        dict(name="base_inpaint_dpmpp_2m_s1", sampler="dpmpp_2m", seed=20, strength=1.0, base=True, inpaint=True),
    ]
    if a.only:
        cases = [c for c in cases if c["name"] in a.only.split(",")]
    out_cases = []
    for c in cases:
        steps, cfg, batch = 10, 7.5, c.get("batch", 1)
        prompt, negative = c.get("prompt", "a red house by the sea"), c.get("negative", "fog")
        gens = [torch.Generator().manual_seed(c["seed"] + i) for i in range(batch)]

        def make(pipe, cls, **extra):
            scheduler = getattr(diffusers, SCHEDULERS[c["sampler"]]).from_config(pipe.scheduler.config)
            # (the pipeline's own config, which __init__ would otherwise default)
            flags = {k: pipe.config[k] for k in ("requires_aesthetics_score", "force_zeros_for_empty_prompt")
                     if k in pipe.config}
            return cls(**{**pipe.components, "scheduler": scheduler, **extra}, **flags)

        kw = dict(prompt=prompt, negative_prompt=negative, num_inference_steps=steps, guidance_scale=cfg,
                  num_images_per_prompt=batch, generator=gens)
        for key in ("original_size", "target_size", "negative_original_size", "negative_target_size"):
            if key in c:
                w, h = (int(v) for v in c[key].split("x"))
                kw[key] = (h, w)
        for key, name in (("crop", "crops_coords_top_left"), ("negative_crop", "negative_crops_coords_top_left")):
            if key in c:
                kw[name] = tuple(int(v) for v in c[key].split(","))
        refiner_model = single if c.get("single") else refiner_dir
        args = ["-p", prompt, "-n", negative or "", "-W", str(W), "-H", str(H), "--steps", str(steps),
                "--cfg-scale", str(cfg), "--sampler", c["sampler"], "--seed", str(c["seed"]),
                "--batch-size", str(batch)]
        if "switch" in c:
            if "strength" in c:
                latents = make(base, StableDiffusionXLImg2ImgPipeline)(
                    **kw, image=Image.open(init).convert("RGB"), strength=c["strength"], denoising_end=c["switch"],
                    output_type="latent").images
                args += ["--init-image", init, "--strength", str(c["strength"])]
            elif "controlnet" in c:
                scale, end = c["controlnet"]
                latents = make(base, StableDiffusionXLControlNetPipeline, controlnet=controlnet)(
                    **kw, image=Image.open(control).convert("RGB"), width=W, height=H,
                    controlnet_conditioning_scale=scale, control_guidance_end=end, denoising_end=c["switch"],
                    output_type="latent").images
                args += ["--control", cn_dir, "--control-image", control, "--control-scale", str(scale),
                         "--control-end", str(end)]
            else:
                latents = make(base, StableDiffusionXLPipeline)(**kw, width=W, height=H, denoising_end=c["switch"],
                                                                output_type="latent").images
            rk = dict(prompt=prompt, negative_prompt=negative, num_inference_steps=steps, guidance_scale=cfg,
                      num_images_per_prompt=batch, generator=gens)
            images = make(refiner, StableDiffusionXLImg2ImgPipeline)(
                **rk, image=latents, denoising_start=c["switch"], output_type="np").images
            args += ["-m", base_dir, "--refiner", refiner_model, "--refiner-switch", str(c["switch"])]
        else:
            pipe = base_i2i if c.get("base") else refiner
            for key in ("aesthetic_score", "negative_aesthetic_score"):
                if key in c:
                    kw[key] = c[key]
            if c.get("inpaint"):
                images = make(base, StableDiffusionXLInpaintPipeline)(
                    **kw, image=Image.open(init).convert("RGB"), mask_image=Image.open(mask), width=W, height=H,
                    strength=c["strength"], output_type="np").images
                args += ["--mask", mask]
            else:
                images = make(pipe, StableDiffusionXLImg2ImgPipeline)(
                    **kw, image=Image.open(init).convert("RGB"), strength=c["strength"], output_type="np").images
            args += ["-m", base_dir if c.get("base") else refiner_model, "--init-image", init,
                     "--strength", str(c["strength"])]
            for key in ("aesthetic_score", "negative_aesthetic_score"):
                if key in c:
                    args += ["--" + key.replace("_", "-"), str(c[key])]
        if c.get("single"):  # the base folder's tokenizer (an LDM file has none; --vocab serves both models)
            args += ["--vocab", os.path.join(base_dir, "tokenizer")]
        if c.get("syntax"):
            args += ["--prompt-syntax", c["syntax"]]
        for key in ("original_size", "crop", "target_size", "negative_original_size", "negative_crop",
                    "negative_target_size"):
            if key in c:
                args += ["--" + key.replace("_", "-"), c[key]]
        for i, im in enumerate(images):
            Image.fromarray((im * 255).round().astype(np.uint8)).save(os.path.join(a.out, f"{c['name']}-{i}.png"))
        out_cases.append(dict(name=c["name"], batch=batch, args=args, infotext=c.get("infotext", "")))
    with open(os.path.join(a.out, "cases.json"), "w") as f:
        json.dump(out_cases, f, indent=1)


if __name__ == "__main__":
    main()
