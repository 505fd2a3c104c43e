#!/usr/bin/env python3
"""Write models/demo/config: the demo model's architecture as a diffusers pipeline folder without
weights (docs/training.md#the-demo-model). `gen train init` turns it into a model with random
weights, which gen then trains. Needs only the standard library (no torch, no diffusers): the
configs are plain JSON in the diffusers/transformers formats; the tokenizer is a small byte-level
BPE vocabulary in which every word of the demo captions is one token.

    python3 tools/make_demo_config.py [--out models/demo/config]
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_tokenizer_fixtures import write_tiny_folder  # noqa: E402

# Every word the captions use (src/training/shapes.cpp), twice, so that BPE merges each whole.
WORDS = ("a on background red green blue yellow white black circle square triangle "
         "and the of with shape").split()

UNET = {
    "_class_name": "UNet2DConditionModel", "sample_size": 8, "in_channels": 4, "out_channels": 4,
    "block_out_channels": [32, 64], "layers_per_block": 1,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    "mid_block_type": "UNetMidBlock2DCrossAttn", "attention_head_dim": 8, "cross_attention_dim": 64,
    "norm_num_groups": 32, "use_linear_projection": False, "flip_sin_to_cos": True, "freq_shift": 0,
}
VAE = {
    "_class_name": "AutoencoderKL", "sample_size": 64, "in_channels": 3, "out_channels": 3, "latent_channels": 4,
    "block_out_channels": [16, 32, 64, 64], "layers_per_block": 1, "norm_num_groups": 8,
    "down_block_types": ["DownEncoderBlock2D"] * 4, "up_block_types": ["UpDecoderBlock2D"] * 4,
    "scaling_factor": 1.0, "force_upcast": False,
}
SCHEDULER = {
    "_class_name": "DDIMScheduler", "num_train_timesteps": 1000, "beta_schedule": "linear",
    "beta_start": 0.0001, "beta_end": 0.02, "prediction_type": "v_prediction", "clip_sample": False,
    "set_alpha_to_one": False, "steps_offset": 1, "timestep_spacing": "leading",
}
INDEX = {
    "_class_name": "StableDiffusionPipeline", "scheduler": ["diffusers", "DDIMScheduler"],
    "text_encoder": ["transformers", "CLIPTextModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
    "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
    "safety_checker": [None, None], "feature_extractor": [None, None], "requires_safety_checker": False,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "models", "demo", "config"))
    a = ap.parse_args()
    tok = os.path.join(a.out, "tokenizer")
    write_tiny_folder(tok, n_merges=400, corpus=WORDS + WORDS, pad_token="<|endoftext|>")
    vocab = json.load(open(os.path.join(tok, "vocab.json"), encoding="utf-8"))
    text = {
        "architectures": ["CLIPTextModel"], "model_type": "clip_text_model", "vocab_size": len(vocab),
        "hidden_size": 64, "intermediate_size": 256, "num_hidden_layers": 2, "num_attention_heads": 2,
        "max_position_embeddings": 77, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5,
        "bos_token_id": vocab["<|startoftext|>"], "eos_token_id": vocab["<|endoftext|>"],
        "pad_token_id": vocab["<|endoftext|>"], "projection_dim": 64,
    }
    for sub, cfg, name in (("unet", UNET, "config.json"), ("vae", VAE, "config.json"),
                           ("text_encoder", text, "config.json"), ("scheduler", SCHEDULER, "scheduler_config.json"),
                           (".", INDEX, "model_index.json")):
        os.makedirs(os.path.join(a.out, sub), exist_ok=True)
        with open(os.path.join(a.out, sub, name), "w", encoding="utf-8") as f:
            json.dump(cfg, f, indent=2, sort_keys=True)
            f.write("\n")
    print(f"wrote {os.path.normpath(a.out)}: vocabulary {len(vocab)} tokens")


if __name__ == "__main__":
    main()
