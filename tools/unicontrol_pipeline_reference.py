#!/usr/bin/env python3
"""Whole-pipeline reference images of UniControl (tests/cli/test_unicontrol_pipeline.sh,
docs/unicontrol.md): salesforce/UniControl's own sampling on the tiny SD 1.5 of
tools/make_tiny_models.py with a tiny UniControl, fixed noise, against gen through the CLI.

What runs is the reference's code, taken from a checkout or bare clone of
github:salesforce/UniControl (`--repo`; cldm/ and ldm/ extracted as tools/unicontrol_reference.py
does, with its stubs for pytorch_lightning and omegaconf, and open_clip stubbed: imported, not used):
  cldm/ddim_unicontrol_hacked.py  DDIMSampler (the demos' sampler: DDIM, eta 0, the uncond and
                                  cond halves in one batch with the task, CFG), its
                                  register_buffer without the move to CUDA
  cldm/cldm_unicontrol(_v11).py   ControlLDM.apply_model (called on a small object holding the
                                  three parts below, not a whole ControlLDM: that would build the
                                  autoencoder and CLIP from their configs), ControlNet (v1.0 or
                                  v1.1), ControlledUnetModel
  ldm/modules/diffusionmodules/util.py  make_beta_schedule("linear", 0.00085, 0.012): the
                                  schedule LatentDiffusion registers (alphas_cumprod in float64,
                                  stored as float32)
  ldm/modules/encoders/modules.py FrozenCLIPEmbedder.forward with the tiny pipeline's tokenizer
                                  and text encoder (the prompt and the task instruction, whose
                                  position 0 is the task feature, as the demos take it)
One change to the reference model: its HyperNet's first Linear takes 768 inputs (SD 1.5's text
width, fixed in the code); the tiny text encoder is 32 wide, so that Linear is made 32 → 4C
before the weights are loaded (the tiny UniControl's HyperNet is that wide).
The latents are decoded with diffusers' AutoencoderKL of the same pipeline (z / 0.18215, the
reference's decode_first_stage on the same weights), and the image kept as floats
(x · 127.5 + 127.5, clipped; the demos then truncate to uint8, diffusers and gen round: the test
compares gen's 8-bit image with these floats, at most 1 level apart).

gen runs the same weights from a copy of the tiny pipeline whose scheduler config is the
reference's schedule: DDIMScheduler, scaled_linear 0.00085-0.012 (the linear schedule of
sqrt(beta), as make_beta_schedule), steps_offset 1, set_alpha_to_one false (ldm's uniform
DDIM steps 1, 251, 501, 751 for 4 steps, the last step's previous alpha alphas_cumprod[0]),
no clipping. Steps must divide 1000 (ldm's make_ddim_timesteps otherwise gives one more step).

    # the files both sides use (no reference needed; the test runs this):
    python tools/unicontrol_pipeline_reference.py --models build/models --work DIR
    # the reference images (committed as tests/data/unicontrol_pipeline):
    python tools/unicontrol_pipeline_reference.py --models build/models --work DIR \
        --repo PATH/UniControl(.git) --out tests/data/unicontrol_pipeline
"""
import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import types

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

torch.set_grad_enabled(False)
HERE = os.path.dirname(os.path.abspath(__file__))
SCHEDULER = {"_class_name": "DDIMScheduler", "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
             "clip_sample": False, "num_train_timesteps": 1000, "prediction_type": "epsilon", "set_alpha_to_one": False,
             "steps_offset": 1, "thresholding": False, "timestep_spacing": "leading", "trained_betas": None}
# (name, file, task, prompt, guidance, steps, seed)
CASES = [("v11_depth", "unicontrol_v11.safetensors", "depth", "a red house by a lake", 9.0, 4, 11),
         ("v10_canny", "unicontrol_v10.safetensors", "canny", "a castle", 9.0, 5, 3),
         ("v11_blur_nocfg", "unicontrol_v11.safetensors", "blur", "a dog", 1.0, 4, 7)]
