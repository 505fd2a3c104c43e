#!/usr/bin/env python3
"""Reference images from diffusers' StableDiffusionXLPipeline for the CLI parity test
(tests/cli/test_sdxl_parity.sh).

From the tiny SDXL folder that make_tiny_models.py writes, it saves the pipeline as
transformers 5 / diffusers save it, with SDXL's own scheduler config (scaled-linear betas,
leading spacing, and the keys for other classes it holds) and tokenizers as sd_xl_base_1.0 pads them (tokenizer: <|endoftext|>,
tokenizer_2: "!"), runs diffusers on a list of requests (samplers, CFG on and off, the
micro-conditioning sizes and crop of both halves, force_zeros_for_empty_prompt) and writes
per case the 8-bit PNG diffusers makes and the `gen` arguments of the same request into
OUT/cases.json. The single_file case renders the folder's weights from the LDM single file
tiny-sdxl.safetensors (sgm names) with gen.

    python tools/diffusers_sdxl_reference.py --models DIR --out OUT
"""
import argparse
import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

SCHEDULERS = {"euler": "EulerDiscreteScheduler", "euler_a": "EulerAncestralDiscreteScheduler",
              "dpmpp_2m": "DPMSolverMultistepScheduler", "ddim": "DDIMScheduler"}


# Over 75 tokens of the tiny tokenizer, commas among them (A1111 moves the words after the
# last comma of a full window into the next one).
LONG = ("a red house by the sea, a cat on the roof, a dog in the garden, a boat on the water, "
        "mountains far away, a tower on the hill, a lake in the valley, rain on the window")


def size(text):  # "WIDTHxHEIGHT" → diffusers' (height, width)
    w, h = (int(v) for v in text.split("x"))
    return (h, w)


def a1111_windows(tok, fragments, pad_after_end):
    """A1111's chunking (modules/sd_hijack_clip.py, tokenize_line, with the default
    comma_padding_backtrack 20), written from its description: `fragments` is a list of (text,
    weight) and "BREAK"; each window is [start] + 75 tokens (padded with end) + [end], and an
    encoder whose pad id differs from its end id (OpenCLIP bigG: 0) has everything after the
    first end token set to its pad id. Returns (ids [k, 77], multipliers [k, 77])."""
    start, end = tok.bos_token_id, tok.eos_token_id
    comma = tok.convert_tokens_to_ids(",</w>")
    chunks, cur, mult, last_comma = [], [], [], -1

    def next_chunk():
        nonlocal cur, mult, last_comma
        ids = [start] + cur + [end] * (75 - len(cur)) + [end]
        ws = [1.0] + mult + [1.0] * (75 - len(mult)) + [1.0]
        if pad_after_end is not None:
            first = ids.index(end)
            ids = ids[:first + 1] + [pad_after_end] * (76 - first)
        chunks.append((ids, ws))
        cur, mult, last_comma = [], [], -1

    for frag in fragments:
        if frag == "BREAK":
            next_chunk()
            continue
        text, weight = frag
        for t in tok(text, add_special_tokens=False)["input_ids"]:
            if t == comma:
                last_comma = len(cur)
            elif len(cur) == 75 and last_comma != -1 and len(cur) - last_comma <= 20:
                cut = last_comma + 1
                moved, moved_w = cur[cut:], mult[cut:]
                cur, mult = cur[:cut], mult[:cut]
                next_chunk()
                cur, mult = moved, moved_w
            if len(cur) == 75:
                next_chunk()
            cur.append(t)
            mult.append(weight)
    if cur or not chunks:
        next_chunk()
    return torch.tensor([c[0] for c in chunks]), torch.tensor([c[1] for c in chunks])


