#!/usr/bin/env python3
"""Reference images from diffusers for the SDXL LoRA and textual-inversion parity test
(tests/cli/test_sdxl_lora_parity.sh).

From the tiny SDXL diffusers folder that make_tiny_models.py writes, it makes LoRAs with PEFT
(random A and B on the UNet — attention, feed-forward, projections, ResNet convolutions — and
on both text encoders), saves them as diffusers does (StableDiffusionXLPipeline.save_lora_weights:
`unet.`, `text_encoder.`, `text_encoder_2.`, with their lora_alpha metadata), converted to the
kohya layout by diffusers' own convert_state_dict_to_kohya (`lora_unet_`, `lora_te1_`,
`lora_te2_`), and with the UNet's modules under the sgm (LDM) names sd-scripts writes for SDXL
(`lora_unet_input_blocks_4_1_...`, renamed by make_tiny_models.py's table, which the SDXL
single-file parity checks; diffusers renders the same weights from the kohya file). Textual-inversion embeddings in the SDXL
layout ({'clip_l': [n, C1], 'clip_g': [n, C2]}) are loaded by diffusers into each text encoder
(load_textual_inversion twice, as diffusers documents for SDXL; the pooled text taken at the end
token, as A1111 takes it — see below). Each case is rendered by
diffusers (load_lora_weights, set_adapters per component, fuse_lora) and its gen arguments are
written into OUT/cases.json (the format of diffusers_cli_reference.py, compared by
tests/cli/parity.sh). A plain SD 1.x kohya LoRA is written too (OUT/loras/sd15-kohya.safetensors)
for the refusal test.

    python tools/diffusers_sdxl_lora_reference.py --models DIR --out OUT
"""
import argparse
import hashlib
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_tiny_models import ldm_name, unet_table  # noqa: E402

UNET_TARGETS = ["to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out", "ff.net.0.proj", "ff.net.2", "conv1",
                "conv2", "time_emb_proj", "conv_shortcut"]
TE_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"]
PROMPT, NEGATIVE = "a red house by the sea", "fog"
TI_PROMPT, TI_NEGATIVE = "a photo of ticat with tidog on a table", "blurry tidog"
W, H, STEPS, CFG = 80, 64, 4, 7.5


def save_safetensors(path, tensors, metadata=None):
    from safetensors.torch import save_file
    save_file({k: v.contiguous() for k, v in tensors.items()}, path, metadata=metadata)


def make_lora(pipe, rank, alpha, seed, out, name):
    """A PEFT LoRA with random A and B on the UNet and both text encoders, in the PEFT, kohya
    and kohya-with-sgm-names layouts."""
    from diffusers import StableDiffusionXLPipeline
    from diffusers.utils import convert_state_dict_to_kohya
    from peft import LoraConfig, get_peft_model_state_dict
    torch.manual_seed(seed)
    unet_cfg = LoraConfig(r=rank, lora_alpha=alpha, init_lora_weights=False, target_modules=UNET_TARGETS)
    te_cfg = LoraConfig(r=rank, lora_alpha=alpha, init_lora_weights=False, target_modules=TE_TARGETS)
    pipe.unet.add_adapter(unet_cfg, adapter_name=name)
    pipe.text_encoder.add_adapter(te_cfg, adapter_name=name)
    pipe.text_encoder_2.add_adapter(te_cfg, adapter_name=name)
    g = torch.Generator().manual_seed(seed)
    models = (pipe.unet, pipe.text_encoder, pipe.text_encoder_2)
    for model in models:  # B small enough that the picture changes, not explodes
        for n, p in model.named_parameters():
            if f"lora_B.{name}" in n:
                p.data = torch.randn(p.shape, generator=g) * 0.05
    unet_sd, te_sd, te2_sd = (get_peft_model_state_dict(m, adapter_name=name) for m in models)
    StableDiffusionXLPipeline.save_lora_weights(out, unet_lora_layers=unet_sd, text_encoder_lora_layers=te_sd,
                                                text_encoder_2_lora_layers=te2_sd,
                                                weight_name=f"{name}-peft.safetensors",
                                                unet_lora_adapter_metadata=unet_cfg.to_dict(),
                                                text_encoder_lora_adapter_metadata=te_cfg.to_dict(),
                                                text_encoder_2_lora_adapter_metadata=te_cfg.to_dict())
    both = {**{"unet." + k: v for k, v in unet_sd.items()}, **{"text_encoder." + k: v for k, v in te_sd.items()},
            **{"text_encoder_2." + k: v for k, v in te2_sd.items()}}
    kohya = convert_state_dict_to_kohya(both)
    meta = {"ss_base_model_version": "sdxl_base_v1-0", "ss_network_dim": str(rank)}
    save_safetensors(os.path.join(out, f"{name}-kohya.safetensors"), kohya, meta)
    # sd-scripts' SDXL names: the kohya file with the UNet's modules under their sgm names
    # (diffusers' own sgm mapping, _maybe_map_sgm_blocks_to_diffusers, misplaces the blocks of
    # the tiny UNet, so diffusers renders the kohya file for these cases: the same weights).
    table = unet_table(dict(pipe.unet.config))
    rename = {}
    for k in unet_sd:
        module = k.split(".lora_")[0]
        rename["lora_unet_" + module.replace(".", "_")] = \
            "lora_unet_" + ldm_name(table, module + ".weight")[: -len(".weight")].replace(".", "_")
    sgm = {}
    for k, v in kohya.items():
        module, role = k.split(".", 1)
        sgm[rename.get(module, module) + "." + role] = v
    save_safetensors(os.path.join(out, f"{name}-sgm.safetensors"), sgm, meta)