INSTRUCTIONS = {"depth": "depth map to image", "canny": "canny edge to image", "blur": "deblur image to clean image"}


def checksum(path):
    return float(sum(float(v.double().pow(2).sum()) for v in load_file(path).values()))


def prepare(models, work):
    """The pipeline copy with the reference's schedule, the v1.1 and v1.0 files, the hint image."""
    src = os.path.join(models, "diffusers", "tiny-sd15-pipeline")
    pipe = os.path.join(work, "pipeline")
    os.makedirs(os.path.join(pipe, "scheduler"), exist_ok=True)
    for part in ("model_index.json", "text_encoder", "tokenizer", "unet", "vae"):
        dst = os.path.join(pipe, part)
        if not os.path.lexists(dst):
            os.symlink(os.path.abspath(os.path.join(src, part)), dst)
    with open(os.path.join(pipe, "scheduler", "scheduler_config.json"), "w") as f:
        json.dump(SCHEDULER, f, indent=1)
    v11 = os.path.join(work, "unicontrol_v11.safetensors")
    subprocess.run([sys.executable, os.path.join(HERE, "make_tiny_unicontrol.py"),
                    os.path.join(models, "tiny-control-sd15-full.safetensors"),
                    os.path.join(src, "text_encoder", "config.json"), v11], check=True)
    d = load_file(v11)
    for k in d:
        if ".input_hint_block_zeroconv_0.1." in k or ".input_hint_block_zeroconv_1.1." in k:
            d[k] = torch.zeros_like(d[k])
    save_file(d, os.path.join(work, "unicontrol_v10.safetensors"))
    y, x = np.mgrid[0:64, 0:64]
    hint = np.stack([(x * 4) % 256, (y * 4) % 256, ((x + y) * 2) % 256], -1).astype(np.uint8)
    hint[20:44, 20:44] = (250, 250, 250)
    Image.fromarray(hint).save(os.path.join(work, "hint.png"))
    return {"unicontrol_v11.safetensors": checksum(v11),
            "unicontrol_v10.safetensors": checksum(os.path.join(work, "unicontrol_v10.safetensors")),
            "unet": checksum(os.path.join(src, "unet", "diffusion_pytorch_model.safetensors"))}


