#!/usr/bin/env python3
"""The full-size Stable Diffusion 1.5 architecture (and an SD 1.5 ControlNet) with random
weights, in the original single-file layout, for load-and-run checks and benchmarks (the
real weights cannot be downloaded here). Not part of the default test suite: it writes
about 3 GB.

    python tools/make_sd15_random.py --out build/sd15 [--dtype fp16|fp32] [--diffusers]
        [--unet-channels 320] [--vae-channels 128]   # smaller: a mid-size model of the same shape

Writes sd15-random.safetensors (model.diffusion_model.*, first_stage_model.*,
cond_stage_model.transformer.text_model.*) and control-sd15-random.safetensors
(control_model.*), renamed with the table of make_tiny_models.py; --diffusers also saves
diffusers folders of the same weights (for side-by-side runs with diffusers).
"""
import argparse
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

import make_tiny_models as layouts  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--dtype", choices=("fp16", "fp32"), default="fp16")
    ap.add_argument("--diffusers", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--unet-channels", type=int, default=320, help="the UNet's first level (levels: ×1, 2, 4, 4)")
    ap.add_argument("--vae-channels", type=int, default=128, help="the VAE's first level (levels: ×1, 2, 4, 4)")
    a = ap.parse_args()
    from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(a.seed)
    c, v = a.unet_channels, a.vae_channels
    unet = UNet2DConditionModel(cross_attention_dim=768, block_out_channels=(c, 2 * c, 4 * c, 4 * c)).eval()
    vae = AutoencoderKL(block_out_channels=(v, 2 * v, 4 * v, 4 * v), layers_per_block=2, latent_channels=4,
                        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                        sample_size=512).eval()
    te = CLIPTextModel(CLIPTextConfig(hidden_size=768, intermediate_size=3072, num_attention_heads=12,
                                      num_hidden_layers=12, projection_dim=768, max_position_embeddings=77,
                                      hidden_act="quick_gelu")).eval()
    controlnet = ControlNetModel.from_unet(unet).eval()
    with torch.no_grad():  # a trained ControlNet's zero convs are not zero
        for name, p in controlnet.named_parameters():
            if "controlnet_down_blocks" in name or "controlnet_mid_block" in name or "conv_out" in name:
                p.normal_(0, 0.02)
    dtype = torch.float16 if a.dtype == "fp16" else torch.float32
    os.makedirs(a.out, exist_ok=True)
    weights = {}
    weights.update(layouts.to_ldm(layouts.sd(unet), layouts.unet_table(dict(unet.config)), "model.diffusion_model."))
    weights.update(layouts.to_ldm(layouts.sd(vae), layouts.vae_table(dict(vae.config)), "first_stage_model.", vae=True))
    weights.update({"cond_stage_model.transformer.text_model." + k: v for k, v in layouts.sd(te).items()})
    layouts.save(os.path.join(a.out, "sd15-random.safetensors"), {k: v.to(dtype) for k, v in weights.items()})
    table = layouts.unet_table(dict(controlnet.config), controlnet=True, hint_blocks=6)
    control = layouts.to_ldm(layouts.sd(controlnet), table, "control_model.")
    layouts.save(os.path.join(a.out, "control-sd15-random.safetensors"), {k: v.to(dtype) for k, v in control.items()})
    if a.diffusers:
        for name, model in (("unet", unet), ("vae", vae), ("text_encoder", te), ("controlnet", controlnet)):
            model.to(dtype).save_pretrained(os.path.join(a.out, "diffusers", name), safe_serialization=True)
    print(f"parameters: unet {sum(p.numel() for p in unet.parameters())}, vae {sum(p.numel() for p in vae.parameters())}, "
          f"text {sum(p.numel() for p in te.parameters())}, controlnet {sum(p.numel() for p in controlnet.parameters())}")


if __name__ == "__main__":
    main()
