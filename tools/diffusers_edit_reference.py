#!/usr/bin/env python3
"""Reference images from diffusers for the editing parity test (tests/cli/test_edit_parity.sh).

From the tiny diffusers folders that make_tiny_models.py writes, it runs diffusers'
StableDiffusionImg2ImgPipeline, StableDiffusionInpaintPipeline (a 4-channel UNet and a
9-channel inpainting UNet made here from the tiny one's config), and the ControlNet img2img and
inpaint pipelines on a list of requests, and writes, per case, the 8-bit PNGs diffusers makes
and the `gen` arguments of the same request into OUT/cases.json (the format of
diffusers_cli_reference.py, so the same comparison runs on both).

    python tools/diffusers_edit_reference.py --models DIR --out OUT
"""
import argparse
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from diffusers_cli_reference import SCHEDULERS, controlnet_variant, perturbed, write_variant_folders  # noqa: E402

W, H = 80, 64


def inpainting_unet(unet, seed):
    """A 9-channel UNet (latents, mask, masked-image latents) with the tiny UNet's architecture."""
    from diffusers import UNet2DConditionModel
    torch.manual_seed(seed)
    net = UNet2DConditionModel.from_config({**dict(unet.config), "in_channels": 9})
    return perturbed(net, seed).eval()


def make_inpaint_condition(image, mask):
    """The control image of ControlNet 1.1 inpaint, as diffusers' documentation makes it."""
    image = np.array(image.convert("RGB")).astype(np.float32) / 255.0
    mask = np.array(mask.convert("L")).astype(np.float32) / 255.0
    image[mask > 0.5] = -1.0
    return torch.from_numpy(np.expand_dims(image, 0).transpose(0, 3, 1, 2))