def a1111_embeds(pipe, fragments, windows=None):
    """SDXL conditioning as A1111 builds it: every window through both encoders (the
    penultimate hidden states), emphasis on each encoder's output on its own (rows × weight,
    then that window's mean restored), the windows concatenated, padded to `windows` with the
    empty prompt's window; the pooled text: bigG's projection of the first window."""
    outs, pooled = [], None
    for tok, enc, pad in ((pipe.tokenizer, pipe.text_encoder, None), (pipe.tokenizer_2, pipe.text_encoder_2, 0)):
        ids, mult = a1111_windows(tok, fragments, pad)
        if windows and ids.shape[0] < windows:
            e_ids, e_mult = a1111_windows(tok, [("", 1.0)], pad)
            ids = torch.cat([ids] + [e_ids] * (windows - ids.shape[0]))
            mult = torch.cat([mult] + [e_mult] * (windows - mult.shape[0]))
        zs = []
        for k in range(ids.shape[0]):
            o = enc(ids[k:k + 1], output_hidden_states=True)
            z = o.hidden_states[-2]
            mean = z.mean()
            z = z * mult[k].view(1, -1, 1)
            zs.append(z * (mean / z.mean()))
            if pad == 0 and k == 0:
                pooled = o.text_embeds
        outs.append(torch.cat(zs, 1))
    return torch.cat(outs, -1), pooled


def sdxl_scheduler_config(folder):
    """sd_xl_base_1.0's (and the refiner's) scheduler_config.json also holds keys other classes read
    (DDIM: clip_sample, set_alpha_to_one); diffusers keeps them for from_config."""
    path = os.path.join(folder, "scheduler", "scheduler_config.json")
    with open(path) as f:
        config = json.load(f)
    config.update(clip_sample=False, set_alpha_to_one=False, skip_prk_steps=True, sample_max_value=1.0)
    with open(path, "w") as f:
        json.dump(config, f, indent=2)


def sdxl_euler():
    """SDXL's own scheduler: scaled-linear betas, leading spacing, steps offset 1."""
    import diffusers
    return diffusers.EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                            steps_offset=1, timestep_spacing="leading")


