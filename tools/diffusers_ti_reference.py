#!/usr/bin/env python3
"""Reference images from diffusers for the textual-inversion parity test (tests/cli/test_ti_parity.sh).

For the tiny SD 1.x diffusers folder that make_tiny_models.py writes, it makes random embeddings
of the text encoder's width in the layouts in use — A1111's torch.save {'string_to_param': {'*': ...},
'name', 'step', ...} (.pt), the `emb_params` .safetensors of kohya / A1111, diffusers'
learned_embeds ({token: [C]} in a .bin, {token: [n, C]} in a .safetensors) — with one and several
vectors, renders each case with diffusers loading those files (`load_textual_inversion`, which
expands a multi-vector token into `tok tok_1 ...` in the prompt), and writes the PNGs and the gen
arguments of the same request into OUT/cases.json (the format of diffusers_cli_reference.py,
compared by tests/cli/parity.sh). Every case uses the same prompts and seed, so "none" (no
embedding: the names are plain words) is the image each embedding must change. The infotext each
case must carry is A1111's `TI hashes` with the first 12 hex digits of the file's SHA-256.

    python tools/diffusers_ti_reference.py --models DIR --out OUT
"""
import argparse
import hashlib
import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

PROMPT, NEGATIVE = "a photo of ticat with tidog on a table", "blurry tidog"
SEED, STEPS, CFG, W, H = 11, 4, 7.5, 80, 64


def vectors(seed, n, width, one_d=False):
    g = torch.Generator().manual_seed(seed)
    v = torch.randn((n, width), generator=g) * 0.5
    return v[0] if one_d else v


def save_a1111(path, name, vec):
    """As A1111's Embedding.save (textual_inversion.py), the vector a trained leaf tensor."""
    vec = vec.clone().requires_grad_(True)
    torch.save({"string_to_token": {"*": 265}, "string_to_param": {"*": vec}, "name": name, "step": 1500,
                "sd_checkpoint": "a1b2c3d4", "sd_checkpoint_name": "tiny"}, path)


def save_safetensors(path, tensors):
    from safetensors.torch import save_file
    save_file({k: v.contiguous() for k, v in tensors.items()}, path)


def short_hash(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:12]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    import diffusers
    from diffusers import StableDiffusionPipeline
    torch.set_grad_enabled(False)
    os.makedirs(a.out, exist_ok=True)
    model = os.path.join(a.models, "diffusers", "tiny-sd15-pipeline")

    def load():
        pipe = StableDiffusionPipeline.from_pretrained(model, safety_checker=None, requires_safety_checker=False)
        pipe.scheduler = diffusers.EulerDiscreteScheduler.from_config(pipe.scheduler.config)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    width = load().text_encoder.get_input_embeddings().weight.shape[1]
    E = os.path.join(a.out, "embeddings")
    files = {  # case folder → [(name, file, layout)]
        "a1111_1v": [("ticat", "ticat.pt", "a1111", 1)],
        "a1111_3v": [("ticat", "sub/deeper/ticat.pt", "a1111", 3)],
        "emb_params_2v": [("ticat", "ticat.safetensors", "emb_params", 2)],
        "diffusers_bin_1v": [("ticat", "ticat.bin", "diffusers_bin", 1)],
        "diffusers_st_4v": [("ticat", "ticat.safetensors", "diffusers_st", 4)],
        "two": [("ticat", "ticat.pt", "a1111", 3), ("tidog", "tidog.safetensors", "emb_params", 2)],
    }
    for k, (case, entries) in enumerate(files.items()):
        for j, (name, rel, layout, n) in enumerate(entries):
            path = os.path.join(E, case, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            v = vectors(100 + 10 * k + j, n, width, one_d=layout == "diffusers_bin")
            if layout == "a1111":
                save_a1111(path, name, v)
            elif layout == "emb_params":
                save_safetensors(path, {"emb_params": v})
            elif layout == "diffusers_bin":
                torch.save({f"<{name}>": v}, path)
            else:
                save_safetensors(path, {name: v})

    # name, embedding files (case folder), how gen is told about them
    cases = [
        dict(name="none", files=None, args=[]),
        dict(name="a1111_pt", files="a1111_1v", args=["--embeddings-dir", "{E}/a1111_1v"]),
        dict(name="a1111_pt_multi_subfolder", files="a1111_3v", args=["--embeddings-dir", "{E}/a1111_3v"]),
        dict(name="emb_params_explicit", files="emb_params_2v", args=["--embedding", "{E}/emb_params_2v/ticat.safetensors"]),
        dict(name="diffusers_bin", files="diffusers_bin_1v", args=["--embeddings-dir", "{E}/diffusers_bin_1v"]),
        dict(name="diffusers_safetensors_multi", files="diffusers_st_4v", args=["--embeddings-dir", "{E}/diffusers_st_4v"]),
        dict(name="two_embeddings", files="two", args=["--embeddings-dir", "{E}/two"]),
    ]
    out_cases = []
    for c in cases:
        pipe = load()
        hashes_pos, hashes_neg = [], []
        if c["files"]:
            for name, rel, _, _ in files[c["files"]]:
                path = os.path.join(E, c["files"], rel)
                pipe.load_textual_inversion(path, token=name)
                if name in PROMPT.split():
                    hashes_pos.append(f"{name}: {short_hash(path)}")
                if name in NEGATIVE.split():
                    hashes_neg.append(f"{name}: {short_hash(path)}")
        g = torch.Generator().manual_seed(SEED)
        images = pipe(prompt=PROMPT, negative_prompt=NEGATIVE, num_inference_steps=STEPS, guidance_scale=CFG,
                      generator=g, width=W, height=H, output_type="np").images
        Image.fromarray((images[0] * 255).round().astype(np.uint8)).save(os.path.join(a.out, f"{c['name']}-0.png"))
        args = ["-p", PROMPT, "-n", NEGATIVE, "-m", model, "-W", str(W), "-H", str(H), "--steps", str(STEPS),
                "--cfg-scale", str(CFG), "--sampler", "euler", "--seed", str(SEED)]
        args += [x.replace("{E}", E) for x in c["args"]]
        # A1111 lists the prompt's embeddings, then the negative prompt's (sd_hijack_clip.py).
        infotext = f'TI hashes: "{", ".join(hashes_pos + hashes_neg)}"' if c["files"] else ""
        out_cases.append(dict(name=c["name"], batch=1, args=args, infotext=infotext))
    with open(os.path.join(a.out, "cases.json"), "w") as f:
        json.dump(out_cases, f, indent=1)


if __name__ == "__main__":
    main()
