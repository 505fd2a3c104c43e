#!/usr/bin/env python3
"""Whole-pipeline reference runs: diffusers' StableDiffusionPipeline and
StableDiffusionControlNetPipeline (MultiControlNetModel for several) on tiny random models,
with fixed seeds (one CPU torch.Generator per image, seeded seed + i), for the C++ tests in
tests/unit/test_pipeline.cpp.

Weights are rounded to float16 and stored so (small files); both sides compute in float32
from those same values. Writes into tests/data/pipeline/:
  models.safetensors   LDM-named weights: model.diffusion_model.*, first_stage_model.*,
                       cond_stage_model.transformer.text_model.*, control.N.* (ControlNets)
  configs.json         the diffusers configs of every component
  sd2_models.safetensors, sd2_configs.json   an SD 2.x-style UNet and text encoder (same VAE)
  cases.json           the requests
  cases.safetensors    control images and the reference images ([B, 3, H, W] in [0, 1])
The CLIP vocabulary is the copy scripts/setup.sh puts in build/share/gen/clip (never committed).

    python tools/make_pipeline_fixtures.py
"""
import json
import os
import sys
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

import make_tiny_models as layouts  # noqa: E402  (the diffusers → LDM rename table)
from make_tokenizer_fixtures import write_vocab_folder  # noqa: E402

torch.set_grad_enabled(False)
ROOT = os.path.dirname(HERE)
OUT = os.path.join(ROOT, "tests", "data", "pipeline")
VOCAB = os.environ.get("GEN_VOCAB") or os.path.join(ROOT, "build", "share", "gen", "clip", "bpe_simple_vocab_16e6.txt.gz")

UNET = dict(sample_size=16, in_channels=4, out_channels=4, block_out_channels=(8, 16), layers_per_block=1,
            norm_num_groups=4, cross_attention_dim=8, attention_head_dim=2,
            down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"))
VAE = dict(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 8, 8, 8), layers_per_block=1,
           norm_num_groups=4, down_block_types=("DownEncoderBlock2D",) * 4,
           up_block_types=("UpDecoderBlock2D",) * 4)
HINT = (4, 4, 8, 8)

SCHEDULERS = {  # gen sampler name -> (diffusers class, extra config)
    "euler": ("EulerDiscreteScheduler", {}),
    "euler_a": ("EulerAncestralDiscreteScheduler", {}),
    "dpmpp_2m_karras": ("DPMSolverMultistepScheduler", {"use_karras_sigmas": True}),
    "ddim": ("DDIMScheduler", {}),
    "unipc": ("UniPCMultistepScheduler", {}),
}
SD_SCHEDULER = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                    steps_offset=1, set_alpha_to_one=False, clip_sample=False)


def rounded(model, seed):
    layouts.randomise(model, seed, perturb=0.05)
    for p in model.parameters():
        p.data = p.data.half().float()
    return model.eval()


UNET_SD2 = dict(UNET, attention_head_dim=(2, 4), use_linear_projection=True, upcast_attention=True)
SD2_SCHEDULER = dict(SD_SCHEDULER, prediction_type="v_prediction")


