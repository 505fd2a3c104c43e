#!/usr/bin/env python3
"""Reference images from diffusers' StableDiffusionXLPipeline for the CLI parity test
(tests/cli/test_sdxl_parity.sh).

From the tiny SDXL folder that make_tiny_models.py writes, it saves the pipeline as
transformers 5 / diffusers save it, with SDXL's own scheduler config (scaled-linear betas,
leading spacing, and the keys for other classes it holds) and tokenizers as sd_xl_base_1.0 pads them (tokenizer: <|endoftext|>,
tokenizer_2: "!"), runs diffusers on a list of requests (samplers, CFG on and off, the
micro-conditioning sizes and crop of both halves, force_zeros_for_empty_prompt) and writes
per case the 8-bit PNG diffusers makes and the `gen` arguments of the same request into
OUT/cases.json. The single_file case renders the folder's weights from the LDM single file
tiny-sdxl.safetensors (sgm names) with gen.

    python tools/diffusers_sdxl_reference.py --models DIR --out OUT
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
              "dpmpp_2m": "DPMSolverMultistepScheduler", "ddim": "DDIMScheduler"}


def size(text):  # "WIDTHxHEIGHT" → diffusers' (height, width)
    w, h = (int(v) for v in text.split("x"))
    return (h, w)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    import diffusers
    from diffusers import StableDiffusionXLPipeline
    from transformers import CLIPTokenizer
    torch.set_grad_enabled(False)
    os.makedirs(a.out, exist_ok=True)
    src = os.path.join(a.models, "diffusers", "tiny-sdxl-pipeline")
    tok = CLIPTokenizer.from_pretrained(os.path.join(src, "tokenizer"), pad_token="<|endoftext|>")
    sched = diffusers.EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                             steps_offset=1, timestep_spacing="leading")
    pipe = StableDiffusionXLPipeline.from_pretrained(src, tokenizer=tok, scheduler=sched)
    folder = os.path.join(a.out, "sdxl-pipeline")
    pipe.save_pretrained(folder)
    # sd_xl_base_1.0's scheduler_config.json also holds keys other classes read (DDIM:
    # clip_sample, set_alpha_to_one); diffusers keeps them for from_config.
    path = os.path.join(folder, "scheduler", "scheduler_config.json")
    with open(path) as f:
        config = json.load(f)
    config.update(clip_sample=False, set_alpha_to_one=False, skip_prk_steps=True, sample_max_value=1.0)
    with open(path, "w") as f:
        json.dump(config, f, indent=2)
    pipe = StableDiffusionXLPipeline.from_pretrained(folder)
    single = os.path.join(a.models, "tiny-sdxl.safetensors")

    cases = [
        dict(name="euler", sampler="euler", seed=1, prompt="a red house by the sea", negative="fog"),
        dict(name="euler_a_no_cfg", sampler="euler_a", seed=2, prompt="a cat", negative="", cfg=1.0),
        dict(name="dpmpp_2m_batch2", sampler="dpmpp_2m", seed=3, prompt="mountains", negative="", batch=2),
        dict(name="ddim", sampler="ddim", seed=4, prompt="a boat", negative="rain"),
        dict(name="micro", sampler="euler", seed=5, prompt="a tower", negative="blurry",
             original_size="1024x768", crop="16,32", target_size="640x512"),
        dict(name="micro_negative", sampler="euler", seed=6, prompt="a tower", negative="blurry",
             original_size="2048x1536", negative_original_size="512x512", negative_crop="8,4",
             negative_target_size="1024x1024"),
        # diffusers' force_zeros_for_empty_prompt: no negative prompt → zero negative conditioning
        # (gen: the plain prompt syntax with an empty negative prompt).
        dict(name="force_zeros", sampler="euler", seed=7, prompt="a lake", negative=None, syntax="plain"),
        dict(name="single_file", sampler="euler", seed=8, prompt="a red house", negative="night", single=True),
    ]
    out_cases = []
    for c in cases:
        steps, cfg, batch, w, h = c.get("steps", 4), c.get("cfg", 7.5), c.get("batch", 1), 80, 64
        scheduler = getattr(diffusers, SCHEDULERS[c["sampler"]]).from_config(pipe.scheduler.config)
        run = StableDiffusionXLPipeline(**{**pipe.components, "scheduler": scheduler})
        gens = [torch.Generator().manual_seed(c["seed"] + i) for i in range(batch)]
        kw = dict(prompt=c["prompt"], negative_prompt=c["negative"], num_inference_steps=steps, guidance_scale=cfg,
                  num_images_per_prompt=batch, generator=gens, width=w, height=h, output_type="np")
        for key in ("original_size", "target_size", "negative_original_size", "negative_target_size"):
            if key in c:
                kw[key] = size(c[key])
        if "crop" in c:
            kw["crops_coords_top_left"] = tuple(int(v) for v in c["crop"].split(","))
        if "negative_crop" in c:
            kw["negative_crops_coords_top_left"] = tuple(int(v) for v in c["negative_crop"].split(","))
        images = run(**kw).images
        model = single if c.get("single") else folder
        args = ["-p", c["prompt"], "-n", c["negative"] or "", "-m", model, "-W", str(w), "-H", str(h),
                "--steps", str(steps), "--cfg-scale", str(cfg), "--sampler", c["sampler"], "--seed", str(c["seed"]),
                "--batch-size", str(batch)]
        if c.get("single"):  # the folder's tokenizer (an LDM file has none; the tiny models' vocabulary is their own)
            args += ["--vocab", os.path.join(folder, "tokenizer")]
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
