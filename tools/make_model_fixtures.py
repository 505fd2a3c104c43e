#!/usr/bin/env python3
"""Reference outputs of single model calls, for the C++ parity tests (tests/unit/test_models.cpp).

Tiny random diffusers / transformers models (real classes, small configs, fixed seeds), their
weights renamed to the original LDM layout with the one rename table of make_tiny_models.py,
and one call of each with fixed inputs:

  unet_sd1  UNet2DConditionModel, SD 1.x style (conv projections, head count), 3 levels
  unet_sd2  the same with linear projections and a fixed head size (SD 2.x style)
  te_sd1    CLIPTextModel (quick_gelu), HF names; last layer and penultimate (+ final norm)
  te_sd2    CLIPTextModel (gelu) stored with OpenCLIP names (fused in_proj)
  vae       AutoencoderKL: decode and encode
  controlnet_sd1  ControlNetModel made from unet_sd1's config: hint embedding, residuals
  unet_sdxl  UNet2DConditionModel, SDXL style: no attention at the top level, a transformer depth
            per level, linear projections, the "text_time" added condition (LDM label_emb)
  controlnet_sdxl  ControlNetModel made from unet_sdxl's config (the "text_time" added condition,
            per-level transformer depths): hint embedding, residuals, with SDXL's added condition
  controlnet_sdxl_small  the same with transformer_layers_per_block 0 everywhere (diffusers'
            "small" SDXL ControlNets: norm and projections, no transformer blocks), weights
            under diffusers' names (the key table's rows)
  controlnet_union  ControlNetUnionModel made from unet_sdxl's config (8 control types, a 2-layer
            condition transformer): one condition (depth), and two at once (openpose, canny) with
            their scales acting inside, batch 3; diffusers names (no key-table rows: the Union's own
            modules share their names)
  te_sdxl   CLIPTextModel + CLIPTextModelWithProjection through StableDiffusionXLPipeline.encode_prompt
            (two tiny tokenizers); the second encoder's weights in both layouts (HF, OpenCLIP)

For each NAME: NAME.safetensors (LDM-named weights), NAME.json (the diffusers/transformers
config) and NAME_io.safetensors (inputs and outputs). Run with the project's venv python:

    python tools/make_model_fixtures.py --out tests/data/models
"""
import argparse
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

import make_tiny_models as layouts  # noqa: E402  (the rename table lives there)

torch.set_grad_enabled(False)


def unet_cfg(linear):
    return dict(sample_size=16, in_channels=4, out_channels=4, block_out_channels=(8, 16, 16),
                layers_per_block=2, norm_num_groups=4, cross_attention_dim=12,
                down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
                attention_head_dim=(2, 4, 4) if linear else 2, use_linear_projection=linear)


def save(out, name, weights, config, io):
    save_file({k: v.contiguous() for k, v in weights.items()}, os.path.join(out, name + ".safetensors"))
    save_file({k: v.contiguous() for k, v in io.items()}, os.path.join(out, name + "_io.safetensors"))
    with open(os.path.join(out, name + ".json"), "w") as f:
        json.dump(config, f, indent=1, sort_keys=True)


def make_unet(out, name, linear, seed):
    from diffusers import UNet2DConditionModel
    cfg = unet_cfg(linear)
    torch.manual_seed(seed)
    model = layouts.randomise(UNet2DConditionModel(**cfg), seed, perturb=0.05)
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(2, 4, 16, 12, generator=g)
    t = torch.tensor([999.0, 37.0])
    ctx = torch.randn(2, 5, 12, generator=g)
    y = model(x, t, encoder_hidden_states=ctx).sample
    # With ControlNet-style residuals added to every skip and to the middle block.
    downs = [torch.randn(s, generator=g) * 0.1 for s in skip_shapes(model, x, t, ctx)]
    mid = torch.randn(y.shape[0], 16, 4, 3, generator=g) * 0.1
    y_res = model(x, t, encoder_hidden_states=ctx, down_block_additional_residuals=tuple(downs),
                  mid_block_additional_residual=mid).sample
    table = layouts.unet_table(cfg)
    weights = layouts.to_ldm(layouts.sd(model), table, "")
    io = {"x": x, "t": t, "context": ctx, "out": y, "mid_residual": mid, "out_with_residuals": y_res}
    io.update({f"down_residual.{i}": d for i, d in enumerate(downs)})
    save(out, name, weights, dict(model.config), io)