def load_module(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


def reference(models, work, repo, out):
    ur = load_module("unicontrol_reference", os.path.join(HERE, "unicontrol_reference.py"))
    tmp = tempfile.mkdtemp(prefix="unicontrol-pipe-")
    ur.extract_reference(repo, tmp)
    ur.install_stubs()
    sys.modules["open_clip"] = types.ModuleType("open_clip")
    from cldm import cldm_unicontrol, cldm_unicontrol_v11
    from cldm.ddim_unicontrol_hacked import DDIMSampler
    from ldm.modules.diffusionmodules.util import make_beta_schedule, linear
    from ldm.modules.encoders.modules import FrozenCLIPEmbedder
    from transformers import CLIPTextModel, CLIPTokenizer
    from diffusers import AutoencoderKL

    DDIMSampler.register_buffer = lambda self, name, attr: setattr(self, name, attr)
    src = os.path.join(models, "diffusers", "tiny-sd15-pipeline")
    ldm_file = load_file(os.path.join(models, "tiny-sd15.safetensors"))
    cfg = dict(image_size=32, in_channels=4, model_channels=32, attention_resolutions=[1], num_res_blocks=2,
               channel_mult=[1, 2], num_heads=8, use_spatial_transformer=True, transformer_depth=1, context_dim=32,
               use_checkpoint=False, legacy=False)
    unet = cldm_unicontrol.ControlledUnetModel(out_channels=4, **cfg).eval()
    unet.load_state_dict({k[len("model.diffusion_model."):]: v for k, v in ldm_file.items()
                          if k.startswith("model.diffusion_model.")})
    clip = object.__new__(FrozenCLIPEmbedder)
    torch.nn.Module.__init__(clip)
    clip.tokenizer = CLIPTokenizer.from_pretrained(os.path.join(src, "tokenizer"))
    clip.transformer = CLIPTextModel.from_pretrained(os.path.join(src, "text_encoder")).eval()
    clip.device, clip.max_length, clip.layer, clip.layer_idx = "cpu", 77, "last", None
    vae = AutoencoderKL.from_pretrained(os.path.join(src, "vae")).eval()
    betas = make_beta_schedule("linear", 1000, linear_start=0.00085, linear_end=0.012)
    alphas_cumprod = np.cumprod(1.0 - betas, axis=0)
    to_t = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731  (LatentDiffusion.register_schedule)
    hint = torch.from_numpy(np.asarray(Image.open(os.path.join(work, "hint.png")).convert("RGB")).copy())
    hint = hint.float().div(255.0).permute(2, 0, 1)[None]
    results, facts = {}, []
    for name, fname, task, prompt, guidance, steps, seed in CASES:
        module = cldm_unicontrol_v11 if fname.endswith("v11.safetensors") else cldm_unicontrol
        control = module.ControlNet(hint_channels=3, **cfg).eval()
        control.task_id_hypernet[0] = linear(32, 4 * 32)  # the reference's is 768 → 4C wide
        weights = load_file(os.path.join(work, fname))
        control.load_state_dict({k[len("control_model."):]: v.float() for k, v in weights.items()
                                 if k.startswith("control_model.")})
        model = types.SimpleNamespace(num_timesteps=1000, parameterization="eps", device=torch.device("cpu"),
                                      betas=to_t(betas), alphas_cumprod=to_t(alphas_cumprod),
                                      alphas_cumprod_prev=to_t(np.append(1.0, alphas_cumprod[:-1])),
                                      model=types.SimpleNamespace(diffusion_model=unet), control_model=control,
                                      control_scales=[1.0] * 13, only_mid_control=False)
        model.apply_model = types.MethodType(cldm_unicontrol.ControlLDM.apply_model, model)
        task_dic = {"name": "control_" + task, "feature": clip.encode(INSTRUCTIONS[task])[:, :1, :]}
        cond = {"c_concat": [hint], "c_crossattn": [clip.encode([prompt])], "task": task_dic}
        un_cond = {"c_concat": [hint], "c_crossattn": [clip.encode([""])]}
        x_T = torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(seed))
        samples, _ = DDIMSampler(model).sample(steps, 1, (4, 8, 8), cond, verbose=False, eta=0.0,
                                               unconditional_guidance_scale=guidance,
                                               unconditional_conditioning=un_cond, x_T=x_T)
        x = vae.decode(samples / 0.18215).sample
        results[name] = (x.permute(0, 2, 3, 1)[0] * 127.5 + 127.5).clamp(0, 255).contiguous()
        facts.append(dict(name=name, file=fname, task=task, prompt=prompt, guidance=guidance, steps=steps, seed=seed))
    os.makedirs(out, exist_ok=True)
    save_file(results, os.path.join(out, "images.safetensors"))
    return facts


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", required=True, help="tools/make_tiny_models.py's folder")
    ap.add_argument("--work", required=True, help="where the shared files go")
    ap.add_argument("--repo", help="salesforce/UniControl checkout or bare clone (the reference run)")
    ap.add_argument("--out", help="fixture folder (tests/data/unicontrol_pipeline)")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    sums = prepare(a.models, a.work)
    if not a.repo:
        print(json.dumps({"checksums": sums, "cases": [dict(zip(("name", "file", "task", "prompt", "guidance", "steps",
                                                                  "seed"), c)) for c in CASES]}))
        return
    facts = reference(a.models, a.work, a.repo, a.out)
    with open(os.path.join(a.out, "cases.json"), "w") as f:
        json.dump({"checksums": sums, "cases": facts, "scheduler": SCHEDULER,
                   "reference": "salesforce/UniControl cldm/ddim_unicontrol_hacked.py DDIMSampler, "
                                "cldm/cldm_unicontrol(_v11).py"}, f, indent=1)
    print(json.dumps(facts))


if __name__ == "__main__":
    main()