def make_sd2(tokenizer_dir, vae, tensors):
    """SD 2.x style: linear projections, 4-channel heads with upcast, a gelu text encoder
    padded with id 0 (the diffusers SD 2.x folders hold the OpenCLIP tower already cut at its
    penultimate layer, so no clip skip), v-prediction."""
    import diffusers
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer
    tokenizer = CLIPTokenizer(os.path.join(tokenizer_dir, "vocab.json"), os.path.join(tokenizer_dir, "merges.txt"),
                              model_max_length=77, pad_token="!")
    te_cfg = CLIPTextConfig(vocab_size=49408, hidden_size=8, intermediate_size=16, num_hidden_layers=2,
                            num_attention_heads=2, max_position_embeddings=77, hidden_act="gelu",
                            bos_token_id=49406, eos_token_id=49407, pad_token_id=0)
    torch.manual_seed(21)
    text_encoder = rounded(CLIPTextModel(te_cfg), 21)
    torch.manual_seed(22)
    unet = rounded(UNet2DConditionModel(**UNET_SD2), 22)
    weights = layouts.to_ldm(layouts.sd(unet), layouts.unet_table(UNET_SD2), "model.diffusion_model.")
    weights.update({"cond_stage_model.transformer.text_model." + k: v for k, v in layouts.sd(text_encoder).items()})
    save_file({k: v.half().contiguous() for k, v in weights.items()}, os.path.join(OUT, "sd2_models.safetensors"))
    with open(os.path.join(OUT, "sd2_configs.json"), "w") as f:
        json.dump({"unet": dict(unet.config), "text_encoder": te_cfg.to_dict(), "scheduler": SD2_SCHEDULER}, f,
                  indent=1, sort_keys=True, default=str)
    cases = [
        dict(name="sd2_euler_vpred", family="sd2", sampler="euler", prompt="a mountain lake at sunrise",
             negative="fog", seed=21, steps=5, cfg=7.5, batch=1, width=80, height=64),
        dict(name="sd2_dpmpp_2m_vpred", family="sd2", sampler="dpmpp_2m", prompt="city at night", negative="",
             seed=22, steps=5, cfg=5.0, batch=2, width=64, height=64),
    ]
    for case in cases:
        cls = {"euler": "EulerDiscreteScheduler", "dpmpp_2m": "DPMSolverMultistepScheduler"}[case["sampler"]]
        scheduler = getattr(diffusers, cls).from_config(SD2_SCHEDULER)
        pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                       scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                       requires_safety_checker=False)
        gens = [torch.Generator().manual_seed(case["seed"] + i) for i in range(case["batch"])]
        out = pipe(prompt=case["prompt"], negative_prompt=case["negative"], num_inference_steps=case["steps"],
                   guidance_scale=case["cfg"], num_images_per_prompt=case["batch"], generator=gens,
                   width=case["width"], height=case["height"], output_type="pt").images
        tensors["image." + case["name"]] = out.float().contiguous()
    return cases


