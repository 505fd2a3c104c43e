#!/usr/bin/env python3
"""The full-size SDXL base architecture (UNet, VAE, CLIP ViT-L and OpenCLIP bigG text encoders)
and a full SDXL ControlNet with random weights, as diffusers folders, for load-and-run checks
and benchmarks (`gen bench -w w4-cpu`, tools/bench_cpu.py --workload w4-cpu; the real weights
cannot be downloaded here). Not part of the test suite: it writes about 9.3 GB in fp16.

    python tools/make_sdxl_random.py --out build/sdxl --vocab ~/.cache/gen/clip-anytorch-2.6.0/bpe_simple_vocab_16e6.txt.gz

Writes OUT/sdxl-random (a StableDiffusionXLPipeline folder, SDXL base's configs, the
tokenizers built from CLIP's BPE vocabulary as openai/clip-vit-large-patch14's are) and
OUT/controlnet-sdxl-random (ControlNetModel.from_unet's config). The models are built on the
meta device and filled in 16 bits directly (torch.nn's default bounds: U(±1/√fan_in) for
weights and biases, norms 1; the ControlNet's zero convolutions N(0, 0.02) as a trained one's),
so the peak memory stays near one model's 16-bit size.
"""
import argparse
import json
import math
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_tokenizer_fixtures import write_vocab_folder  # noqa: E402

UNET = dict(sample_size=128, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=(320, 640, 1280),
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            transformer_layers_per_block=(1, 2, 10), attention_head_dim=(5, 10, 20), cross_attention_dim=2048,
            use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=256,
            projection_class_embeddings_input_dim=2816, norm_num_groups=32)
VAE = dict(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(128, 256, 512, 512),
           layers_per_block=2, down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
           sample_size=1024, scaling_factor=0.13025, force_upcast=True)
CLIP_L = dict(hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12,
              projection_dim=768, max_position_embeddings=77, hidden_act="quick_gelu", vocab_size=49408)
CLIP_G = dict(hidden_size=1280, intermediate_size=5120, num_attention_heads=20, num_hidden_layers=32,
              projection_dim=1280, max_position_embeddings=77, hidden_act="gelu", vocab_size=49408)
SCHEDULER = {"_class_name": "EulerDiscreteScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear",
             "beta_start": 0.00085, "interpolation_type": "linear", "num_train_timesteps": 1000,
             "prediction_type": "epsilon", "sample_max_value": 1.0, "set_alpha_to_one": False,
             "skip_prk_steps": True, "steps_offset": 1, "timestep_spacing": "leading", "trained_betas": None,
             "use_karras_sigmas": False, "clip_sample": False}


def write_tokenizer(folder, vocab_gz, pad):
    """vocab.json and merges.txt as openai/clip-vit-large-patch14's (make_tokenizer_fixtures'
    write_vocab_folder: CLIP's SimpleTokenizer vocabulary from the BPE file), with its pad token."""
    os.makedirs(folder, exist_ok=True)
    write_vocab_folder(vocab_gz, folder)
    special = {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": pad,
               "unk_token": "<|endoftext|>"}
    with open(os.path.join(folder, "special_tokens_map.json"), "w") as f:
        json.dump(special, f, indent=2)
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump({"model_max_length": 77, "tokenizer_class": "CLIPTokenizer", **special}, f, indent=2)


def fill(model, seed, zero_convs=()):
    """Random 16-bit weights in place of the meta tensors, torch.nn's default bounds."""
    g = torch.Generator().manual_seed(seed)
    model.to_empty(device="cpu")
    with torch.no_grad():
        for name, p in model.named_parameters():
            if any(z in name for z in zero_convs):
                p.copy_(0.02 * torch.randn(p.shape, generator=g))
            elif p.dim() == 1 and ("norm" in name or "ln_" in name) and name.endswith("weight"):
                p.fill_(1.0)
            else:
                owner = model.get_parameter(name.rsplit(".", 1)[0] + ".weight") if name.endswith("bias") else p
                fan_in = owner[0].numel() if owner.dim() > 1 else owner.numel()
                bound = 1.0 / math.sqrt(max(fan_in, 1))
                p.copy_((torch.rand(p.shape, generator=g) * 2 - 1) * bound)
        for name, b in model.named_buffers():  # (CLIP's position ids)
            if "position_ids" in name:
                b.copy_(torch.arange(b.shape[-1]).expand_as(b))
    return model.eval()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--vocab", required=True, help="CLIP's bpe_simple_vocab_16e6.txt.gz")
    ap.add_argument("--dtype", choices=("fp16", "bf16"), default="fp16")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection
    torch.set_default_dtype(torch.float16 if a.dtype == "fp16" else torch.bfloat16)
    pipe = os.path.join(a.out, "sdxl-random")
    os.makedirs(pipe, exist_ok=True)
    counts = {}

    def save(name, model, folder):
        counts[name] = sum(p.numel() for p in model.parameters())
        model.save_pretrained(folder, safe_serialization=True)
        print(f"{name}: {counts[name]:,} parameters -> {folder}", flush=True)

    with torch.device("meta"):
        unet = UNet2DConditionModel(**UNET)
        controlnet = ControlNetModel.from_unet(unet, load_weights_from_unet=False)
    save("unet", fill(unet, a.seed + 1), os.path.join(pipe, "unet"))
    del unet
    save("controlnet", fill(controlnet, a.seed + 2, ("controlnet_down_blocks", "controlnet_mid_block",
                                                       "controlnet_cond_embedding.conv_out")),
         os.path.join(a.out, "controlnet-sdxl-random"))
    del controlnet
    with torch.device("meta"):
        vae = AutoencoderKL(**VAE)
    save("vae", fill(vae, a.seed + 3), os.path.join(pipe, "vae"))
    for name, cls, cfg, seed in (("text_encoder", CLIPTextModel, CLIP_L, 4),
                                 ("text_encoder_2", CLIPTextModelWithProjection, CLIP_G, 5)):
        with torch.device("meta"):
            te = cls(CLIPTextConfig(**cfg, pad_token_id=1, bos_token_id=49406, eos_token_id=49407))
        save(name, fill(te, a.seed + seed), os.path.join(pipe, name))
    write_tokenizer(os.path.join(pipe, "tokenizer"), a.vocab, "<|endoftext|>")
    write_tokenizer(os.path.join(pipe, "tokenizer_2"), a.vocab, "!")
    os.makedirs(os.path.join(pipe, "scheduler"), exist_ok=True)
    with open(os.path.join(pipe, "scheduler", "scheduler_config.json"), "w") as f:
        json.dump(SCHEDULER, f, indent=2)
    index = {"_class_name": "StableDiffusionXLPipeline", "_diffusers_version": "0.42.1",
             "force_zeros_for_empty_prompt": True,
             "scheduler": ["diffusers", "EulerDiscreteScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
             "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
             "tokenizer": ["transformers", "CLIPTokenizer"], "tokenizer_2": ["transformers", "CLIPTokenizer"],
             "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"]}
    with open(os.path.join(pipe, "model_index.json"), "w") as f:
        json.dump(index, f, indent=2)
    print("parameters: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
