#!/usr/bin/env python3
"""Fixtures for the model-loading tests (tests/unit/test_model_files.cpp): one tiny SD 1.x-style
and one tiny SD 2.x-style pipeline in the layouts gen reads, plus reference outputs from diffusers.

    python tools/make_loading_fixtures.py [--out tests/data/loading]

Models: real diffusers / transformers classes with tiny configs and fixed seeds (the helpers of
make_tiny_models.py); the LDM single files are made with its rename tables and checked here by
loading them back with diffusers' own single-file loaders. Written:

  sd1/                diffusers pipeline: unet/ sharded fp32 + fp16 variant, vae/, text_encoder/,
                      tokenizer/ (config only), scheduler/ (epsilon)
  sd1.safetensors     LDM single file, fp32 (HF CLIP under cond_stage_model.transformer.text_model.)
  sd1-fp16.safetensors, sd1-bf16.safetensors   the same, stored in fp16 / bf16
  sd1-ema.safetensors the same (fp32) plus an EMA UNet (model_ema.*, different weights)
  sd2/                diffusers pipeline, one weights file per component (linear projections, fixed head size, upcast, gelu text
                      encoder holding one layer fewer, as diffusers' SD 2.x folders do), v_prediction
  sd2.safetensors     LDM single file (OpenCLIP text encoder, fused in_proj, all layers)
  vae-other.safetensors   another VAE with the same architecture, bare LDM names
  vae-wrong.safetensors   a VAE with other channel counts, first_stage_model. names
  refs.safetensors    inputs and diffusers outputs (see REFS below)
  hints.json          what the weights do not say (head counts, norm groups) for the LDM files

Settings of the tiny models that the C++ tests need as "hints" are in hints.json.
"""
import argparse
import copy
import json
import os
import shutil
import sys
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

import make_tiny_models as tiny  # noqa: E402  (randomise, rename tables, sd(), openclip_to_ldm)

torch.set_grad_enabled(False)
SEED = 4321
GROUPS = 4
TE_WIDTH = 16