def write_images(out):
    """Init images (one at the size, one to be resized, one with alpha), masks (grey with a
    ramp across the 50 % threshold; one of another size) and a control image."""
    rng = np.random.default_rng(11)
    files = {}

    def save(name, array, mode=None):
        files[name] = os.path.join(out, name + ".png")
        Image.fromarray(array, mode).save(files[name])

    # Smooth content (a ramp plus a little noise) so that the tiny VAE's latents carry it.
    y, x = np.mgrid[0:H, 0:W]
    base = np.stack([x * 255 / W, y * 255 / H, (x + y) * 127 / (W + H)], -1)
    save("init", np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8))
    y2, x2 = np.mgrid[0:75, 0:101]
    other = np.stack([x2 * 2.5, y2 * 3.0, 255 - x2 * 2.0], -1)
    save("init_other_size", np.clip(other + rng.normal(0, 10, other.shape), 0, 255).astype(np.uint8))
    mask = np.zeros((H, W), np.uint8)
    mask[16:48, 24:64] = 255
    mask[0:8, :] = np.linspace(100, 160, W).astype(np.uint8)  # binarised: >= 128 repaints
    save("mask", mask, "L")
    big = np.zeros((90, 120), np.uint8)
    big[30:70, 20:90] = 200
    save("mask_other_size", big, "L")
    save("control", (rng.random((H, W, 3)) * 255).astype(np.uint8))
    # A mask for the 101x75 init image: a small off-centre box (its crop leaves margins).
    m = np.zeros((75, 101), np.uint8)
    m[40:58, 60:90] = 255
    save("mask_for_other", m, "L")
    save("control_other_size", (rng.random((75, 101, 3)) * 255).astype(np.uint8))  # as the init image
    return files


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    import diffusers
    from diffusers import (ControlNetModel, StableDiffusionControlNetImg2ImgPipeline,
                           StableDiffusionControlNetInpaintPipeline, StableDiffusionImg2ImgPipeline,
                           StableDiffusionInpaintPipeline, StableDiffusionPipeline)
    torch.set_grad_enabled(False)
    os.makedirs(a.out, exist_ok=True)
    d = os.path.join(a.models, "diffusers")
    sd1 = StableDiffusionPipeline.from_pretrained(os.path.join(d, "tiny-sd15-pipeline"), safety_checker=None,
                                                  requires_safety_checker=False)
    cn = ControlNetModel.from_pretrained(os.path.join(d, "tiny-controlnet"))
    cn_dir = os.path.join(a.out, "controlnet")
    cn.save_pretrained(cn_dir)
    # One whose hint encoder is strong enough that the control image's content shows through the
    # tiny random model (for inpaint_only's −1 pixels).
    strong = controlnet_variant(cn, 64, strong_hint=True)
    strong_dir = os.path.join(a.out, "controlnet-strong")
    strong.save_pretrained(strong_dir)
    # The two base folders gen reads: the tiny SD 1.x pipeline and its inpainting variant.
    plain_dir = os.path.join(a.out, "sd-pipeline")
    sd1.save_pretrained(plain_dir)
    inpaint_dir = os.path.join(a.out, "sd-inpainting")
    StableDiffusionPipeline(vae=sd1.vae, text_encoder=sd1.text_encoder, tokenizer=sd1.tokenizer,
                            unet=inpainting_unet(sd1.unet, 41), scheduler=sd1.scheduler, safety_checker=None,
                            feature_extractor=None,
                            requires_safety_checker=False).save_pretrained(inpaint_dir)
    # PLMS as SD uses it (skip_prk_steps; the tiny folder's PNDM config lacks the key).
    plms_dir = os.path.join(a.out, "sd-pipeline-plms")
    StableDiffusionPipeline(vae=sd1.vae, text_encoder=sd1.text_encoder, tokenizer=sd1.tokenizer, unet=sd1.unet,
                            scheduler=diffusers.PNDMScheduler.from_config(sd1.scheduler.config, skip_prk_steps=True),
                            safety_checker=None, feature_extractor=None,
                            requires_safety_checker=False).save_pretrained(plms_dir)
    inpaint_unet = StableDiffusionPipeline.from_pretrained(inpaint_dir, safety_checker=None,
                                                           requires_safety_checker=False).unet
    files = write_images(a.out)
    # Configurations as real checkpoints vary them (diffusers_cli_reference.py's variants): a
    # folder choosing Karras sigmas, a short trailing schedule, per-level heads/depths/channels.
    variants = {k: v for k, v in write_variant_folders(a.out, sd1, cn).items() if isinstance(v, str)}
    loaded = {}
    # … and a 9-channel inpainting UNet of the per-level architecture, with that folder's VAE.
    levels = StableDiffusionPipeline.from_pretrained(variants["levels"], safety_checker=None,
                                                     requires_safety_checker=False)
    variants["levels-inpaint"] = os.path.join(a.out, "variant-levels-inpainting")
    StableDiffusionPipeline(vae=levels.vae, text_encoder=levels.text_encoder, tokenizer=levels.tokenizer,
                            unet=inpainting_unet(levels.unet, 55), scheduler=levels.scheduler, safety_checker=None,
                            feature_extractor=None,
                            requires_safety_checker=False).save_pretrained(variants["levels-inpaint"])
    # The SD 2.x-style tiny pipeline (v-prediction, OpenCLIP-style text encoder).
    sd2_dir = os.path.join(d, "tiny-sd21-pipeline")
    sd2 = StableDiffusionPipeline.from_pretrained(sd2_dir, safety_checker=None, requires_safety_checker=False)

    cases = [
        # Image-to-image: samplers × strengths (1.0; one that leaves a single step).
        dict(name="i2i_euler_half", kind="img2img", sampler="euler", steps=10, strength=0.5, seed=1),
        dict(name="i2i_dpmpp_full", kind="img2img", sampler="dpmpp_2m", steps=6, strength=1.0, seed=2),
        dict(name="i2i_euler_a_one_step_batch2", kind="img2img", sampler="euler_a", steps=10, strength=0.15,
             seed=3, batch=2),
        dict(name="i2i_ddim", kind="img2img", sampler="ddim", steps=8, strength=0.7, seed=4),
        dict(name="i2i_heun", kind="img2img", sampler="heun", steps=5, strength=0.6, seed=5),
        dict(name="i2i_lms", kind="img2img", sampler="lms", steps=8, strength=0.8, seed=6),
        dict(name="i2i_unipc", kind="img2img", sampler="unipc", steps=10, strength=0.35, seed=7),
        dict(name="i2i_pndm", kind="img2img", model="plms", sampler="pndm", steps=8, strength=0.5, seed=8),
        dict(name="i2i_resized_no_cfg", kind="img2img", sampler="euler", steps=6, strength=0.8, seed=9, cfg=1.0,
             image="init_other_size"),
        # Inpainting with the 4-channel UNet (the unmasked area blended back after each call).
        dict(name="inpaint4_euler", kind="inpaint", sampler="euler", steps=6, strength=1.0, seed=11),
        dict(name="inpaint4_euler_a_batch2", kind="inpaint", sampler="euler_a", steps=8, strength=0.6, seed=12,
             batch=2),
        dict(name="inpaint4_dpmpp_mask_resized", kind="inpaint", sampler="dpmpp_2m", steps=6, strength=0.8,
             seed=13, mask="mask_other_size"),
        # The 9-channel inpainting UNet.
        dict(name="inpaint9_euler", kind="inpaint", model="inpaint", sampler="euler", steps=6, strength=1.0,
             seed=21),
        dict(name="inpaint9_ddim", kind="inpaint", model="inpaint", sampler="ddim", steps=8, strength=0.75,
             seed=22),
        dict(name="inpaint9_heun_batch2", kind="inpaint", model="inpaint", sampler="heun", steps=4, strength=1.0,
             seed=23, batch=2),
        # padding_mask_crop (gen: --inpaint-area masked --mask-padding N): the mask's box plus
        # padding rendered at the size and pasted back into the init image (another size).
        dict(name="inpaint4_crop", kind="inpaint", sampler="euler", steps=6, strength=1.0, seed=14,
             image="init_other_size", mask="mask_for_other", crop=6),
        dict(name="inpaint9_crop", kind="inpaint", model="inpaint", sampler="dpmpp_2m", steps=6, strength=0.8,
             seed=24, image="init_other_size", mask="mask_for_other", crop=0),
        # Scheduler and model configurations (issue 16's variants) under img2img and inpainting.
        dict(name="variant_karras_i2i", kind="img2img", model="karras-dpm", sampler="dpmpp_2m", steps=8,
             strength=0.55, seed=51),
        dict(name="variant_karras_inpaint", kind="inpaint", model="karras-euler", sampler="euler", steps=6,
             strength=0.7, seed=52),
        dict(name="variant_trailing_i2i", kind="img2img", model="trailing-euler", sampler="ddim", steps=3,
             strength=0.7, seed=53),
        dict(name="variant_levels_inpaint", kind="inpaint", model="levels", sampler="euler_a", steps=6,
             strength=0.8, seed=54),
        dict(name="variant_levels_inpaint9", kind="inpaint", model="levels-inpaint", sampler="dpmpp_2m", steps=6,
             strength=1.0, seed=55),
        # SD 2.x (v-prediction): the noise levels and the blend in v form.
        dict(name="sd2_i2i", kind="img2img", model="sd2", sampler="euler", steps=6, strength=0.6, seed=41),
        dict(name="sd2_inpaint4", kind="inpaint", model="sd2", sampler="dpmpp_2m", steps=6, strength=0.9, seed=42),
        # ControlNets.
        dict(name="cn_i2i", kind="img2img", sampler="euler", steps=8, strength=0.6, seed=31,
             control=dict(scale=0.8, start=0.0, end=0.7)),
        dict(name="cn_inpaint4", kind="inpaint", sampler="unipc", steps=6, strength=1.0, seed=32,
             control=dict(scale=1.0, start=0.2, end=1.0)),
        dict(name="cn_inpaint9", kind="inpaint", model="inpaint", sampler="euler_a", steps=6, strength=0.9,
             seed=33, control=dict(scale=0.7, start=0.0, end=1.0)),
        # ControlNet 1.1 inpaint's control image: the init image with the masked pixels at −1
        # (diffusers' make_inpaint_condition); gen makes it with --preprocess inpaint_only.
        dict(name="cn_inpaint_only", kind="inpaint", sampler="dpmpp_2m", steps=6, strength=1.0, seed=35,
             control=dict(scale=1.0, start=0.0, end=1.0, inpaint_only=True)),
        dict(name="cn_inpaint4_crop", kind="inpaint", sampler="euler", steps=6, strength=1.0, seed=34,
             image="init_other_size", mask="mask_for_other", crop=10,
             control=dict(scale=1.0, start=0.0, end=1.0, image="control_other_size")),
    ]
    out_cases = []
    for c in cases:
        steps, cfg, batch = c["steps"], c.get("cfg", 7.5), c.get("batch", 1)
        base = sd2 if c.get("model") == "sd2" else sd1
        if c.get("model") in variants:
            folder = variants[c["model"]]
            if folder not in loaded:
                loaded[folder] = StableDiffusionPipeline.from_pretrained(folder, safety_checker=None,
                                                                         requires_safety_checker=False)
            base = loaded[folder]
        unet = inpaint_unet if c.get("model") == "inpaint" else base.unet
        model_dir = {"inpaint": inpaint_dir, "plms": plms_dir, "sd2": sd2_dir, **variants}.get(c.get("model"),
                                                                                                plain_dir)
        config = dict(sd1.scheduler.config, skip_prk_steps=True) if c.get("model") == "plms" else base.scheduler.config
        scheduler = getattr(diffusers, SCHEDULERS[c["sampler"]]).from_config(config)
        parts = dict(vae=base.vae, text_encoder=base.text_encoder, tokenizer=base.tokenizer, unet=unet,
                     scheduler=scheduler, safety_checker=None, feature_extractor=None, requires_safety_checker=False)
        prompt, negative = "a garden", "fog"
        init = files[c.get("image", "init")]
        gens = [torch.Generator().manual_seed(c["seed"] + i) for i in range(batch)]
        kw = dict(prompt=prompt, negative_prompt=negative, num_inference_steps=steps, guidance_scale=cfg,
                  num_images_per_prompt=batch, generator=gens, width=W, height=H, output_type="np",
                  image=Image.open(init).convert("RGB"), strength=c["strength"])
        args = ["-p", prompt, "-n", negative, "-m", model_dir, "-W", str(W), "-H", str(H), "--steps", str(steps),
                "--cfg-scale", str(cfg), "--sampler", c["sampler"], "--seed", str(c["seed"]), "--batch-size",
                str(batch), "--init-image", init, "--strength", str(c["strength"])]
        if c["kind"] == "inpaint":
            mask = files[c.get("mask", "mask")]
            kw["mask_image"] = Image.open(mask)
            args += ["--mask", mask]
            if "crop" in c:
                kw["padding_mask_crop"] = c["crop"]
                kw["output_type"] = "pil"  # (diffusers pastes the result back in PIL)
                args += ["--inpaint-area", "masked", "--mask-padding", str(c["crop"])]
        if "control" in c:
            u = c["control"]
            control = files[u.get("image", "control")]
            control_image = Image.open(control).convert("RGB")
            if u.get("inpaint_only"):
                control_image = make_inpaint_condition(Image.open(init), Image.open(files["mask"]))
            kw.update(control_image=control_image,
                      controlnet_conditioning_scale=u["scale"], control_guidance_start=u["start"],
                      control_guidance_end=u["end"])
            cls = StableDiffusionControlNetInpaintPipeline if c["kind"] == "inpaint" else \
                StableDiffusionControlNetImg2ImgPipeline
            net, net_dir = (strong, strong_dir) if u.get("inpaint_only") else (cn, cn_dir)
            pipe = cls(controlnet=net, **parts)
            args += ["--control", net_dir] + (["--preprocess", "inpaint_only"] if u.get("inpaint_only") else
                                             ["--control-image", control])
            args += ["--control-scale", str(u["scale"]),
                     "--control-start", str(u["start"]), "--control-end", str(u["end"])]
        else:
            cls = StableDiffusionInpaintPipeline if c["kind"] == "inpaint" else StableDiffusionImg2ImgPipeline
            if cls is StableDiffusionImg2ImgPipeline:
                kw.pop("width"), kw.pop("height")
                kw["image"] = kw["image"].resize((W, H), Image.LANCZOS) if kw["image"].size != (W, H) else kw["image"]
            pipe = cls(**parts)
        images = pipe(**kw).images
        for i, im in enumerate(images):
            if not isinstance(im, Image.Image):
                im = Image.fromarray((im * 255).round().astype(np.uint8))
            im.save(os.path.join(a.out, f"{c['name']}-{i}.png"))
        out_cases.append(dict(name=c["name"], batch=batch, args=args, infotext=f"Denoising strength: {c['strength']:g}"))
    with open(os.path.join(a.out, "cases.json"), "w") as f:
        json.dump(out_cases, f, indent=1)


if __name__ == "__main__":
    main()