def skip_shapes(model, x, t, ctx):
    shapes = []
    hooks = [model.conv_in.register_forward_hook(lambda m, i, o: shapes.append(o.shape))]
    for blk in model.down_blocks:
        hooks.append(blk.register_forward_hook(lambda m, i, o: shapes.extend(s.shape for s in o[1])))
    model(x, t, encoder_hidden_states=ctx)
    for h in hooks:
        h.remove()
    return shapes


def make_text(out, name, act, openclip, seed):
    from transformers import CLIPTextConfig, CLIPTextModel
    cfg = CLIPTextConfig(vocab_size=1000, hidden_size=16, intermediate_size=40, num_hidden_layers=3,
                         num_attention_heads=2, max_position_embeddings=77, hidden_act=act,
                         eos_token_id=999, bos_token_id=998, pad_token_id=999)
    torch.manual_seed(seed)
    model = layouts.randomise(CLIPTextModel(cfg), seed, perturb=0.05)
    g = torch.Generator().manual_seed(seed + 1)
    ids = torch.randint(0, 998, (2, 77), generator=g)
    ids[:, 0] = 998
    ids[0, 9:] = 999
    res = model(ids, output_hidden_states=True)
    last = res.last_hidden_state
    penultimate = model.final_layer_norm(res.hidden_states[-2])
    state = layouts.sd(model)
    weights = layouts.openclip_to_ldm(state, "") if openclip else layouts.clip_to_ldm(state, "")
    if openclip:
        weights.pop("text_projection", None)
    else:
        weights = {k.removeprefix("text_model."): v for k, v in weights.items()}
    save(out, name, weights, cfg.to_dict(), {"ids": ids, "last": last, "penultimate": penultimate})


def make_vae(out, seed):
    from diffusers import AutoencoderKL
    cfg = dict(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16),
               layers_per_block=1, norm_num_groups=4,
               down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2)
    torch.manual_seed(seed)
    model = layouts.randomise(AutoencoderKL(**cfg), seed, perturb=0.05)
    g = torch.Generator().manual_seed(seed + 1)
    z = torch.randn(1, 4, 6, 5, generator=g)
    image = model.decode(z).sample
    x = torch.rand(1, 3, 12, 10, generator=g) * 2 - 1
    dist = model.encode(x).latent_dist
    weights = layouts.to_ldm(layouts.sd(model), layouts.vae_table(cfg), "", vae=True)
    save(out, "vae", weights, dict(model.config),
         {"z": z, "image": image, "x": x, "mean": dist.mean, "logvar": dist.logvar})


def make_controlnet(out, seed):
    from diffusers import ControlNetModel, UNet2DConditionModel
    cfg = unet_cfg(False)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(**cfg)
    hint_channels = (4, 8, 8, 16)
    model = layouts.randomise(ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=hint_channels),
                              seed, perturb=0.05)
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(2, 4, 16, 12, generator=g)
    t = torch.tensor([999.0, 37.0])
    ctx = torch.randn(2, 5, 12, generator=g)
    hint = torch.rand(2, 3, 128, 96, generator=g)
    hint_embedding = model.controlnet_cond_embedding(hint)
    downs, mid = model(x, t, encoder_hidden_states=ctx, controlnet_cond=hint, return_dict=False)
    table = layouts.unet_table(cfg, controlnet=True, hint_blocks=2 * (len(hint_channels) - 1))
    weights = layouts.to_ldm(layouts.sd(model), table, "")
    io = {"x": x, "t": t, "context": ctx, "hint": hint, "hint_embedding": hint_embedding, "mid": mid}
    io.update({f"down.{i}": d for i, d in enumerate(downs)})
    save(out, "controlnet_sd1", weights, dict(model.config), io)


def unet_sdxl_cfg():
    return dict(sample_size=16, in_channels=4, out_channels=4, block_out_channels=(4, 8, 8),
                layers_per_block=1, norm_num_groups=2, cross_attention_dim=20,
                down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
                transformer_layers_per_block=(1, 1, 2), attention_head_dim=(2, 2, 2), use_linear_projection=True,
                addition_embed_type="text_time", addition_time_embed_dim=4,
                projection_class_embeddings_input_dim=10 + 6 * 4)