def save_tiny_sdxl(models, out, scheduler_keys=False):
    """make_tiny_models.py's tiny SDXL pipeline (MODELS/diffusers/tiny-sdxl-pipeline) as sd_xl_base_1.0
    configures it: SDXL's scheduler, the first tokenizer padding with <|endoftext|> (tokenizer_2
    pads with "!" already), saved as transformers 5 / diffusers save it to OUT/sdxl-pipeline; with
    scheduler_keys, sd_xl_base_1.0's other scheduler keys too. Returns the folder."""
    from diffusers import StableDiffusionXLPipeline
    from transformers import CLIPTokenizer
    src = os.path.join(models, "diffusers", "tiny-sdxl-pipeline")
    tok = CLIPTokenizer.from_pretrained(os.path.join(src, "tokenizer"), pad_token="<|endoftext|>")
    folder = os.path.join(out, "sdxl-pipeline")
    StableDiffusionXLPipeline.from_pretrained(src, tokenizer=tok, scheduler=sdxl_euler()).save_pretrained(folder)
    if scheduler_keys:
        sdxl_scheduler_config(folder)
    return folder


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    import diffusers
    from diffusers import StableDiffusionXLPipeline
    torch.set_grad_enabled(False)
    os.makedirs(a.out, exist_ok=True)
    folder = save_tiny_sdxl(a.models, a.out, scheduler_keys=True)
    pipe = StableDiffusionXLPipeline.from_pretrained(folder)
    single = os.path.join(a.models, "tiny-sdxl.safetensors")

    cases = [
        dict(name="euler", sampler="euler", seed=1, prompt="a red house by the sea", negative="fog"),
        dict(name="euler_a_no_cfg", sampler="euler_a", seed=2, prompt="a cat", negative="", cfg=1.0),
        dict(name="dpmpp_2m_batch2", sampler="dpmpp_2m", seed=3, prompt="mountains", negative="", batch=2),
        dict(name="ddim", sampler="ddim", seed=4, prompt="a boat", negative="rain"),
        dict(name="micro", sampler="euler", seed=5, prompt="a tower", negative="blurry",
             original_size="1024x768", crop="16,32", target_size="640x512"),
        dict(name="micro_negative", sampler="euler", seed=6, prompt="a tower", negative="blurry",
             original_size="2048x1536", negative_original_size="512x512", negative_crop="8,4",
             negative_target_size="1024x1024"),
        # diffusers' force_zeros_for_empty_prompt: no negative prompt → zero negative conditioning
        # (gen: the plain prompt syntax with an empty negative prompt).
        dict(name="force_zeros", sampler="euler", seed=7, prompt="a lake", negative=None, syntax="plain"),
        dict(name="single_file", sampler="euler", seed=8, prompt="a red house", negative="night", single=True),
        # A1111's prompt syntax with SDXL (gen's default): windows through both encoders. The
        # conditioning comes from a1111_embeds; diffusers renders it (prompt_embeds=…).
        dict(name="a1111_break", sampler="euler", seed=9, prompt="a red house BREAK by the sea", negative="fog",
             a1111=([("a red house", 1.0), "BREAK", ("by the sea", 1.0)], [("fog", 1.0)])),
        dict(name="a1111_emphasis", sampler="dpmpp_2m", seed=10, prompt="a (red:1.4) house by the [sea]",
             negative="(fog:1.2)", a1111=([("a ", 1.0), ("red", 1.4), (" house by the ", 1.0), ("sea", 1 / 1.1)],
                                          [("fog", 1.2)])),
        dict(name="a1111_long", sampler="euler", seed=11, prompt=LONG, negative="blurry, fog",
             a1111=([(LONG, 1.0)], [("blurry, fog", 1.0)])),
    ]
    out_cases = []
    for c in cases:
        steps, cfg, batch, w, h = c.get("steps", 4), c.get("cfg", 7.5), c.get("batch", 1), 80, 64
        scheduler = getattr(diffusers, SCHEDULERS[c["sampler"]]).from_config(pipe.scheduler.config)
        run = StableDiffusionXLPipeline(**{**pipe.components, "scheduler": scheduler})
        gens = [torch.Generator().manual_seed(c["seed"] + i) for i in range(batch)]
        kw = dict(prompt=c["prompt"], negative_prompt=c["negative"], num_inference_steps=steps, guidance_scale=cfg,
                  num_images_per_prompt=batch, generator=gens, width=w, height=h, output_type="np")
        for key in ("original_size", "target_size", "negative_original_size", "negative_target_size"):
            if key in c:
                kw[key] = size(c[key])
        if "crop" in c:
            kw["crops_coords_top_left"] = tuple(int(v) for v in c["crop"].split(","))
        if "negative_crop" in c:
            kw["negative_crops_coords_top_left"] = tuple(int(v) for v in c["negative_crop"].split(","))
        if "a1111" in c:
            pos, neg = c["a1111"]
            windows = max(a1111_windows(pipe.tokenizer, f, None)[0].shape[0] for f in (pos, neg))
            assert windows > 1 or c["name"] != "a1111_long", "the long prompt must need two windows"
            pe, pp = a1111_embeds(pipe, pos, windows)
            ne, npool = a1111_embeds(pipe, neg, windows)
            for k in ("prompt", "negative_prompt"):
                kw.pop(k)
            kw.update(prompt_embeds=pe, pooled_prompt_embeds=pp, negative_prompt_embeds=ne,
                      negative_pooled_prompt_embeds=npool)
        images = run(**kw).images
        model = single if c.get("single") else folder
        args = ["-p", c["prompt"], "-n", c["negative"] or "", "-m", model, "-W", str(w), "-H", str(h),
                "--steps", str(steps), "--cfg-scale", str(cfg), "--sampler", c["sampler"], "--seed", str(c["seed"]),
                "--batch-size", str(batch)]
        if c.get("single"):  # the folder's tokenizer (an LDM file has none; the tiny models' vocabulary is their own)
            args += ["--vocab", os.path.join(folder, "tokenizer")]
        if c.get("syntax"):
            args += ["--prompt-syntax", c["syntax"]]
        for key in ("original_size", "crop", "target_size", "negative_original_size", "negative_crop",
                    "negative_target_size"):
            if key in c:
                args += ["--" + key.replace("_", "-"), c[key]]
        for i, im in enumerate(images):
            Image.fromarray((im * 255).round().astype(np.uint8)).save(os.path.join(a.out, f"{c['name']}-{i}.png"))
        out_cases.append(dict(name=c["name"], batch=batch, args=args, infotext=c.get("infotext", "")))
    with open(os.path.join(a.out, "cases.json"), "w") as f:
        json.dump(out_cases, f, indent=1)


if __name__ == "__main__":
    main()
