#!/usr/bin/env python3
"""Write tiny, random Stable Diffusion / ControlNet / LoRA weight files in every layout gen reads.

The models use the real diffusers / transformers classes with tiny configs, a fixed seed and
fp32 weights (one fp16 copy), so their key names and shape relations are those of the real
checkpoints. The original (LDM / A1111 / kohya) single-file layouts are produced from the
diffusers weights with one rename table (`ldm_name_table`) built from the model configs.

    python tools/make_tiny_models.py --out build/models            # everything, small
    python tools/make_tiny_models.py --out DIR --verify             # + reload LDM files with diffusers
    python tools/make_tiny_models.py --fixtures [--out tests/data/layouts]   # the committed set, smaller

Everything is offline (HF_HUB_OFFLINE=1) and deterministic. `--verify` loads every LDM file back
with diffusers' own single-file loaders (configs from the local diffusers folders written here)
and checks that each weight equals the original.
"""
import argparse
import json
import os
import shutil
import struct
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import torch  # noqa: E402

SEED = 1234

# --------------------------------------------------------------------------------------------
# Sizes. "full" is what --out writes (still tiny); "fixture" is the committed copy. Full XL heads
# (1, 1): one 64-channel head at 64 channels, and XL text encoders 64 and 128 wide (1 and 2
# heads of 64): the rules for SDXL single files, so that tiny-sdxl.safetensors builds the same
# models as tiny-sdxl-pipeline.
SIZES = {
    "full": dict(ch=(32, 64), groups=32, heads=8, layers=2, hint=(16, 32, 32, 64),
                 te_width=32, te_layers=2, te_ff=37, vocab=1000, vae_ch=(32, 32, 64, 64), vae_layers=1,
                 xl_heads=(1, 1), xl_tlayers=(1, 2), xl_time=8, xl_te=(64, 128), lora_rank=4),
    "fixture": dict(ch=(4, 8), groups=2, heads=2, layers=1, hint=(2, 2, 4, 4),
                    te_width=4, te_layers=1, te_ff=8, vocab=16, vae_ch=(4, 4), vae_layers=1,
                    xl_heads=(2, 2), xl_tlayers=(1, 2), xl_time=4, xl_te=(4, 8), lora_rank=2),
    # "docs" (--size docs, the docs test): as "full", but three UNet levels with attention only
    # at the last (1/4 of the latent), so that the docs' 512-1024 px commands
    # take seconds on a CPU instead of minutes (full-resolution attention dominates otherwise).
    "docs": dict(ch=(32, 32, 64), groups=32, heads=8, layers=1, hint=(16, 32, 32, 64), attn_from=2,
                 te_width=32, te_layers=2, te_ff=37, vocab=1000, vae_ch=(32, 32, 64, 64), vae_layers=1,
                 xl_heads=(1, 1, 1), xl_tlayers=(1, 1, 2), xl_time=8, xl_te=(64, 128), lora_rank=4),
}


def block_types(s, first_attn):
    """Down and up block types: cross-attention from level `first_attn` on (the profile's
    attn_from overrides)."""
    n, a = len(s["ch"]), s.get("attn_from", first_attn)
    down = tuple("CrossAttnDownBlock2D" if i >= a else "DownBlock2D" for i in range(n))
    up = tuple("CrossAttnUpBlock2D" if i >= a else "UpBlock2D" for i in reversed(range(n)))
    return down, up


def unet_config(s, family):
    cfg = dict(sample_size=32, in_channels=4, out_channels=4, block_out_channels=s["ch"],
               layers_per_block=s["layers"], norm_num_groups=s["groups"])
    if family == "sdxl":
        down, up = block_types(s, 1)
        cfg.update(down_block_types=down, up_block_types=up,
                   transformer_layers_per_block=s["xl_tlayers"], attention_head_dim=s["xl_heads"],
                   cross_attention_dim=sum(s["xl_te"]), use_linear_projection=True,
                   addition_embed_type="text_time", addition_time_embed_dim=s["xl_time"],
                   projection_class_embeddings_input_dim=s["xl_te"][1] + 6 * s["xl_time"])
    else:
        down, up = block_types(s, 0)
        if "attn_from" not in s:  # SD's layout: attention in every level but the last
            down = tuple("DownBlock2D" if i == len(down) - 1 else "CrossAttnDownBlock2D" for i in range(len(down)))
            up = tuple(reversed(["UpBlock2D" if t == "DownBlock2D" else "CrossAttnUpBlock2D" for t in down]))
        cfg.update(down_block_types=down, up_block_types=up,
                   attention_head_dim=s["heads"], cross_attention_dim=s["te_width"],
                   use_linear_projection=(family == "sd2"))
    return cfg