def make_unet_sdxl(out, seed):
    from diffusers import UNet2DConditionModel
    cfg = unet_sdxl_cfg()
    torch.manual_seed(seed)
    model = layouts.randomise(UNet2DConditionModel(**cfg), seed, perturb=0.05)
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(2, 4, 16, 12, generator=g)
    t = torch.tensor([999.0, 37.0])
    ctx = torch.randn(2, 5, 20, generator=g)
    text_embeds = torch.randn(2, 10, generator=g)
    time_ids = torch.tensor([[1024.0, 768.0, 0.0, 0.0, 1024.0, 768.0], [512.0, 640.0, 32.0, 8.0, 128.0, 96.0]])
    y = model(x, t, encoder_hidden_states=ctx,
              added_cond_kwargs={"text_embeds": text_embeds, "time_ids": time_ids}).sample
    # The added condition as diffusers builds it inside the UNet (add_time_proj, then concat).
    added = torch.cat([text_embeds, model.add_time_proj(time_ids.flatten()).reshape(2, -1)], dim=-1)
    weights = layouts.to_ldm(layouts.sd(model), layouts.unet_table(cfg), "")
    io = {"x": x, "t": t, "context": ctx, "text_embeds": text_embeds, "time_ids": time_ids, "added": added, "out": y}
    save(out, "unet_sdxl", weights, dict(model.config), io)


def make_controlnet_sdxl(out, name, depths, seed, diffusers_names=False):
    from diffusers import ControlNetModel
    cfg = dict(unet_sdxl_cfg(), transformer_layers_per_block=depths)
    for k in ("up_block_types", "sample_size", "out_channels"):
        cfg.pop(k)
    hint_channels = (2, 4, 4, 8)
    torch.manual_seed(seed)
    model = layouts.randomise(ControlNetModel(**cfg, conditioning_embedding_out_channels=hint_channels), seed,
                              perturb=0.05)
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(2, 4, 8, 6, generator=g)
    t = torch.tensor([999.0, 37.0])
    ctx = torch.randn(2, 5, 20, generator=g)
    hint = torch.rand(2, 3, 64, 48, generator=g)
    text_embeds = torch.randn(2, 10, generator=g)
    time_ids = torch.tensor([[1024.0, 768.0, 0.0, 0.0, 1024.0, 768.0], [512.0, 640.0, 32.0, 8.0, 128.0, 96.0]])
    downs, mid = model(x, t, encoder_hidden_states=ctx, controlnet_cond=hint, return_dict=False,
                       added_cond_kwargs={"text_embeds": text_embeds, "time_ids": time_ids})
    added = torch.cat([text_embeds, model.add_time_proj(time_ids.flatten()).reshape(2, -1)], dim=-1)
    table = layouts.unet_table(cfg, controlnet=True, hint_blocks=2 * (len(hint_channels) - 1))
    weights = layouts.sd(model) if diffusers_names else layouts.to_ldm(layouts.sd(model), table, "")
    io = {"x": x, "t": t, "context": ctx, "hint": hint, "text_embeds": text_embeds, "time_ids": time_ids,
          "added": added, "mid": mid}
    io.update({f"down.{i}": d for i, d in enumerate(downs)})
    save(out, name, weights, dict(model.config), io)


def make_controlnet_union(out, name, seed):
    from diffusers import ControlNetUnionModel
    cfg = dict(unet_sdxl_cfg())
    for k in ("up_block_types", "sample_size", "out_channels"):
        cfg.pop(k)
    c = cfg["block_out_channels"][0]
    torch.manual_seed(seed)
    model = ControlNetUnionModel(**cfg, conditioning_embedding_out_channels=(2, 4, 4, 8), num_control_type=8,
                                 num_trans_channel=c, num_trans_head=2, num_trans_layer=2, num_proj_channel=c)
    model = layouts.randomise(model, seed, perturb=0.05)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():  # task_embedding is √D·randn: bring it to the features' size
        model.task_embedding.mul_(0.5)
    b = 3
    x = torch.randn(b, 4, 8, 6, generator=g)
    t = torch.tensor([999.0, 500.0, 37.0])
    ctx = torch.randn(b, 5, 20, generator=g)
    hints = [torch.rand(1, 3, 64, 48, generator=g) for _ in range(2)]
    text_embeds = torch.randn(b, 10, generator=g)
    time_ids = torch.tensor([[1024.0, 768.0, 0.0, 0.0, 1024.0, 768.0], [512.0, 640.0, 32.0, 8.0, 128.0, 96.0],
                             [64.0, 48.0, 0.0, 0.0, 64.0, 48.0]])
    added_kw = {"text_embeds": text_embeds, "time_ids": time_ids}
    io = {"x": x, "t": t, "context": ctx, "hint0": hints[0], "hint1": hints[1], "text_embeds": text_embeds,
          "time_ids": time_ids}

    def call(modes, images, scales):
        onehot = torch.zeros(8).scatter_(0, torch.tensor(modes), 1).reshape(1, -1).repeat(b, 1)
        return model(x, t, encoder_hidden_states=ctx, controlnet_cond=[h.repeat(b, 1, 1, 1) for h in images],
                     control_type=onehot, control_type_idx=modes, conditioning_scale=scales,
                     added_cond_kwargs=added_kw, return_dict=False)

    for key, (modes, images, scales) in {"one": ([1], [hints[0]], [1.0]),
                                         "two": ([0, 3], hints, [0.6, 1.3])}.items():
        downs, mid = call(modes, images, scales)
        io[key + ".mid"] = mid
        io.update({f"{key}.down.{i}": d for i, d in enumerate(downs)})
    save(out, name, layouts.sd(model), {"_class_name": "ControlNetUnionModel", **dict(model.config)}, io)