def unet_cfg(sd2):
    cfg = dict(sample_size=8, in_channels=4, out_channels=4, block_out_channels=(4, 8) if sd2 else (8, 8),
               layers_per_block=1,
               norm_num_groups=GROUPS, cross_attention_dim=TE_WIDTH,
               down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
               up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"))
    if sd2:  # fixed 4-channel heads (diffusers spells the per-level head counts attention_head_dim)
        cfg.update(attention_head_dim=(1, 2), use_linear_projection=True, upcast_attention=True)
    else:  # SD 1.x rule: 8 heads everywhere
        cfg.update(attention_head_dim=8)
    return cfg


def vae_cfg(ch=(4, 4)):
    return dict(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=ch,
                down_block_types=("DownEncoderBlock2D",) * len(ch), up_block_types=("UpDecoderBlock2D",) * len(ch),
                layers_per_block=1, norm_num_groups=GROUPS, sample_size=16)


def te_cfg(layers, act):
    from transformers import CLIPTextConfig
    return CLIPTextConfig(vocab_size=64, hidden_size=TE_WIDTH, intermediate_size=24, num_hidden_layers=layers,
                          num_attention_heads=2, max_position_embeddings=77, projection_dim=TE_WIDTH,
                          hidden_act=act, bos_token_id=62, eos_token_id=63, pad_token_id=63)


def models():
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel
    m = {}
    torch.manual_seed(SEED)
    m["unet1"] = tiny.randomise(UNet2DConditionModel(**unet_cfg(False)), SEED, perturb=0.05)
    m["unet1_ema"] = tiny.randomise(copy.deepcopy(m["unet1"]), SEED + 1, perturb=0.05)
    torch.manual_seed(SEED + 2)
    m["unet2"] = tiny.randomise(UNet2DConditionModel(**unet_cfg(True)), SEED + 2, perturb=0.05)
    torch.manual_seed(SEED + 3)
    m["vae"] = tiny.randomise(AutoencoderKL(**vae_cfg()), SEED + 3, perturb=0.02)
    torch.manual_seed(SEED + 4)
    m["vae_other"] = tiny.randomise(AutoencoderKL(**vae_cfg()), SEED + 4, perturb=0.02)
    torch.manual_seed(SEED + 5)
    m["vae_wrong"] = tiny.randomise(AutoencoderKL(**vae_cfg((4, 8))), SEED + 5)
    torch.manual_seed(SEED + 6)
    m["te1"] = tiny.randomise(CLIPTextModel(te_cfg(2, "quick_gelu")), SEED + 6, perturb=0.02)
    torch.manual_seed(SEED + 7)
    m["te2_full"] = tiny.randomise(CLIPTextModel(te_cfg(3, "gelu")), SEED + 7, perturb=0.02)
    # diffusers' SD 2.x text encoder: the OpenCLIP tower without its last layer.
    te2 = CLIPTextModel(te_cfg(2, "gelu"))
    state = {k: v for k, v in m["te2_full"].state_dict().items() if ".layers.2." not in k}
    te2.load_state_dict(state)
    m["te2"] = te2.eval()
    return m


def ldm_unet(model, prefix="model.diffusion_model."):
    return tiny.to_ldm(tiny.sd(model), tiny.unet_table(dict(model.config)), prefix)


def ldm_vae(model, prefix):
    return tiny.to_ldm(tiny.sd(model), tiny.vae_table(dict(model.config)), prefix, vae=True)


def write_pipeline(folder, unet, vae, te, scheduler, shard_and_fp16):
    from diffusers import DDIMScheduler
    import diffusers
    os.makedirs(folder)
    unet.save_pretrained(os.path.join(folder, "unet"), safe_serialization=True,
                         max_shard_size="8KB" if shard_and_fp16 else "10GB")
    if shard_and_fp16:  # the fp16 variant next to the fp32 shards
        with tempfile.TemporaryDirectory() as tmp:
            copy.deepcopy(unet).half().save_pretrained(tmp, safe_serialization=True, variant="fp16")
            for name in os.listdir(tmp):
                if name.endswith(".safetensors"):
                    shutil.copy(os.path.join(tmp, name), os.path.join(folder, "unet", name))
    vae.save_pretrained(os.path.join(folder, "vae"), safe_serialization=True)
    te.save_pretrained(os.path.join(folder, "text_encoder"), safe_serialization=True)
    os.makedirs(os.path.join(folder, "tokenizer"))
    with open(os.path.join(folder, "tokenizer", "tokenizer_config.json"), "w") as f:
        json.dump({"model_max_length": 77, "tokenizer_class": "CLIPTokenizer"}, f, indent=2)
    DDIMScheduler(prediction_type=scheduler).save_config(os.path.join(folder, "scheduler"))
    index = {"_class_name": "StableDiffusionPipeline", "_diffusers_version": diffusers.__version__,
             "feature_extractor": [None, None], "requires_safety_checker": False, "safety_checker": [None, None],
             "scheduler": ["diffusers", "DDIMScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
             "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "UNet2DConditionModel"],
             "vae": ["diffusers", "AutoencoderKL"]}
    with open(os.path.join(folder, "model_index.json"), "w") as f:
        json.dump(index, f, indent=2)
        f.write("\n")


def cast(tensors, dtype):
    return {k: (v.to(dtype) if v.is_floating_point() else v).contiguous() for k, v in tensors.items()}


def verify(out, m):
    """Every LDM file, loaded back by diffusers' single-file loaders, equals the model it came from;
    the diffusers folders load with from_pretrained (fp32 shards and fp16 variant)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from diffusers.loaders.single_file_utils import create_diffusers_clip_model_from_ldm
    from safetensors.torch import load_file
    from transformers import CLIPTextModel
    ok = True
    kw = dict(local_files_only=True)
    p = lambda *a: os.path.join(out, *a)  # noqa: E731
    for fam, unet, te in (("sd1", "unet1", "te1"), ("sd2", "unet2", "te2")):
        fp16 = fam == "sd1"
        u = UNet2DConditionModel.from_single_file(p(fam + ".safetensors"), config=p(fam), subfolder="unet", **kw)
        ok &= tiny.compare(fam + ".safetensors unet", u, m[unet])
        v = AutoencoderKL.from_single_file(p(fam + ".safetensors"), config=p(fam), subfolder="vae", **kw)
        ok &= tiny.compare(fam + ".safetensors vae", v, m["vae"])
        t = create_diffusers_clip_model_from_ldm(CLIPTextModel, load_file(p(fam + ".safetensors")), config=p(fam),
                                                 subfolder="text_encoder", **kw)
        ok &= tiny.compare(fam + ".safetensors text encoder", t, m[te])
        ok &= tiny.compare(fam + "/unet", UNet2DConditionModel.from_pretrained(p(fam, "unet")), m[unet])
        if fp16:
            ok &= tiny.compare(fam + "/unet fp16", UNet2DConditionModel.from_pretrained(p(fam, "unet"), variant="fp16"),
                               m[unet], atol=2e-3)
    ema = load_file(p("sd1-ema.safetensors"))
    want = ldm_unet(m["unet1_ema"], "")
    bad = [k for k, v in want.items() if not torch.equal(ema["model_ema.diffusion_model" + k.replace(".", "")], v)]
    print(f"verify sd1-ema.safetensors EMA copy: {'ok' if not bad else 'FAILED ' + str(bad[:3])}")
    ok &= not bad
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--out", default=os.path.join(root, "tests", "data", "loading"))
    args = ap.parse_args()
    out = args.out
    torch.set_num_threads(1)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    m = models()

    write_pipeline(os.path.join(out, "sd1"), m["unet1"], m["vae"], m["te1"], "epsilon", True)
    write_pipeline(os.path.join(out, "sd2"), m["unet2"], m["vae"], m["te2"], "v_prediction", False)

    vae = ldm_vae(m["vae"], "first_stage_model.")
    te1 = tiny.clip_to_ldm(tiny.sd(m["te1"]), "cond_stage_model.transformer.")
    te1["cond_stage_model.transformer.text_model.embeddings.position_ids"] = torch.arange(77)[None]
    sd1 = {**ldm_unet(m["unet1"]), **vae, **te1}
    save_file(cast(sd1, torch.float32), os.path.join(out, "sd1.safetensors"))
    save_file(cast(sd1, torch.float16), os.path.join(out, "sd1-fp16.safetensors"))
    save_file(cast(sd1, torch.bfloat16), os.path.join(out, "sd1-bf16.safetensors"))
    ema = dict(sd1)
    for k, v in ldm_unet(m["unet1_ema"], "").items():
        ema["model_ema.diffusion_model" + k.replace(".", "")] = v
    ema["model_ema.decay"] = torch.tensor(0.9999)
    ema["model_ema.num_updates"] = torch.tensor(1000, dtype=torch.int32)
    save_file(cast(ema, torch.float32), os.path.join(out, "sd1-ema.safetensors"))

    g = torch.Generator().manual_seed(SEED + 50)
    te2 = tiny.openclip_to_ldm(tiny.sd(m["te2_full"]), "cond_stage_model.model.",
                               projection=torch.randn(TE_WIDTH, TE_WIDTH, generator=g) * 0.1)
    te2["cond_stage_model.model.logit_scale"] = torch.tensor(4.6)
    sd2 = {**ldm_unet(m["unet2"]), **vae, **te2}
    save_file(cast(sd2, torch.float32), os.path.join(out, "sd2.safetensors"))
    save_file(cast(ldm_vae(m["vae_other"], ""), torch.float32), os.path.join(out, "vae-other.safetensors"))
    save_file(cast(ldm_vae(m["vae_wrong"], "first_stage_model."), torch.float32),
              os.path.join(out, "vae-wrong.safetensors"))

    # REFS: inputs, and diffusers' outputs for them (fp32).
    g = torch.Generator().manual_seed(SEED + 60)
    refs = {"x": torch.randn(1, 4, 8, 8, generator=g), "t": torch.tensor([321.0]),
            "context": torch.randn(1, 5, TE_WIDTH, generator=g),
            "ids": torch.tensor([[62, 5, 17, 40, 63, 63, 63]]), "z": torch.randn(1, 4, 4, 4, generator=g)}
    for fam, unet in (("sd1", "unet1"), ("sd1_ema", "unet1_ema"), ("sd2", "unet2")):
        refs[fam + ".unet"] = m[unet](refs["x"], refs["t"], encoder_hidden_states=refs["context"]).sample
    refs["sd1.text"] = m["te1"](refs["ids"]).last_hidden_state
    refs["sd2.text"] = m["te2"](refs["ids"]).last_hidden_state
    full = m["te2_full"](refs["ids"], output_hidden_states=True)
    penult = m["te2_full"].final_layer_norm(full.hidden_states[-2])
    assert torch.allclose(penult, refs["sd2.text"], atol=1e-6)
    refs["vae.image"] = m["vae"].decode(refs["z"]).sample
    refs["vae_other.image"] = m["vae_other"].decode(refs["z"]).sample
    # How far the fp16 / bf16 files' weights move the outputs (for the tolerances of the tests).
    for dtype in (torch.float16, torch.bfloat16):
        r = copy.deepcopy(m["unet1"])
        for p_ in r.parameters():
            p_.copy_(p_.to(dtype).float())
        y = r(refs["x"], refs["t"], encoder_hidden_states=refs["context"]).sample
        err = ((y - refs["sd1.unet"]).abs().max() / refs["sd1.unet"].abs().max()).item()
        print(f"{dtype}: UNet relative error from rounding the weights {err:.2e}")
    save_file({k: v.contiguous() for k, v in refs.items()}, os.path.join(out, "refs.safetensors"))
    hints = {"unet_norm_groups": GROUPS, "vae_norm_groups": GROUPS, "text_heads": 2, "sd2_unet_head_channels": 4}
    with open(os.path.join(out, "hints.json"), "w") as f:
        json.dump(hints, f, indent=2)
        f.write("\n")
    ok = verify(out, m)
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
    print(f"wrote {out}: {total / 1e6:.2f} MB")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
