#!/usr/bin/env python3
"""Reference images from diffusers for the LoRA parity test (tests/cli/test_lora_parity.sh).

From the tiny SD 1.x diffusers folder that make_tiny_models.py writes, it makes LoRAs with PEFT
(random A and B, on the UNet's attention, feed-forward, projections, ResNet convolutions
(LoCon), samplers, and on the text encoder), saves them as diffusers does
(`save_lora_weights`, the PEFT layout with its lora_alpha metadata) and converted to the kohya
layout by diffusers' own `convert_state_dict_to_kohya`, then renders each case with diffusers
loading that file (`load_lora_weights`, per-component weights by `set_adapters`, or merged by
`fuse_lora`) and writes the PNGs and the `gen` arguments of the same request into OUT/cases.json
(the format of diffusers_cli_reference.py, compared by tests/cli/parity.sh).

    python tools/diffusers_lora_reference.py --models DIR --out OUT
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

UNET_TARGETS = ["to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out", "ff.net.0.proj", "ff.net.2", "conv1",
                "conv2", "time_emb_proj", "conv_shortcut", "downsamplers.0.conv", "upsamplers.0.conv"]
TE_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"]


def make_lora(pipe, rank, alpha, seed, out, name, use_dora=False):
    """A PEFT LoRA with random A and B on pipe's UNet and text encoder, saved in the PEFT layout
    (diffusers' save_lora_weights) and in the kohya layout (diffusers' convert_state_dict_to_kohya).
    use_dora: PEFT's DoRA (lora_magnitude_vector, set from the random B and then scaled by random
    factors around 1), PEFT layout only."""
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_kohya
    from peft import LoraConfig, get_peft_model_state_dict
    torch.manual_seed(seed)
    unet_cfg = LoraConfig(r=rank, lora_alpha=alpha, init_lora_weights=False, target_modules=UNET_TARGETS,
                          use_dora=use_dora)
    te_cfg = LoraConfig(r=rank, lora_alpha=alpha, init_lora_weights=False, target_modules=TE_TARGETS,
                        use_dora=use_dora)
    pipe.unet.add_adapter(unet_cfg, adapter_name=name)
    pipe.text_encoder.add_adapter(te_cfg, adapter_name=name)
    g = torch.Generator().manual_seed(seed)
    for model in (pipe.unet, pipe.text_encoder):  # B small enough that the picture changes, not explodes
        for n, p in model.named_parameters():
            if f"lora_B.{name}" in n:
                p.data = torch.randn(p.shape, generator=g) * 0.05
            if f"lora_magnitude_vector.{name}" in n:
                p.data = p.data * (1 + 0.1 * torch.randn(p.shape, generator=g))
    unet_sd = get_peft_model_state_dict(pipe.unet, adapter_name=name)
    te_sd = get_peft_model_state_dict(pipe.text_encoder, adapter_name=name)
    StableDiffusionPipeline.save_lora_weights(out, unet_lora_layers=unet_sd, text_encoder_lora_layers=te_sd,
                                              weight_name=f"{name}-peft.safetensors",
                                              unet_lora_adapter_metadata=unet_cfg.to_dict(),
                                              text_encoder_lora_adapter_metadata=te_cfg.to_dict())
    if use_dora:
        return
    both = {**{"unet." + k: v for k, v in unet_sd.items()}, **{"text_encoder." + k: v for k, v in te_sd.items()}}
    kohya = convert_state_dict_to_kohya(both)
    from safetensors.torch import save_file
    save_file({k: v.contiguous() for k, v in kohya.items()}, os.path.join(out, f"{name}-kohya.safetensors"),
              metadata={"ss_base_model_version": "sd_v1", "ss_network_dim": str(rank)})


def load_te_magnitudes(pipe, path, adapter_name):
    """diffusers 0.42 + transformers 5 leave the text encoder's DoRA magnitudes at their initial
    values (the file's `text_encoder.….lora_magnitude_vector` reaches transformers as
    `lora_magnitude_vector.<adapter>`, which expects `….weight`: "UNEXPECTED" / "MISSING" in its
    load report); the UNet's load. Copy them from the file, so that PEFT's forward runs the
    file's DoRA (what load_lora_weights means to do)."""
    from safetensors.torch import load_file
    state = load_file(path)
    for name, module in pipe.text_encoder.named_modules():
        mags = getattr(module, "lora_magnitude_vector", None)
        key = "text_encoder." + name + ".lora_magnitude_vector"
        if mags is not None and adapter_name in mags and key in state:
            mags[adapter_name].weight.data.copy_(state[key].reshape(mags[adapter_name].weight.shape))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    import diffusers
    from diffusers import StableDiffusionPipeline
    torch.set_grad_enabled(False)
    os.makedirs(a.out, exist_ok=True)
    model = os.path.join(a.models, "diffusers", "tiny-sd15-pipeline")
    pipe = StableDiffusionPipeline.from_pretrained(model, safety_checker=None, requires_safety_checker=False)
    pipe.scheduler = diffusers.EulerDiscreteScheduler.from_config(pipe.scheduler.config)
    loras = os.path.join(a.out, "loras")
    os.makedirs(loras, exist_ok=True)
    make_lora(pipe, 4, 8, 61, loras, "style")   # alpha / rank = 2
    pipe = StableDiffusionPipeline.from_pretrained(model, safety_checker=None, requires_safety_checker=False)
    make_lora(pipe, 2, 2, 62, loras, "second")  # alpha / rank = 1
    pipe = StableDiffusionPipeline.from_pretrained(model, safety_checker=None, requires_safety_checker=False)
    make_lora(pipe, 4, 4, 63, loras, "dora", use_dora=True)  # PEFT's DoRA, alpha / rank = 1
    # Render from a fresh pipeline (the one above carries the PEFT layers).
    pipe = StableDiffusionPipeline.from_pretrained(model, safety_checker=None, requires_safety_checker=False)
    pipe.scheduler = diffusers.EulerDiscreteScheduler.from_config(pipe.scheduler.config)

    # name, files with their (unet, te) weights, how diffusers applies them, gen's extra arguments
    cases = [
        dict(name="none", loras=[], args=[]),
        dict(name="peft", loras=[("style-peft", 1.0, 1.0)], args=["--lora", "{L}/style-peft.safetensors"]),
        dict(name="kohya_weight", loras=[("style-kohya", 0.7, 0.7)], args=["--lora", "{L}/style-kohya.safetensors:0.7"]),
        dict(name="kohya_te_weight", loras=[("style-kohya", 0.8, 0.3)],
             args=["--lora", "{L}/style-kohya.safetensors:0.8:0.3"]),
        dict(name="kohya_on_the_fly", loras=[("style-kohya", 0.8, 0.3)],
             args=["--lora", "{L}/style-kohya.safetensors:0.8:0.3", "--lora-mode", "on_the_fly"]),
        dict(name="prompt_tag", loras=[("style-kohya", 0.6, 0.6)], tag=" <lora:style-kohya:0.6>",
             args=["--lora-dir", "{L}"]),
        dict(name="prompt_tag_split", loras=[("style-kohya", 1.2, 0.5)], tag=" <lora:style-kohya:0.5:1.2>",
             args=["--lora-dir", "{L}"]),
        dict(name="two_loras", loras=[("style-kohya", 0.5, 0.5), ("second-peft", 1.0, 1.0)],
             args=["--lora", "{L}/style-kohya.safetensors:0.5", "--lora", "{L}/second-peft.safetensors"]),
        dict(name="fused", loras=[("style-peft", 0.9, 0.9)], fuse=True,
             args=["--lora", "{L}/style-peft.safetensors:0.9", "--lora-mode", "merge"]),
        # PEFT's DoRA: PEFT's forward (UNet and text encoder weights apart), merged by gen and on the fly;
        # fused by diffusers; beside a plain LoRA on the same layers.
        dict(name="dora", loras=[("dora-peft", 1.0, 1.0)], args=["--lora", "{L}/dora-peft.safetensors"]),
        dict(name="dora_weights", loras=[("dora-peft", 0.8, 0.5)],
             args=["--lora", "{L}/dora-peft.safetensors:0.8:0.5"]),
        dict(name="dora_on_the_fly", loras=[("dora-peft", 0.8, 0.5)],
             args=["--lora", "{L}/dora-peft.safetensors:0.8:0.5", "--lora-mode", "on_the_fly"]),
        dict(name="dora_fused", loras=[("dora-peft", 0.7, 0.7)], fuse=True,
             args=["--lora", "{L}/dora-peft.safetensors:0.7", "--lora-mode", "merge"]),
        dict(name="dora_after_lora", loras=[("second-peft", 0.6, 0.6), ("dora-peft", 1.0, 1.0)],
             args=["--lora", "{L}/second-peft.safetensors:0.6", "--lora", "{L}/dora-peft.safetensors"]),
    ]
    out_cases = []
    prompt, negative, seed, steps, cfg, w, h = "a red house by the sea", "fog", 5, 4, 7.5, 80, 64
    for k, c in enumerate(cases):
        names = []
        for i, (f, unet_w, te_w) in enumerate(c["loras"]):
            n = f"{c['name']}_{i}"
            pipe.load_lora_weights(os.path.join(loras, f + ".safetensors"), adapter_name=n)
            load_te_magnitudes(pipe, os.path.join(loras, f + ".safetensors"), n)
            names.append((n, unet_w, te_w))
        if c.get("fuse"):
            (n, unet_w, _), = names
            pipe.fuse_lora(lora_scale=unet_w, adapter_names=[n])
        elif names:
            pipe.set_adapters([n for n, _, _ in names],
                              adapter_weights=[{"unet": u, "text_encoder": t} for _, u, t in names])
        g = torch.Generator().manual_seed(seed + k)
        images = pipe(prompt=prompt, negative_prompt=negative, num_inference_steps=steps, guidance_scale=cfg,
                      generator=g, width=w, height=h, output_type="np").images
        if c.get("fuse"):
            pipe.unfuse_lora()
        if names:
            pipe.delete_adapters([n for n, _, _ in names])
        Image.fromarray((images[0] * 255).round().astype(np.uint8)).save(os.path.join(a.out, f"{c['name']}-0.png"))
        args = ["-p", prompt + c.get("tag", ""), "-n", negative, "-m", model, "-W", str(w), "-H", str(h),
                "--steps", str(steps), "--cfg-scale", str(cfg), "--sampler", "euler", "--seed", str(seed + k)]
        args += [x.replace("{L}", loras) for x in c["args"]]
        out_cases.append(dict(name=c["name"], batch=1, args=args, infotext=c.get("infotext", "")))
    with open(os.path.join(a.out, "cases.json"), "w") as f:
        json.dump(out_cases, f, indent=1)


if __name__ == "__main__":
    main()