def vae_config(s):
    n = len(s["vae_ch"])
    return dict(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=s["vae_ch"],
                down_block_types=("DownEncoderBlock2D",) * n, up_block_types=("UpDecoderBlock2D",) * n,
                layers_per_block=s["vae_layers"], norm_num_groups=s["groups"], sample_size=32)


def clip_config(s, act="quick_gelu", width=None, eos=None):
    # XL's two encoders must differ in width (as 768 / 1280 do): diffusers tells them apart by it.
    # eos 2: transformers' legacy value (pooled output at the largest id), as sd_xl_base_1.0's
    # text_encoder_2 config has it and OpenCLIP does.
    from transformers import CLIPTextConfig
    width = width or s["te_width"]
    return CLIPTextConfig(vocab_size=s["vocab"], hidden_size=width, intermediate_size=s["te_ff"],
                          num_hidden_layers=s["te_layers"], num_attention_heads=width // 64 if width % 64 == 0 else 2,
                          max_position_embeddings=77, projection_dim=width, hidden_act=act,
                          bos_token_id=s["vocab"] - 2, eos_token_id=eos or s["vocab"] - 1,
                          pad_token_id=s["vocab"] - 1)


# --------------------------------------------------------------------------------------------
# Deterministic weights: default init under a fixed seed, then every parameter that the default
# init leaves constant (zero convs, norm biases ...) gets small noise, so no weight is trivial.
def randomise(model, seed, perturb=0.0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in sorted(model.named_parameters()):
            noise = torch.randn(p.shape, generator=g, dtype=torch.float32)
            if p.numel() > 0 and (p.max() == p.min()):
                p.add_(0.02 * noise)
            elif perturb:
                p.add_(perturb * noise)
    return model.eval()


def make_models(s):
    from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection
    m = {}
    for i, fam in enumerate(("sd1", "sd2", "sdxl")):
        torch.manual_seed(SEED + i)
        m["unet_" + fam] = randomise(UNet2DConditionModel(**unet_config(s, fam)), SEED + i)
    torch.manual_seed(SEED + 10)
    m["vae"] = randomise(AutoencoderKL(**vae_config(s)), SEED + 10)
    # SDXL's VAE config: the same weights, scaling factor 0.13025 (sd_xl_base_1.0's).
    m["vae_sdxl"] = AutoencoderKL(**vae_config(s), scaling_factor=0.13025).eval()
    m["vae_sdxl"].load_state_dict(m["vae"].state_dict())
    torch.manual_seed(SEED + 20)
    m["te_sd1"] = randomise(CLIPTextModel(clip_config(s)), SEED + 20)
    torch.manual_seed(SEED + 21)
    m["te_sd2"] = randomise(CLIPTextModel(clip_config(s, "gelu")), SEED + 21)
    torch.manual_seed(SEED + 22)
    m["te1_sdxl"] = randomise(CLIPTextModel(clip_config(s, width=s["xl_te"][0])), SEED + 22)
    torch.manual_seed(SEED + 23)
    m["te2_sdxl"] = randomise(CLIPTextModelWithProjection(clip_config(s, "gelu", s["xl_te"][1], eos=2)), SEED + 23)
    torch.manual_seed(SEED + 30)
    cn = ControlNetModel.from_unet(m["unet_sd1"], conditioning_embedding_out_channels=s["hint"])
    # A trained ControlNet differs from the UNet it was copied from: perturb every weight.
    m["controlnet"] = randomise(cn, SEED + 30, perturb=0.01)
    # The SDXL refiner's UNet: the base's layout with the bigG context and 5 time ids.
    torch.manual_seed(SEED + 3)
    refiner = dict(unet_config(s, "sdxl"), cross_attention_dim=s["xl_te"][1],
                   projection_class_embeddings_input_dim=s["xl_te"][1] + 5 * s["xl_time"])
    m["unet_sdxl_refiner"] = randomise(UNet2DConditionModel(**refiner), SEED + 3)
    return m


def sd(model):
    """State dict, contiguous fp32 copies, text encoders without the `text_model.` wrapper."""
    out = {}
    for k, v in model.state_dict().items():
        out[k.removeprefix("text_model.")] = v.detach().clone().contiguous()
    return out


# --------------------------------------------------------------------------------------------
# The rename table: diffusers module prefix -> original (LDM / CompVis) module prefix, built from
# the config (block counts decide the flat LDM indices). Leaf renames apply inside resnets and
# VAE attentions. `ldm_name(table, key)` uses the longest matching module prefix.
UNET_RESNET_LEAVES = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1",
                      "norm2": "out_layers.0", "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}
VAE_RESNET_LEAVES = {"conv_shortcut": "nin_shortcut"}
VAE_ATTN_LEAVES = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def unet_table(cfg, controlnet=False, hint_blocks=0):
    L = cfg["layers_per_block"]
    downs = cfg["down_block_types"]
    t = {"time_embedding.linear_1": ("time_embed.0", None), "time_embedding.linear_2": ("time_embed.2", None),
         "conv_in": ("input_blocks.0.0", None),
         "add_embedding.linear_1": ("label_emb.0.0", None), "add_embedding.linear_2": ("label_emb.0.2", None),
         "mid_block.resnets.0": ("middle_block.0", UNET_RESNET_LEAVES),
         "mid_block.attentions.0": ("middle_block.1", None),
         "mid_block.resnets.1": ("middle_block.2", UNET_RESNET_LEAVES)}
    for b in range(len(downs)):
        for r in range(L):
            n = 1 + b * (L + 1) + r
            t[f"down_blocks.{b}.resnets.{r}"] = (f"input_blocks.{n}.0", UNET_RESNET_LEAVES)
            t[f"down_blocks.{b}.attentions.{r}"] = (f"input_blocks.{n}.1", None)
        if b < len(downs) - 1:
            t[f"down_blocks.{b}.downsamplers.0.conv"] = (f"input_blocks.{(b + 1) * (L + 1)}.0.op", None)
    if controlnet:
        t["controlnet_cond_embedding.conv_in"] = ("input_hint_block.0", None)
        for k in range(hint_blocks):
            t[f"controlnet_cond_embedding.blocks.{k}"] = (f"input_hint_block.{2 * k + 2}", None)
        t["controlnet_cond_embedding.conv_out"] = (f"input_hint_block.{2 * hint_blocks + 2}", None)
        for i in range(1 + len(downs) * (L + 1) - 1):
            t[f"controlnet_down_blocks.{i}"] = (f"zero_convs.{i}.0", None)
        t["controlnet_mid_block"] = ("middle_block_out.0", None)
        return t
    t["conv_norm_out"] = ("out.0", None)
    t["conv_out"] = ("out.2", None)
    ups = cfg["up_block_types"]
    for b, kind in enumerate(ups):
        for r in range(L + 1):
            n = b * (L + 1) + r
            t[f"up_blocks.{b}.resnets.{r}"] = (f"output_blocks.{n}.0", UNET_RESNET_LEAVES)
            t[f"up_blocks.{b}.attentions.{r}"] = (f"output_blocks.{n}.1", None)
        if b < len(ups) - 1:
            slot = 2 if kind.startswith("CrossAttn") else 1
            t[f"up_blocks.{b}.upsamplers.0.conv"] = (f"output_blocks.{b * (L + 1) + L}.{slot}.conv", None)
    return t


def vae_table(cfg):
    n = len(cfg["block_out_channels"])
    t = {"encoder.conv_norm_out": ("encoder.norm_out", None), "decoder.conv_norm_out": ("decoder.norm_out", None)}
    for part in ("encoder", "decoder"):
        t[f"{part}.mid_block.resnets.0"] = (f"{part}.mid.block_1", VAE_RESNET_LEAVES)
        t[f"{part}.mid_block.resnets.1"] = (f"{part}.mid.block_2", VAE_RESNET_LEAVES)
        t[f"{part}.mid_block.attentions.0"] = (f"{part}.mid.attn_1", VAE_ATTN_LEAVES)
    for i in range(n):
        for j in range(cfg["layers_per_block"] + 1):
            t[f"encoder.down_blocks.{i}.resnets.{j}"] = (f"encoder.down.{i}.block.{j}", VAE_RESNET_LEAVES)
            # The decoder counts its levels the other way round.
            t[f"decoder.up_blocks.{i}.resnets.{j}"] = (f"decoder.up.{n - 1 - i}.block.{j}", VAE_RESNET_LEAVES)
        t[f"encoder.down_blocks.{i}.downsamplers.0.conv"] = (f"encoder.down.{i}.downsample.conv", None)
        t[f"decoder.up_blocks.{i}.upsamplers.0.conv"] = (f"decoder.up.{n - 1 - i}.upsample.conv", None)
    return t


def ldm_name(table, key):
    parts = key.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        prefix = ".".join(parts[:cut])
        if prefix in table:
            new_prefix, leaves = table[prefix]
            rest = ".".join(parts[cut:])
            for old, new in (leaves or {}).items():
                if rest == old or rest.startswith(old + "."):
                    rest = new + rest[len(old):]
                    break
            return new_prefix + "." + rest
    return key  # names the two layouts share (quant_conv, encoder.conv_in, ...)


def to_ldm(state, table, prefix, vae=False):
    out = {}
    for k, v in state.items():
        name = ldm_name(table, k)
        if vae and ".mid.attn_1." in name and v.ndim == 2:
            v = v[:, :, None, None].contiguous()  # LDM VAE attention projections are 1x1 convs
        out[prefix + name] = v
    return out


def clip_to_ldm(state, prefix):
    """HF CLIP names, as the SD 1.x / XL-first-encoder single files store them."""
    return {prefix + "text_model." + k: v for k, v in state.items() if k != "text_projection.weight"}


OPENCLIP_LEAVES = [("embeddings.token_embedding.weight", "token_embedding.weight"),
                   ("embeddings.position_embedding.weight", "positional_embedding"),
                   ("final_layer_norm.", "ln_final."), ("encoder.layers.", "transformer.resblocks."),
                   (".self_attn.out_proj.", ".attn.out_proj."), (".layer_norm1.", ".ln_1."),
                   (".layer_norm2.", ".ln_2."), (".mlp.fc1.", ".mlp.c_fc."), (".mlp.fc2.", ".mlp.c_proj.")]


def openclip_to_ldm(state, prefix, projection=None):
    """OpenCLIP names (SD 2.x `cond_stage_model.model.`, XL `conditioner.embedders.1.model.`):
    q/k/v fused into in_proj, the projection stored transposed."""
    out = {}
    for k, v in state.items():
        if k == "text_projection.weight":
            out[prefix + "text_projection"] = v.t().contiguous()
            continue
        if ".self_attn.q_proj." in k:
            kind = k.rsplit(".", 1)[1]
            fused = torch.cat([state[k], state[k.replace("q_proj", "k_proj")], state[k.replace("q_proj", "v_proj")]])
            k = k.replace(".self_attn.q_proj." + kind, ".attn.in_proj_" + kind)
            v = fused
        elif ".self_attn.k_proj." in k or ".self_attn.v_proj." in k:
            continue
        for old, new in OPENCLIP_LEAVES:
            k = k.replace(old, new)
        out[prefix + k] = v
    if projection is not None and prefix + "text_projection" not in out:
        out[prefix + "text_projection"] = projection
    return out


# --------------------------------------------------------------------------------------------
def lora_targets(model, unet):
    names = []
    for name, mod in model.named_modules():
        leaf = name.rsplit(".", 1)[-1]
        if unet:
            ok = ".attentions." in name and (leaf in ("to_q", "to_k", "to_v", "proj_in", "proj_out")
                                             or name.endswith("to_out.0") or name.endswith("ff.net.2"))
        else:
            ok = ".layers." in name and leaf in ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2")
        if ok and isinstance(mod, (torch.nn.Linear, torch.nn.Conv2d)):
            names.append((name.removeprefix("text_model."), mod))
    return names


def lora_pair(mod, rank, g):
    if isinstance(mod, torch.nn.Conv2d):
        down = torch.randn(rank, mod.in_channels, 1, 1, generator=g) * 0.1
        up = torch.randn(mod.out_channels, rank, 1, 1, generator=g) * 0.1
    else:
        down = torch.randn(rank, mod.in_features, generator=g) * 0.1
        up = torch.randn(mod.out_features, rank, generator=g) * 0.1
    return down, up


def make_loras(m, s):
    g = torch.Generator().manual_seed(SEED + 40)
    r = s["lora_rank"]
    kohya, peft = {}, {}
    for name, mod in lora_targets(m["unet_sd1"], True):
        down, up = lora_pair(mod, r, g)
        base = "lora_unet_" + name.replace(".", "_")
        kohya[base + ".lora_down.weight"], kohya[base + ".lora_up.weight"] = down, up
        kohya[base + ".alpha"] = torch.tensor(float(r))
        peft["unet." + name + ".lora_A.weight"], peft["unet." + name + ".lora_B.weight"] = down.clone(), up.clone()
    for name, mod in lora_targets(m["te_sd1"], False):
        down, up = lora_pair(mod, r, g)
        base = "lora_te_text_model_" + name.replace(".", "_")
        kohya[base + ".lora_down.weight"], kohya[base + ".lora_up.weight"] = down, up
        kohya[base + ".alpha"] = torch.tensor(float(r))
        peft["text_encoder.text_model." + name + ".lora_A.weight"] = down.clone()
        peft["text_encoder.text_model." + name + ".lora_B.weight"] = up.clone()
    meta = {"ss_network_module": "networks.lora", "ss_network_dim": str(r), "ss_network_alpha": str(r),
            "ss_base_model_version": "sd_v1", "ss_output_name": "tiny-lora"}
    return kohya, peft, meta


# --------------------------------------------------------------------------------------------
def write_component(model, folder, **kw):
    model.save_pretrained(folder, safe_serialization=True, **kw)


def write_pipeline(folder, cls_name, comps, scheduler, index_extra=None):
    os.makedirs(folder, exist_ok=True)
    import diffusers
    index = {"_class_name": cls_name, "_diffusers_version": diffusers.__version__}
    for name, model in comps.items():
        lib = "transformers" if name.startswith("text_encoder") else "diffusers"
        index[name] = [lib, type(model).__name__]
        write_component(model, os.path.join(folder, name))
    tokenizers = ("tokenizer",) if "text_encoder_2" not in comps else \
        ("tokenizer", "tokenizer_2") if "text_encoder" in comps else ("tokenizer_2",)  # an SDXL refiner: the second
    for name in tokenizers:
        # A small synthetic byte-level BPE vocabulary (ids < the tiny text encoders' 1000),
        # so the folder works without the real CLIP vocabulary.
        from make_tokenizer_fixtures import write_tiny_folder
        write_tiny_folder(os.path.join(folder, name))
        index[name] = ["transformers", "CLIPTokenizer"]
    if cls_name == "StableDiffusionPipeline":
        index.update(safety_checker=[None, None], feature_extractor=[None, None], requires_safety_checker=False)
    index.update(index_extra or {})
    index["scheduler"] = ["diffusers", type(scheduler).__name__]
    scheduler.save_config(os.path.join(folder, "scheduler"))
    with open(os.path.join(folder, "model_index.json"), "w") as f:
        json.dump(dict(sorted(index.items())), f, indent=2)
        f.write("\n")


ST_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.int64: "I64", torch.int32: "I32"}