def make_text_sdxl(out, seed):
    import tempfile
    from diffusers import StableDiffusionXLPipeline
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer
    from make_tokenizer_fixtures import write_tiny_folder
    tmp = tempfile.mkdtemp()
    write_tiny_folder(tmp)
    tok = CLIPTokenizer.from_pretrained(tmp)
    common = dict(vocab_size=len(tok), intermediate_size=24, num_hidden_layers=3, num_attention_heads=2,
                  max_position_embeddings=77, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                  pad_token_id=tok.pad_token_id)
    cfg1 = CLIPTextConfig(hidden_size=8, hidden_act="quick_gelu", projection_dim=8, **common)
    cfg2 = CLIPTextConfig(hidden_size=12, hidden_act="gelu", projection_dim=10, **common)
    torch.manual_seed(seed)
    te1 = layouts.randomise(CLIPTextModel(cfg1), seed, perturb=0.05)
    torch.manual_seed(seed + 1)
    te2 = layouts.randomise(CLIPTextModelWithProjection(cfg2), seed + 1, perturb=0.05)
    pipe = StableDiffusionXLPipeline(vae=None, text_encoder=te1, text_encoder_2=te2, tokenizer=tok,
                                     tokenizer_2=tok, unet=None, scheduler=None)
    prompts, negatives = ["a photo of a cat", "hello world"], ["dog", ""]
    pe, ne, pp, npool = pipe.encode_prompt(prompts, device="cpu", num_images_per_prompt=1,
                                           do_classifier_free_guidance=True, negative_prompt=negatives)
    ids = tok(prompts, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
    nids = tok(negatives, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
    hf1 = {k.removeprefix("text_model."): v for k, v in layouts.clip_to_ldm(layouts.sd(te1), "").items()}
    state2 = layouts.sd(te2)
    save_file({k: v.contiguous() for k, v in hf1.items()}, os.path.join(out, "te_sdxl_1.safetensors"))
    save_file({k: v.contiguous() for k, v in state2.items()}, os.path.join(out, "te_sdxl_2_hf.safetensors"))
    save(out, "te_sdxl", layouts.openclip_to_ldm(state2, ""), {"text_encoder": cfg1.to_dict(),
                                                               "text_encoder_2": cfg2.to_dict()},
         {"ids": ids, "negative_ids": nids, "context": pe, "negative_context": ne, "pooled": pp,
          "negative_pooled": npool})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data", "models"))
    ap.add_argument("--only", help="write this fixture alone (e.g. controlnet_union)")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    if a.only == "controlnet_union":
        make_controlnet_union(a.out, "controlnet_union", 801)
        return
    make_unet(a.out, "unet_sd1", False, 101)
    make_unet(a.out, "unet_sd2", True, 102)
    make_text(a.out, "te_sd1", "quick_gelu", False, 201)
    make_text(a.out, "te_sd2", "gelu", True, 202)
    make_vae(a.out, 301)
    make_controlnet(a.out, 401)
    make_unet_sdxl(a.out, 501)
    make_text_sdxl(a.out, 601)
    make_controlnet_sdxl(a.out, "controlnet_sdxl", (1, 1, 2), 701)
    make_controlnet_sdxl(a.out, "controlnet_sdxl_small", (0, 0, 0), 702, diffusers_names=True)
    make_controlnet_union(a.out, "controlnet_union", 801)


if __name__ == "__main__":
    main()