def make_sd15_lora(models, out):
    """A kohya LoRA for the tiny SD 1.x (its metadata says so), for the refusal on SDXL."""
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_kohya
    from peft import LoraConfig, get_peft_model_state_dict
    pipe = StableDiffusionPipeline.from_pretrained(os.path.join(models, "diffusers", "tiny-sd15-pipeline"),
                                                   safety_checker=None, requires_safety_checker=False)
    cfg = LoraConfig(r=2, lora_alpha=2, init_lora_weights=False, target_modules=["to_q", "to_k"])
    pipe.unet.add_adapter(cfg, adapter_name="x")
    sd = {"unet." + k: v for k, v in get_peft_model_state_dict(pipe.unet, adapter_name="x").items()}
    save_safetensors(os.path.join(out, "sd15-kohya.safetensors"), convert_state_dict_to_kohya(sd),
                     {"ss_base_model_version": "sd_v1"})


def short_hash(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:12]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    from diffusers import StableDiffusionXLPipeline
    from diffusers_sdxl_reference import save_tiny_sdxl
    torch.set_grad_enabled(False)
    os.makedirs(a.out, exist_ok=True)
    # The tiny folder as sd_xl_base_1.0 configures it (diffusers_sdxl_reference.py): SDXL's
    # scheduler, tokenizer padding with <|endoftext|> (tokenizer_2: "!"), so that the LDM single
    # file tiny-sdxl.safetensors (which has neither) renders the same.
    model = save_tiny_sdxl(a.models, a.out)
    single = os.path.join(a.models, "tiny-sdxl.safetensors")

    def load():
        pipe = StableDiffusionXLPipeline.from_pretrained(model)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    loras = os.path.join(a.out, "loras")
    os.makedirs(loras, exist_ok=True)
    make_lora(load(), 4, 8, 71, loras, "style")   # alpha / rank = 2
    make_lora(load(), 2, 2, 72, loras, "second")  # alpha / rank = 1
    make_sd15_lora(a.models, loras)

    # SDXL embeddings: one vector set per text encoder.
    pipe = load()
    widths = (pipe.text_encoder.get_input_embeddings().weight.shape[1],
              pipe.text_encoder_2.get_input_embeddings().weight.shape[1])
    E = os.path.join(a.out, "embeddings")
    os.makedirs(E, exist_ok=True)
    for k, (name, n) in enumerate((("ticat", 1), ("tidog", 3))):
        g = torch.Generator().manual_seed(200 + k)
        save_safetensors(os.path.join(E, name + ".safetensors"),
                         {"clip_l": torch.randn((n, widths[0]), generator=g) * 0.5,
                          "clip_g": torch.randn((n, widths[1]), generator=g) * 0.5})

    # name, LoRA files with their (unet, te) weights, embeddings, how diffusers applies them, gen's arguments
    cases = [
        dict(name="none", loras=[], args=[]),
        dict(name="peft", loras=[("style-peft", 1.0, 1.0)], args=["--lora", "{L}/style-peft.safetensors"]),
        dict(name="kohya_te_weight", loras=[("style-kohya", 0.8, 0.3)],
             args=["--lora", "{L}/style-kohya.safetensors:0.8:0.3"]),
        dict(name="kohya_on_the_fly", loras=[("style-kohya", 0.8, 0.3)],
             args=["--lora", "{L}/style-kohya.safetensors:0.8:0.3", "--lora-mode", "on_the_fly"]),
        dict(name="sgm_names", loras=[("style-kohya", 0.9, 0.6)], args=["--lora", "{L}/style-sgm.safetensors:0.9:0.6"]),
        dict(name="sgm_single_file", loras=[("style-kohya", 0.9, 0.6)], single=True,
             args=["--lora", "{L}/style-sgm.safetensors:0.9:0.6"]),
        dict(name="prompt_tag_single_file_on_the_fly", loras=[("style-kohya", 1.1, 0.7)], single=True,
             tag=" <lora:style-kohya:0.7:1.1>", args=["--lora-dir", "{L}", "--lora-mode", "on_the_fly"]),
        dict(name="two_loras", loras=[("style-kohya", 0.5, 0.5), ("second-peft", 1.0, 1.0)],
             args=["--lora", "{L}/style-kohya.safetensors:0.5", "--lora", "{L}/second-peft.safetensors"]),
        dict(name="fused", loras=[("style-peft", 0.9, 0.9)], fuse=True,
             args=["--lora", "{L}/style-peft.safetensors:0.9", "--lora-mode", "merge"]),
    ]
    ti_cases = [
        dict(name="ti_none", ti=False, args=[]),
        dict(name="ti_two", ti=True, args=["--embeddings-dir", "{E}"]),
        dict(name="ti_single_file", ti=True, single=True, args=["--embedding", "{E}/ticat.safetensors",
                                                                 "--embedding", "{E}/tidog.safetensors"]),
    ]
    out_cases = []
    # Every case of a group takes the same seed, so that each differs from its "none" by the adapter alone.
    for k, c in enumerate(cases + ti_cases):
        ti = "ti" in c
        pipe = load()
        names = []
        for i, (f, unet_w, te_w) in enumerate(c.get("loras", [])):
            n = f"{c['name']}_{i}"
            pipe.load_lora_weights(os.path.join(loras, f + ".safetensors"), adapter_name=n)
            names.append((n, unet_w, te_w))
        if c.get("fuse"):
            (n, unet_w, _), = names
            pipe.fuse_lora(lora_scale=unet_w, adapter_names=[n])
        elif names:
            pipe.set_adapters([n for n, _, _ in names],
                              adapter_weights=[{"unet": u, "text_encoder": t, "text_encoder_2": t} for _, u, t in names])
        hashes = []
        if c.get("ti"):
            from safetensors.torch import load_file
            for name in ("ticat", "tidog"):
                path = os.path.join(E, name + ".safetensors")
                state = load_file(path)
                pipe.load_textual_inversion(state["clip_l"], token=name, text_encoder=pipe.text_encoder,
                                            tokenizer=pipe.tokenizer)
                pipe.load_textual_inversion(state["clip_g"], token=name, text_encoder=pipe.text_encoder_2,
                                            tokenizer=pipe.tokenizer_2)
            # The pooled text: transformers takes the second encoder's at argmax(ids) (its config's
            # legacy eos_token_id 2), which lands on the highest added token id, i.e. on an
            # embedding; A1111 (sgm's OpenCLIP pool) takes it at the end token, whose id is the
            # highest of the plain vocabulary, and gen does as A1111. Point transformers at the
            # end token (its other rule: the first eos_token_id), as A1111 pools.
            eos = pipe.tokenizer_2.eos_token_id
            pipe.text_encoder_2.config.eos_token_id = eos
            pipe.text_encoder_2.text_model.eos_token_id = eos
            # A1111 lists the prompt's embeddings, then the negative prompt's.
            hashes = [f"{n}: {short_hash(os.path.join(E, n + '.safetensors'))}" for n in ("ticat", "tidog", "tidog")]
        prompt, negative = (TI_PROMPT, TI_NEGATIVE) if ti else (PROMPT, NEGATIVE)
        seed = 9 if ti else 5
        g = torch.Generator().manual_seed(seed)
        images = pipe(prompt=prompt, negative_prompt=negative, num_inference_steps=STEPS, guidance_scale=CFG,
                      generator=g, width=W, height=H, output_type="np").images
        Image.fromarray((images[0] * 255).round().astype(np.uint8)).save(os.path.join(a.out, f"{c['name']}-0.png"))
        args = ["-p", prompt + c.get("tag", ""), "-n", negative, "-m", single if c.get("single") else model,
                "-W", str(W), "-H", str(H), "--steps", str(STEPS), "--cfg-scale", str(CFG), "--sampler", "euler",
                "--seed", str(seed)]
        if c.get("single"):  # the folder's tokenizer (an LDM file has none; the tiny models' vocabulary is their own)
            args += ["--vocab", os.path.join(model, "tokenizer")]
        args += [x.replace("{L}", loras).replace("{E}", E) for x in c["args"]]
        infotext = f'TI hashes: "{", ".join(hashes)}"' if hashes else ""
        out_cases.append(dict(name=c["name"], batch=1, args=args, infotext=infotext))
    with open(os.path.join(a.out, "cases.json"), "w") as f:
        json.dump(out_cases, f, indent=1)


if __name__ == "__main__":
    main()