def save(path, tensors, metadata=None):
    """A .safetensors file with a byte-for-byte stable header (the reference writer orders
    `__metadata__` from a hash map): keys sorted, tensors in name order, header padded to 8."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = dict(sorted(metadata.items()))
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous()
        blob = t.numpy().tobytes()
        header[name] = {"dtype": ST_DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def build(out, s, fixtures):
    from diffusers import DDIMScheduler, EulerDiscreteScheduler
    os.makedirs(out, exist_ok=True)
    m = make_models(s)
    cfg = {f: dict(m["unet_" + f].config) for f in ("sd1", "sd2", "sdxl")}
    hint_blocks = 2 * (len(s["hint"]) - 1)
    ut = {f: unet_table(cfg[f]) for f in cfg}
    ct = unet_table(dict(m["controlnet"].config), controlnet=True, hint_blocks=hint_blocks)
    vt = vae_table(dict(m["vae"].config))
    unet = {f: to_ldm(sd(m["unet_" + f]), ut[f], "model.diffusion_model.") for f in cfg}
    vae_plain = to_ldm(sd(m["vae"]), vt, "", vae=True)
    vae = {"first_stage_model." + k: v for k, v in vae_plain.items()}
    te1 = clip_to_ldm(sd(m["te_sd1"]), "cond_stage_model.transformer.")
    te1["cond_stage_model.transformer.text_model.embeddings.position_ids"] = torch.arange(77)[None]
    w = s["te_width"]
    g = torch.Generator().manual_seed(SEED + 50)
    te2 = openclip_to_ldm(sd(m["te_sd2"]), "cond_stage_model.model.", projection=torch.randn(w, w, generator=g) * 0.1)
    xl_te = clip_to_ldm(sd(m["te1_sdxl"]), "conditioner.embedders.0.transformer.")
    xl_te.update(openclip_to_ldm(sd(m["te2_sdxl"]), "conditioner.embedders.1.model."))
    control = to_ldm(sd(m["controlnet"]), ct, "control_model.")
    files = {}

    # Diffusers layouts.
    dd = os.path.join(out, "diffusers")
    shutil.rmtree(dd, ignore_errors=True)
    write_pipeline(os.path.join(dd, "tiny-sd15-pipeline"), "StableDiffusionPipeline",
                   {"unet": m["unet_sd1"], "vae": m["vae"], "text_encoder": m["te_sd1"]}, DDIMScheduler())
    write_component(m["controlnet"], os.path.join(dd, "tiny-controlnet"))
    write_component(m["vae"] if fixtures else m["unet_sd1"], os.path.join(dd, "tiny-sharded"),
                    max_shard_size="4KB" if fixtures else "1MB")
    if not fixtures:
        write_pipeline(os.path.join(dd, "tiny-sd21-pipeline"), "StableDiffusionPipeline",
                       {"unet": m["unet_sd2"], "vae": m["vae"], "text_encoder": m["te_sd2"]},
                       DDIMScheduler(prediction_type="v_prediction"))
        write_pipeline(os.path.join(dd, "tiny-sdxl-pipeline"), "StableDiffusionXLPipeline",
                       {"unet": m["unet_sdxl"], "vae": m["vae_sdxl"], "text_encoder": m["te1_sdxl"],
                        "text_encoder_2": m["te2_sdxl"]}, EulerDiscreteScheduler())
        # An SDXL refiner (StableDiffusionXLImg2ImgPipeline as stable-diffusion-xl-refiner-1.0 is
        # laid out): the bigG encoder only (the base's), its own UNet taking the bigG context and
        # the pooled text + 5 time ids (size, crop, aesthetic score); the base's VAE.
        write_pipeline(os.path.join(dd, "tiny-sdxl-refiner-pipeline"), "StableDiffusionXLImg2ImgPipeline",
                       {"unet": m["unet_sdxl_refiner"], "vae": m["vae_sdxl"], "text_encoder_2": m["te2_sdxl"]},
                       EulerDiscreteScheduler(),
                       {"text_encoder": [None, None], "tokenizer": [None, None], "requires_aesthetics_score": True,
                        "force_zeros_for_empty_prompt": False})

    # Original single-file layouts.
    files["tiny-sd15.safetensors"] = {**unet["sd1"], **vae, **te1}
    files["tiny-sd21.safetensors"] = {**unet["sd2"], **vae, **te2}
    files["tiny-sdxl.safetensors"] = {**unet["sdxl"], **vae, **xl_te}
    if not fixtures:  # the refiner as sgm stores it: bigG as embedders.0
        refiner_cfg = dict(m["unet_sdxl_refiner"].config)
        files["tiny-sdxl-refiner.safetensors"] = {
            **to_ldm(sd(m["unet_sdxl_refiner"]), unet_table(refiner_cfg), "model.diffusion_model."), **vae,
            **openclip_to_ldm(sd(m["te2_sdxl"]), "conditioner.embedders.0.model.")}
    files["tiny-unet.safetensors"] = unet["sd1"]
    files["tiny-vae.safetensors"] = vae_plain
    files["tiny-text-encoder.safetensors"] = te1
    files["tiny-control-sd15-full.safetensors"] = {**control, **unet["sd1"], **vae, **te1}
    files["tiny-control-v11.safetensors"] = control
    files["tiny-control-v11-stripped-fp16.safetensors"] = {
        k.removeprefix("control_model."): v.half() for k, v in control.items()}
    diff = {"difference": torch.tensor(1.0)}
    for k, v in control.items():
        base = "model.diffusion_model." + k.removeprefix("control_model.")
        diff[k] = v - unet["sd1"][base] if base in unet["sd1"] else v
    files["tiny-control-difference.safetensors"] = diff
    if not fixtures:
        ema = dict(files["tiny-sd15.safetensors"])
        for k, v in unet["sd1"].items():  # LDM's EMA copy: dots removed after `model.`
            ema["model_ema." + "".join(k.split(".")[1:])] = v.clone()
        ema["model_ema.decay"] = torch.tensor(0.9999)
        ema["model_ema.num_updates"] = torch.tensor(1000, dtype=torch.int32)
        files["tiny-sd15-ema.safetensors"] = ema
    if not fixtures:
        write_ldm_configs(os.path.join(out, "configs"), s, cfg)
    kohya, peft, lora_meta = make_loras(m, s)
    for name, tensors in files.items():
        save(os.path.join(out, name), tensors)
    save(os.path.join(out, "tiny-lora-kohya.safetensors"), kohya, lora_meta)
    save(os.path.join(out, "tiny-lora-peft.safetensors"), peft)
    # Pickled copies (torch.save, Lightning-style "state_dict" wrapper), for the pickle reader.
    if fixtures:
        torch.save({"state_dict": files["tiny-vae.safetensors"], "global_step": 1}, os.path.join(out, "tiny-vae.ckpt"))
    else:
        torch.save({"state_dict": files["tiny-sd15.safetensors"]}, os.path.join(out, "tiny-sd15.ckpt"))
    return m, files, kohya


# --------------------------------------------------------------------------------------------
# LDM model configs (.yaml) for the single files, laid out as v1-inference.yaml and
# v2-inference-v.yaml are, with the tiny numbers; `gen:` holds the text encoder's head count,
# which no LDM key stores (A1111 takes it from the CLIP model's name).
LDM_CONFIG = """\
model:
  base_learning_rate: 1.0e-04
  target: ldm.models.diffusion.ddpm.LatentDiffusion
  params:
{parameterization}    linear_start: 0.00085
    linear_end: 0.0120
    num_timesteps_cond: 1
    log_every_t: 200
    timesteps: 1000
    first_stage_key: "jpg"
    cond_stage_key: "txt"
    image_size: 32
    channels: 4
    cond_stage_trainable: false
    conditioning_key: crossattn
    monitor: val/loss_simple_ema
    scale_factor: 0.18215
    use_ema: False # we set this to false because this is an inference only config

    scheduler_config: # 10000 warmup steps
      target: ldm.lr_scheduler.LambdaLinearScheduler
      params:
        warm_up_steps: [ 10000 ]
        cycle_lengths: [ 10000000000000 ]
        f_start: [ 1.e-6 ]
        f_max: [ 1. ]
        f_min: [ 1. ]

    unet_config:
      target: ldm.modules.diffusionmodules.openaimodel.UNetModel
      params:
        image_size: 32 # unused
        in_channels: 4
        out_channels: 4
        model_channels: {model_channels}
        attention_resolutions: [ {attention} ]
        num_res_blocks: {res_blocks}
        channel_mult: [ {channel_mult} ]
        num_heads: {heads}
        use_spatial_transformer: True
        use_linear_in_transformer: {linear}
        transformer_depth: 1
        context_dim: {context}
        use_checkpoint: True
        legacy: False

    first_stage_config:
      target: ldm.models.autoencoder.AutoencoderKL
      params:
        embed_dim: 4
        monitor: val/rec_loss
        ddconfig:
          double_z: true
          z_channels: 4
          resolution: 256
          in_channels: 3
          out_ch: 3
          ch: {vae_ch}
          ch_mult:
{vae_mult}          num_res_blocks: {vae_layers}
          attn_resolutions: []
          dropout: 0.0
        lossconfig:
          target: torch.nn.Identity

    cond_stage_config:
      target: {cond_target}
{cond_params}
gen:
  text_heads: 2
