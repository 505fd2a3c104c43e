#!/usr/bin/env python3
"""Reference images from diffusers for the CLI parity test (tests/cli/test_diffusers_parity.sh).

From the tiny diffusers folders that make_tiny_models.py writes, it saves a
StableDiffusionControlNetPipeline as transformers 5 / diffusers save it (tokenizer.json only),
runs diffusers on a list of requests (plain text-to-image with several samplers and seeds,
one ControlNet with a range, two ControlNets, guess mode, the SD 2.x-style v-prediction
pipeline) and writes, per case, the 8-bit PNG diffusers makes and the `gen` arguments of the
same request into OUT/cases.json.

The "variant" cases vary the configurations the way real checkpoints vary them (issue 16):
folders whose scheduler config asks for Karras sigmas, lacks keys (each class's own defaults
apply) or comes from another class; a UNet, VAE and ControlNet with per-level head counts of
unequal head sizes, per-level transformer depths and block channels that are not multiples of
the first; ControlNets with global_pool_conditions (shuffle), a "bgr" channel order, both, and
an LDM single-file shuffle ControlNet run with --control-pool.

    python tools/diffusers_cli_reference.py --models DIR --out OUT
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

SCHEDULERS = {"euler": "EulerDiscreteScheduler", "euler_a": "EulerAncestralDiscreteScheduler",
              "unipc": "UniPCMultistepScheduler", "dpmpp_2m": "DPMSolverMultistepScheduler", "ddim": "DDIMScheduler",
              "pndm": "PNDMScheduler", "heun": "HeunDiscreteScheduler", "lms": "LMSDiscreteScheduler"}
HERE = os.path.dirname(os.path.abspath(__file__))


def perturbed(model, seed, amount=0.02):
    g = torch.Generator().manual_seed(seed)
    for p in model.parameters():
        p.data += amount * torch.randn(p.shape, generator=g)
    return model


def controlnet_variant(cn, seed, strong_hint=False, **config):
    """A ControlNet like `cn` with other weights and some config keys changed. `strong_hint`:
    the hint encoder's first and last convolutions × 30, so that the image's content (not only
    its presence) shows in the result, as in a trained ControlNet; the near-zero initial weights
    of the tiny random model would hide a change of channel order under one 8-bit level."""
    from diffusers import ControlNetModel
    net = ControlNetModel.from_config({**dict(cn.config), **config})
    net.load_state_dict(cn.state_dict())
    perturbed(net, seed)
    if strong_hint:
        for name, p in net.named_parameters():
            if name.startswith(("controlnet_cond_embedding.conv_in.", "controlnet_cond_embedding.conv_out.")):
                p.data *= 30
    return net.eval()


def write_variant_folders(out, sd1, cn):
    """The configuration variants: pipeline folders (as diffusers saves them) and ControlNets.
    Returns {name: (folder or file, model object or None)}."""
    import diffusers
    from diffusers import AutoencoderKL, ControlNetModel, StableDiffusionPipeline, UNet2DConditionModel
    sys.path.insert(0, HERE)
    import make_tiny_models as layouts
    made = {}

    def pipeline(name, scheduler, unet=None, vae=None):
        folder = os.path.join(out, name)
        StableDiffusionPipeline(vae=vae or sd1.vae, text_encoder=sd1.text_encoder, tokenizer=sd1.tokenizer,
                                unet=unet or sd1.unet, scheduler=scheduler, safety_checker=None,
                                feature_extractor=None, requires_safety_checker=False).save_pretrained(folder)
        return folder

    sd = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1)
    # Karras sigmas chosen by the folder (a DPM-Solver config: diffusers writes its
    # lambda_min_clipped as -Infinity), and by an Euler folder.
    made["karras-dpm"] = pipeline("variant-karras-dpm", diffusers.DPMSolverMultistepScheduler(**sd, use_karras_sigmas=True))
    made["karras-euler"] = pipeline("variant-karras-euler", diffusers.EulerDiscreteScheduler(**sd, use_karras_sigmas=True))
    # A short trailing schedule from an Euler config, which has no set_alpha_to_one: DDIM takes
    # its own default (true) for it; the last step goes below timestep 0.
    # (A short training schedule, 10 timesteps of linear betas 0.05 → 0.1, puts the last alpha
    # far enough from 1 to show through the tiny random models, whose latents grow so large
    # that SD's 0.99915 would change the image by less than one 8-bit level.)
    made["trailing-euler"] = pipeline("variant-trailing-euler", diffusers.EulerDiscreteScheduler(
        num_train_timesteps=10, beta_start=0.05, beta_end=0.1, beta_schedule="linear", steps_offset=1,
        timestep_spacing="trailing"))
    # A config with almost nothing in it: every class takes its own betas (Heun: linear
    # 0.00085 → 0.012; LMS: linear 0.0001 → 0.02), not Stable Diffusion's — also through the
    # loaded pipeline's config, from which diffusers drops the defaults Euler filled in.
    folder = pipeline("variant-bare-scheduler", diffusers.EulerDiscreteScheduler(**sd))
    with open(os.path.join(folder, "scheduler", "scheduler_config.json"), "w") as f:
        json.dump({"_class_name": "EulerDiscreteScheduler", "steps_offset": 1}, f)
    made["bare-scheduler"] = folder
    # Per-level heads of unequal head sizes (32/2 = 16, 48/5 = 9 wide: 45 of 48 channels in the
    # attention), per-level transformer depths, block channels that are not multiples of the
    # first, in the UNet, the VAE and a ControlNet made from that UNet.
    te_width = sd1.text_encoder.config.hidden_size
    torch.manual_seed(5)
    unet = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, block_out_channels=(32, 48),
                                layers_per_block=1, norm_num_groups=16, attention_head_dim=(2, 5),
                                transformer_layers_per_block=(1, 2), cross_attention_dim=te_width,
                                down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"))
    perturbed(unet, 51).eval()
    torch.manual_seed(6)
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(16, 24, 40, 40),
                        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                        layers_per_block=1, norm_num_groups=8, sample_size=32, scaling_factor=0.2)
    perturbed(vae, 52).eval()
    made["levels"] = pipeline("variant-levels", diffusers.DDIMScheduler(**sd, clip_sample=False,
                                                                      set_alpha_to_one=False), unet, vae)
    levels_cn = perturbed(ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(8, 16, 16, 32)), 53)
    levels_cn.save_pretrained(os.path.join(out, "controlnet-levels"))
    made["cn_levels"] = (os.path.join(out, "controlnet-levels"), levels_cn.eval())
    # Shuffle-style (global_pool_conditions), "bgr" channel order, and both.
    for name, cfg, seed in (("cn_shuffle", dict(global_pool_conditions=True), 61),
                            ("cn_bgr", dict(controlnet_conditioning_channel_order="bgr"), 62),
                            ("cn_bgr_shuffle", dict(global_pool_conditions=True,
                                                    controlnet_conditioning_channel_order="bgr"), 63)):
        net = controlnet_variant(cn, seed, strong_hint="bgr" in name, **cfg)
        folder = os.path.join(out, name.replace("_", "-"))
        net.save_pretrained(folder)
        made[name] = (folder, net)
    # The shuffle ControlNet as an LDM single file (control_model.*, no config): gen needs
    # --control-pool for it, and then does what the original code / A1111 do.
    net = made["cn_shuffle"][1]
    hint_blocks = 2 * (len(net.config.conditioning_embedding_out_channels) - 1)
    table = layouts.unet_table(dict(net.config), controlnet=True, hint_blocks=hint_blocks)
    path = os.path.join(out, "control-shuffle-ldm.safetensors")
    layouts.save(path, layouts.to_ldm(layouts.sd(net), table, "control_model."))
    made["cn_shuffle_ldm"] = (path, net)
    return made


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
    halves = np.zeros((64, 80, 3), np.uint8)  # red | blue: the channel order matters
    halves[:, :40, 0] = 255
    halves[:, 40:, 2] = 255
    controls.append(os.path.join(a.out, "control3.png"))
    Image.fromarray(halves).save(controls[-1])

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
        # Issue 16: configurations the cases above do not cover.
        dict(name="variant_karras", model="karras-dpm", sampler="dpmpp_2m", seed=21, prompt="a lake", negative="",
             infotext="Sampler: DPM++ 2M Karras"),
        dict(name="variant_karras_euler", model="karras-euler", sampler="euler", seed=22, prompt="a lake",
             negative="dark", infotext="Sampler: Euler Karras"),
        dict(name="variant_karras_override", model="karras-dpm", sampler="dpmpp_2m", seed=23, prompt="a lake",
             negative="", schedule="normal", infotext="Sampler: DPM++ 2M,"),
        dict(name="variant_ddim_trailing", model="trailing-euler", sampler="ddim", steps=3, seed=24,
             prompt="a road", negative=""),
        dict(name="variant_bare_heun", model="bare-scheduler", sampler="heun", seed=25, prompt="a hill", negative=""),
        dict(name="variant_bare_lms", model="bare-scheduler", sampler="lms", seed=26, prompt="a hill", negative=""),
        dict(name="variant_levels", model="levels", sampler="euler", seed=27, prompt="a tree", negative="snow"),
        dict(name="variant_levels_control", model="levels", sampler="euler_a", seed=28, prompt="a tree", negative="",
             controls=[dict(net="cn_levels", image=0, scale=0.9, start=0.0, end=1.0)]),
        dict(name="shuffle", sampler="euler", seed=29, prompt="a vase", negative="",
             controls=[dict(net="cn_shuffle", image=0, scale=0.9, start=0.0, end=1.0)]),
        # (A pooled ControlNet first of several puts diffusers' whole pipeline in guess mode, but
        # diffusers cannot add a plain ControlNet's residuals to it: only the other order runs.)
        dict(name="shuffle_second_of_two", sampler="euler", seed=31, prompt="a vase", negative="",
             controls=[dict(net="cn", image=1, scale=0.7, start=0.0, end=1.0),
                       dict(net="cn_shuffle", image=0, scale=1.0, start=0.0, end=1.0)]),
        dict(name="shuffle_ldm_pool", sampler="unipc", seed=32, prompt="a vase", negative="blur",
             controls=[dict(net="cn_shuffle_ldm", image=0, scale=1.1, start=0.0, end=1.0, pool=True)]),
        dict(name="bgr", sampler="euler", seed=33, prompt="a door", negative="",
             controls=[dict(net="cn_bgr", image=3, scale=1.0, start=0.0, end=1.0)]),
        dict(name="bgr_shuffle", sampler="dpmpp_2m", seed=34, prompt="a door", negative="",
             controls=[dict(net="cn_bgr_shuffle", image=3, scale=1.0, start=0.0, end=1.0)]),
    ]
    nets = {"cn": (cn, os.path.join(pipe_dir, "controlnet")), "cn2": (cn2, os.path.join(a.out, "controlnet2")),
            "cn_sd2": (cn_sd2, os.path.join(a.out, "controlnet-sd2"))}
    variants = write_variant_folders(a.out, sd1, cn)
    for key, value in variants.items():
        if isinstance(value, tuple):
            nets[key] = (value[1], value[0])
    loaded = {}  # variant folder -> StableDiffusionPipeline
    out_cases = []
    for c in cases:
        steps, cfg, batch, w, h = c.get("steps", 4), c.get("cfg", 7.5), c.get("batch", 1), 80, 64
        base = sd2 if c.get("family") == "sd2" else sd1
        if "model" in c:
            folder = variants[c["model"]]
            if folder not in loaded:
                loaded[folder] = StableDiffusionPipeline.from_pretrained(folder, safety_checker=None,
                                                                         requires_safety_checker=False)
            base = loaded[folder]
        extra = {} if "schedule" not in c else {"use_karras_sigmas": c["schedule"] == "karras"}
        scheduler = getattr(diffusers, SCHEDULERS[c["sampler"]]).from_config(base.scheduler.config, **extra)
        parts = dict(vae=base.vae, text_encoder=base.text_encoder, tokenizer=base.tokenizer, unet=base.unet,
                     scheduler=scheduler, safety_checker=None, feature_extractor=None, requires_safety_checker=False)
        gens = [torch.Generator().manual_seed(c["seed"] + i) for i in range(batch)]
        kw = dict(prompt=c["prompt"], negative_prompt=c["negative"], num_inference_steps=steps, guidance_scale=cfg,
                  num_images_per_prompt=batch, generator=gens, width=w, height=h, output_type="np")
        model = variants[c["model"]] if "model" in c else sd2_dir if c.get("family") == "sd2" else pipe_dir
        args = ["-p", c["prompt"], "-n", c["negative"], "-m", model, "-W", str(w), "-H", str(h), "--steps", str(steps),
                "--cfg-scale", str(cfg), "--sampler", c["sampler"], "--seed", str(c["seed"]), "--batch-size", str(batch)]
        if c.get("syntax"):
            args += ["--prompt-syntax", c["syntax"]]
        if c.get("schedule"):
            args += ["--scheduler", c["schedule"]]
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
                if x.get("pool"):
                    args.append("--control-pool")
            if c.get("guess"):
                args.append("--guess-mode")
        else:
            images = StableDiffusionPipeline(**parts)(**kw).images
        for i, im in enumerate(images):
            Image.fromarray((im * 255).round().astype(np.uint8)).save(os.path.join(a.out, f"{c['name']}-{i}.png"))
        out_cases.append(dict(name=c["name"], batch=batch, args=args, infotext=c.get("infotext", "")))
    with open(os.path.join(a.out, "cases.json"), "w") as f:
        json.dump(out_cases, f, indent=1)


if __name__ == "__main__":
    main()
