#!/usr/bin/env python3
"""FLOP counts from PyTorch's own counter (torch.utils.flop_counter.FlopCounterMode) for
the model fixtures of tests/data/models (same configs and input shapes as
make_model_fixtures.py), for full-size SD 1.5 at 512x512 and for full-size SDXL + its
ControlNet at 1024x1024 and 256x256 (tools/make_sdxl_random.py's configs), written to
tests/data/models/flops.json. The C++ counter (src/models/flops) must give the same numbers;
gen bench divides by time to report TFLOP/s. Models are built on the meta device: no
weights, no memory, only shapes.

    python tools/make_flop_fixtures.py
"""
import json
import os
import sys

import torch
from torch.utils.flop_counter import FlopCounterMode

import make_model_fixtures as fx


def count(fn):
    with FlopCounterMode(display=False) as m:
        fn()
    return int(m.get_total_flops())


def meta(t):
    return torch.empty(t, device="meta")


def main():
    from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel
    out = {}
    with torch.device("meta"):
        unet = UNet2DConditionModel(**fx.unet_cfg(False))
        x, t, ctx = meta((2, 4, 16, 12)), torch.tensor([999.0, 37.0], device="meta"), meta((2, 5, 12))
        out["unet_sd1"] = count(lambda: unet(x, t, encoder_hidden_states=ctx))
        cn = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(4, 8, 8, 16))
        out["controlnet_sd1"] = count(lambda: cn(x, t, encoder_hidden_states=ctx, controlnet_cond=meta((2, 3, 128, 96))))
        vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16),
                            layers_per_block=1, norm_num_groups=4,
                            down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2)
        out["vae_decode"] = count(lambda: vae.decode(meta((1, 4, 6, 5))))
        te = CLIPTextModel(CLIPTextConfig(vocab_size=1000, hidden_size=16, intermediate_size=40, num_hidden_layers=3,
                                          num_attention_heads=2, max_position_embeddings=77, hidden_act="quick_gelu"))
        ids = torch.zeros(2, 77, dtype=torch.long, device="meta")
        out["te_sd1"] = count(lambda: te(ids))

        # Full-size SD 1.5 (diffusers' default UNet config is SD 1.5's), 512x512, one call, batch 1.
        unet = UNet2DConditionModel(cross_attention_dim=768, attention_head_dim=8)
        x, t, ctx = meta((1, 4, 64, 64)), torch.tensor([999.0], device="meta"), meta((1, 77, 768))
        out["sd15_unet_512"] = count(lambda: unet(x, t, encoder_hidden_states=ctx))
        cn = ControlNetModel.from_unet(unet)
        out["sd15_controlnet_512"] = count(lambda: cn(x, t, encoder_hidden_states=ctx, controlnet_cond=meta((1, 3, 512, 512))))
        vae = AutoencoderKL(block_out_channels=(128, 256, 512, 512), layers_per_block=2,
                            down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4)
        out["sd15_vae_decode_512"] = count(lambda: vae.decode(meta((1, 4, 64, 64))))
        te = CLIPTextModel(CLIPTextConfig(hidden_act="quick_gelu"))
        out["sd15_text_77"] = count(lambda: te(torch.zeros(1, 77, dtype=torch.long, device="meta")))
        # SDXL: the fixture models of make_model_fixtures.py (unet_sdxl, controlnet_sdxl) on
        # their inputs' shapes, and the full-size base + ControlNet at 1024x1024 (W4) and
        # 256x256 (W4-cpu), the SDXL VAE decoder, both text encoders.
        def text_time(b, n):
            return {"text_embeds": meta((b, n)), "time_ids": meta((b, 6))}
        unet = UNet2DConditionModel(**fx.unet_sdxl_cfg())
        x, t, ctx = meta((2, 4, 16, 12)), torch.tensor([999.0, 37.0], device="meta"), meta((2, 5, 20))
        out["unet_sdxl"] = count(lambda: unet(x, t, encoder_hidden_states=ctx, added_cond_kwargs=text_time(2, 10)))
        cfg = dict(fx.unet_sdxl_cfg(), transformer_layers_per_block=(1, 1, 2))
        for k in ("up_block_types", "sample_size", "out_channels"):
            cfg.pop(k)
        cn = ControlNetModel(**cfg, conditioning_embedding_out_channels=(2, 4, 4, 8))
        x = meta((2, 4, 8, 6))
        out["controlnet_sdxl"] = count(lambda: cn(x, t, encoder_hidden_states=ctx, controlnet_cond=meta((2, 3, 64, 48)),
                                                  added_cond_kwargs=text_time(2, 10)))
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import make_sdxl_random as xl
        from transformers import CLIPTextModelWithProjection
        unet = UNet2DConditionModel(**xl.UNET)
        cn = ControlNetModel.from_unet(unet, load_weights_from_unet=False)
        t1 = torch.tensor([999.0], device="meta")
        for size in (1024, 256):
            x, ctx = meta((1, 4, size // 8, size // 8)), meta((1, 77, 2048))
            out[f"sdxl_unet_{size}"] = count(lambda: unet(x, t1, encoder_hidden_states=ctx,
                                                          added_cond_kwargs=text_time(1, 1280)))
            out[f"sdxl_controlnet_{size}"] = count(lambda: cn(x, t1, encoder_hidden_states=ctx,
                                                              controlnet_cond=meta((1, 3, size, size)),
                                                              added_cond_kwargs=text_time(1, 1280)))
            vae = AutoencoderKL(**xl.VAE)
            out[f"sdxl_vae_decode_{size}"] = count(lambda: vae.decode(meta((1, 4, size // 8, size // 8))))
        ids = torch.zeros(1, 77, dtype=torch.long, device="meta")
        te1 = CLIPTextModel(CLIPTextConfig(**xl.CLIP_L))
        te2 = CLIPTextModelWithProjection(CLIPTextConfig(**xl.CLIP_G))
        out["sdxl_text_77"] = count(lambda: (te1(ids, output_hidden_states=True), te2(ids, output_hidden_states=True)))
    path = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "models", "flops.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
    for k, v in out.items():
        print(f"{k}: {v / 1e12:.4f} TFLOP")


if __name__ == "__main__":
    main()