"""


def write_ldm_configs(folder, s, cfg):
    os.makedirs(folder, exist_ok=True)
    ch = s["ch"]
    for name, family, v in (("tiny-v1-inference.yaml", "sd1", False), ("tiny-v2-inference-v.yaml", "sd2", True),
                            ("tiny-v2-inference.yaml", "sd2", False)):
        sd2 = family == "sd2"
        text = LDM_CONFIG.format(
            parameterization='    parameterization: "v"\n' if v else "",
            model_channels=ch[0], res_blocks=s["layers"], channel_mult=", ".join(str(c // ch[0]) for c in ch),
            heads=cfg[family]["attention_head_dim"],
            attention=", ".join(str(1 << i) for i, t in enumerate(cfg[family]["down_block_types"]) if t.startswith("CrossAttn")),
            linear="True" if sd2 else "False", context=s["te_width"],
            vae_ch=s["vae_ch"][0], vae_mult="".join(f"          - {c // s['vae_ch'][0]}\n" for c in s["vae_ch"]),
            vae_layers=s["vae_layers"],
            cond_target=("ldm.modules.encoders.modules.FrozenOpenCLIPEmbedder" if sd2
                         else "ldm.modules.encoders.modules.FrozenCLIPEmbedder"),
            cond_params=('      params:\n        freeze: True\n        layer: "penultimate"' if sd2 else ""))
        with open(os.path.join(folder, name), "w") as f:
            f.write(text)


# --------------------------------------------------------------------------------------------
def compare(label, model, reference, atol=0.0):
    got, want = sd(model), sd(reference)
    problems = []
    if set(got) != set(want):
        problems.append(f"key sets differ: {sorted(set(got) ^ set(want))[:5]}")
    for k in sorted(set(got) & set(want)):
        a, b = got[k].float(), want[k].float()
        if a.shape != b.shape or (a - b).abs().max().item() > atol:
            problems.append(f"{k} differs")
    print(f"verify {label}: {'ok' if not problems else 'FAILED ' + '; '.join(problems[:5])}")
    return not problems


def verify(out, m, kohya):
    from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel
    from diffusers.loaders.single_file_utils import create_diffusers_clip_model_from_ldm
    from diffusers.loaders.lora_conversion_utils import _convert_non_diffusers_lora_to_diffusers
    from safetensors.torch import load_file
    from transformers import CLIPTextModel, CLIPTextModelWithProjection
    dd = os.path.join(out, "diffusers")
    p15, p21, pxl = (os.path.join(dd, n) for n in ("tiny-sd15-pipeline", "tiny-sd21-pipeline", "tiny-sdxl-pipeline"))
    ok = True
    kw = dict(local_files_only=True)
    f = lambda n: os.path.join(out, n)  # noqa: E731
    for name, pipe, fam in (("tiny-sd15", p15, "sd1"), ("tiny-sd21", p21, "sd2"), ("tiny-sdxl", pxl, "sdxl")):
        u = UNet2DConditionModel.from_single_file(f(name + ".safetensors"), config=pipe, subfolder="unet", **kw)
        ok &= compare(name + " unet", u, m["unet_" + fam])
        v = AutoencoderKL.from_single_file(f(name + ".safetensors"), config=pipe, subfolder="vae", **kw)
        ok &= compare(name + " vae", v, m["vae"])
    u = UNet2DConditionModel.from_single_file(f("tiny-unet.safetensors"), config=p15, subfolder="unet", **kw)
    ok &= compare("tiny-unet", u, m["unet_sd1"])
    v = AutoencoderKL.from_single_file(f("tiny-vae.safetensors"), config=p15, subfolder="vae", **kw)
    ok &= compare("tiny-vae", v, m["vae"])
    cfg = os.path.join(dd, "tiny-controlnet")
    for name, atol in (("tiny-control-sd15-full", 0), ("tiny-control-v11", 0),
                       ("tiny-control-v11-stripped-fp16", 1e-3)):
        c = ControlNetModel.from_single_file(f(name + ".safetensors"), config=cfg, **kw)
        ok &= compare(name, c, m["controlnet"], atol)
    # A "difference" file needs the base UNet added first (the A1111 rule); then diffusers loads it.
    diff = load_file(f("tiny-control-difference.safetensors"))
    base = load_file(f("tiny-sd15.safetensors"))
    rebuilt = {}
    for k, v in diff.items():
        if k == "difference":
            continue
        b = "model.diffusion_model." + k.removeprefix("control_model.")
        rebuilt[k] = v + base[b] if b in base else v
    c = ControlNetModel.from_single_file(rebuilt, config=cfg, **kw)
    ok &= compare("tiny-control-difference (+ base UNet)", c, m["controlnet"], 1e-6)
    for name, pipe, sub, cls, ref in (("tiny-sd15", p15, "text_encoder", CLIPTextModel, "te_sd1"),
                                      ("tiny-text-encoder", p15, "text_encoder", CLIPTextModel, "te_sd1"),
                                      ("tiny-sd21", p21, "text_encoder", CLIPTextModel, "te_sd2"),
                                      ("tiny-sdxl", pxl, "text_encoder", CLIPTextModel, "te1_sdxl"),
                                      ("tiny-sdxl", pxl, "text_encoder_2", CLIPTextModelWithProjection, "te2_sdxl")):
        ckpt = load_file(f(name + ".safetensors"))
        t = create_diffusers_clip_model_from_ldm(cls, ckpt, config=pipe, subfolder=sub, **kw)
        ok &= compare(f"{name} {sub}", t, m[ref])
    # kohya LoRA names must map onto real module names of the UNet / text encoder.
    conv, _ = _convert_non_diffusers_lora_to_diffusers(dict(kohya))
    modules = {"unet." + n for n, _ in m["unet_sd1"].named_modules()}
    modules |= {"text_encoder." + n for n, _ in m["te_sd1"].named_modules()}
    modules |= {"text_encoder.text_model." + n for n, _ in m["te_sd1"].named_modules()}
    def module_of(key):  # diffusers writes the old attention-processor LoRA names
        mod = key.rsplit(".", 2)[0].replace(".processor.", ".")
        for suffix in (".lora", ".lora_linear_layer"):
            mod = mod.removesuffix(suffix)
        if mod.endswith("_lora"):
            leaf = mod.rsplit(".", 1)[1].removesuffix("_lora")
            te = mod.startswith("text_encoder")
            leaf = {"to_out": "out_proj" if te else "to_out.0"}.get(leaf, leaf[3:] + "_proj" if te else leaf)
            mod = mod.rsplit(".", 1)[0] + "." + leaf
        return mod
    bad = [k for k in conv if module_of(k) not in modules]
    print(f"verify tiny-lora-kohya names: {'ok' if not bad else 'FAILED ' + str(bad[:3])} ({len(conv)} tensors)")
    ok &= not bad
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", help="output folder (default build/models, or tests/data/layouts with --fixtures)")
    ap.add_argument("--fixtures", action="store_true", help="write the smaller committed fixture set")
    ap.add_argument("--size", choices=("full", "docs"), default="full",
                    help="docs: cheaper at large image sizes (the docs test's models)")
    ap.add_argument("--verify", action="store_true", help="reload the LDM files with diffusers and compare")
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = args.out or os.path.join(root, "tests/data/layouts" if args.fixtures else "build/models")
    torch.set_num_threads(1)
    m, files, kohya = build(out, SIZES["fixture" if args.fixtures else args.size], args.fixtures)
    print(f"wrote {out}")
    if args.verify:
        if args.fixtures:
            print("--verify runs on the full set only (it needs the SD 2 / XL pipeline configs)")
            return 2
        return 0 if verify(out, m, kohya) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
