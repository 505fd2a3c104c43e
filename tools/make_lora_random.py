#!/usr/bin/env python3
"""A random kohya-layout LoRA for a model's UNet and text encoder, at full size, for benchmarks
(`gen bench --lora`, docs/adapters.md): the modules kohya-ss sd-scripts' networks.lora targets by
default (the transformer blocks' attention, feed-forward and projections; the text encoder's
attention and MLP), rank R, alpha R/2, small random factors. Shapes come from the model file, so
it fits whatever model it is made for.

    python tools/make_lora_random.py --model build/sd15/sd15-random.safetensors --rank 32 --out build/sd15/lora-r32.safetensors
"""
import argparse

import torch
from safetensors import safe_open
from safetensors.torch import save_file

UNET = "model.diffusion_model."
TE = "cond_stage_model.transformer.text_model."
# LDM name fragments of the UNet layers kohya's networks.lora changes (Transformer2DModel's
# linear and 1x1 conv layers), and the diffusers names they have in kohya's keys.
UNET_LAYERS = ["attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0", "attn2.to_q", "attn2.to_k", "attn2.to_v",
               "attn2.to_out.0", "ff.net.0.proj", "ff.net.2", "proj_in", "proj_out"]
TE_LAYERS = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj", "mlp.fc1", "mlp.fc2"]


def ldm_to_diffusers_block(name):
    """input_blocks.1.1.proj_in → down_blocks.0.attentions.0.proj_in (SD 1.x: 2 layers a level)."""
    parts = name.split(".")
    if parts[0] == "input_blocks":
        i = int(parts[1])
        return f"down_blocks.{(i - 1) // 3}.attentions.{(i - 1) % 3}." + ".".join(parts[3:])
    if parts[0] == "middle_block":
        return "mid_block.attentions.0." + ".".join(parts[2:])
    if parts[0] == "output_blocks":
        i = int(parts[1])
        return f"up_blocks.{i // 3}.attentions.{i % 3}." + ".".join(parts[3:])
    raise ValueError(name)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="an SD 1.x single file (LDM layout)")
    ap.add_argument("--rank", type=int, default=32)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    g = torch.Generator().manual_seed(32)
    out = {}
    with safe_open(a.model, "pt") as f:
        for key in f.keys():
            if not key.endswith(".weight"):
                continue
            if key.startswith(UNET):
                name = key[len(UNET):-len(".weight")]
                if not any(name.endswith(t) for t in UNET_LAYERS) or ".1." not in name:
                    continue
                prefix = "lora_unet_" + ldm_to_diffusers_block(name).replace(".", "_")
            elif key.startswith(TE):
                name = key[len(TE):-len(".weight")]
                if not any(name.endswith(t) for t in TE_LAYERS):
                    continue
                prefix = "lora_te_text_model_" + name.replace(".", "_")
            else:
                continue
            shape = f.get_slice(key).get_shape()
            out_f, in_f = shape[0], shape[1]
            tail = [1, 1] if len(shape) == 4 else []
            out[prefix + ".lora_down.weight"] = torch.randn([a.rank, in_f] + tail, generator=g) * in_f ** -0.5
            out[prefix + ".lora_up.weight"] = torch.randn([out_f, a.rank] + tail, generator=g) * 0.01
            out[prefix + ".alpha"] = torch.tensor(a.rank / 2)
    meta = {"ss_network_module": "networks.lora", "ss_network_dim": str(a.rank), "ss_network_alpha": str(a.rank / 2),
            "ss_base_model_version": "sd_v1"}
    save_file({k: v.to(torch.float16) if v.dim() else v for k, v in out.items()}, a.out, metadata=meta)
    print(f"{a.out}: {len(out) // 3} modules, rank {a.rank}")


if __name__ == "__main__":
    main()