def main():
    import diffusers
    from diffusers import (AutoencoderKL, ControlNetModel, StableDiffusionControlNetPipeline,
                           StableDiffusionPipeline, UNet2DConditionModel)
    from diffusers.models.controlnets.multicontrolnet import MultiControlNetModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    tok_dir = tempfile.mkdtemp()
    write_vocab_folder(VOCAB, tok_dir)
    tokenizer = CLIPTokenizer(os.path.join(tok_dir, "vocab.json"), os.path.join(tok_dir, "merges.txt"),
                              model_max_length=77, pad_token="<|endoftext|>")
    te_cfg = CLIPTextConfig(vocab_size=49408, hidden_size=8, intermediate_size=16, num_hidden_layers=2,
                            num_attention_heads=2, max_position_embeddings=77, hidden_act="quick_gelu",
                            bos_token_id=49406, eos_token_id=49407, pad_token_id=49407)
    torch.manual_seed(1)
    text_encoder = rounded(CLIPTextModel(te_cfg), 1)
    torch.manual_seed(2)
    unet = rounded(UNet2DConditionModel(**UNET), 2)
    torch.manual_seed(3)
    vae = rounded(AutoencoderKL(**VAE), 3)
    nets = []
    for i in range(2):
        torch.manual_seed(10 + i)
        nets.append(rounded(ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=HINT), 10 + i))

    weights = {}
    weights.update(layouts.to_ldm(layouts.sd(unet), layouts.unet_table(UNET), "model.diffusion_model."))
    weights.update(layouts.to_ldm(layouts.sd(vae), layouts.vae_table(VAE), "first_stage_model.", vae=True))
    weights.update({"cond_stage_model.transformer.text_model." + k: v for k, v in layouts.sd(text_encoder).items()})
    table = layouts.unet_table(UNET, controlnet=True, hint_blocks=2 * (len(HINT) - 1))
    for i, net in enumerate(nets):
        weights.update(layouts.to_ldm(layouts.sd(net), table, f"control.{i}."))
    os.makedirs(OUT, exist_ok=True)
    save_file({k: v.half().contiguous() for k, v in weights.items()}, os.path.join(OUT, "models.safetensors"))
    configs = {"unet": dict(unet.config), "vae": dict(vae.config), "text_encoder": te_cfg.to_dict(),
               "controlnet": dict(nets[0].config), "scheduler": SD_SCHEDULER}
    with open(os.path.join(OUT, "configs.json"), "w") as f:
        json.dump(configs, f, indent=1, sort_keys=True, default=str)

    g = torch.Generator().manual_seed(99)
    control_images = [torch.rand(1, 3, 64, 80, generator=g) for _ in range(2)]
    cases = [
        dict(name="euler_cfg_batch2", sampler="euler", prompt="a photo of a cat", negative="blurry", seed=42,
             steps=6, cfg=7.5, batch=2, width=80, height=64),
        dict(name="euler_a_no_cfg", sampler="euler_a", prompt="an astronaut riding a horse", negative="", seed=7,
             steps=5, cfg=1.0, batch=1, width=80, height=64),
        dict(name="dpmpp_2m_karras", sampler="dpmpp_2m_karras", prompt="castle, oil painting", negative="ugly",
             seed=3, steps=6, cfg=5.0, batch=1, width=64, height=96),
        dict(name="ddim", sampler="ddim", prompt="", negative="", seed=11, steps=5, cfg=3.0, batch=1,
             width=80, height=64),
        dict(name="control_one", sampler="unipc", prompt="a house", negative="low quality", seed=5, steps=6,
             cfg=7.0, batch=1, width=80, height=64,
             controls=[dict(net=0, image=0, scale=0.8, start=0.0, end=0.6)]),
        dict(name="control_multi", sampler="euler", prompt="a red car", negative="", seed=8, steps=6, cfg=6.0,
             batch=2, width=80, height=64,
             controls=[dict(net=0, image=0, scale=1.0, start=0.2, end=1.0),
                       dict(net=1, image=1, scale=0.5, start=0.0, end=0.5)]),
        dict(name="control_guess", sampler="euler_a", prompt="", negative="", seed=9, steps=5, cfg=4.0,
             batch=1, width=80, height=64, guess=True,
             controls=[dict(net=1, image=1, scale=1.2, start=0.0, end=1.0)]),
    ]
    tensors = {f"control_image.{i}": im for i, im in enumerate(control_images)}
    for case in cases:
        cls, extra = SCHEDULERS[case["sampler"]]
        scheduler = getattr(diffusers, cls).from_config({**SD_SCHEDULER, **extra})
        gens = [torch.Generator().manual_seed(case["seed"] + i) for i in range(case["batch"])]
        common = dict(prompt=case["prompt"], negative_prompt=case["negative"], num_inference_steps=case["steps"],
                      guidance_scale=case["cfg"], num_images_per_prompt=case["batch"], generator=gens,
                      width=case["width"], height=case["height"], output_type="pt")
        parts = dict(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
                     safety_checker=None, feature_extractor=None, requires_safety_checker=False)
        if "controls" in case:
            c = case["controls"]
            net = nets[c[0]["net"]] if len(c) == 1 else MultiControlNetModel([nets[u["net"]] for u in c])
            pipe = StableDiffusionControlNetPipeline(controlnet=net, **parts)
            images = [control_images[u["image"]] for u in c]
            kw = dict(image=images[0] if len(c) == 1 else images,
                      controlnet_conditioning_scale=c[0]["scale"] if len(c) == 1 else [u["scale"] for u in c],
                      control_guidance_start=c[0]["start"] if len(c) == 1 else [u["start"] for u in c],
                      control_guidance_end=c[0]["end"] if len(c) == 1 else [u["end"] for u in c],
                      guess_mode=case.get("guess", False))
            out = pipe(**common, **kw).images
        else:
            out = StableDiffusionPipeline(**parts)(**common).images
        tensors["image." + case["name"]] = out.float().contiguous()
    cases += make_sd2(tok_dir, vae, tensors)
    save_file(tensors, os.path.join(OUT, "cases.safetensors"))
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1)


if __name__ == "__main__":
    main()
