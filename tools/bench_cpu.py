#!/usr/bin/env python3
"""Side by side on the CPU: gen against diffusers on the same random SD 1.5 weights, the same
request, the same machine and run (workload W-cpu: SD 1.5 + one ControlNet, 256x256, 4 Euler
steps, CFG 7.5, fp32, batch 1; --workload i2i-cpu: the same as ControlNet img2img, 5 steps at
strength 0.8 (4 run); inpaint-cpu: ControlNet inpainting of a centred square, 4 steps; w4-cpu:
SDXL base + one SDXL ControlNet, 256x256, 2 Euler steps, on tools/make_sdxl_random.py's
full-size random weights). Each side runs as its own process, end to end (start,
loading, text encoding, sampling, VAE decode, writing the PNG), with the same thread count;
wall time and peak resident memory come from the process (wait4's rusage).

    python tools/make_sd15_random.py --out build/sd15 --diffusers   # once, ~3 GB
    python tools/bench_cpu.py --models build/sd15 --gen build/tools/gen --repeats 3
    python tools/make_sdxl_random.py --out build/sdxl --vocab VOCAB.gz         # once, ~9.3 GB
    python tools/bench_cpu.py --models build/sdxl --gen build/tools/gen --workload w4-cpu

Prints a table of medians and the ratio gen/diffusers (lower is better for gen).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# the copy scripts/setup.sh fetched from PyPI (clip-anytorch) into the build tree
VOCAB = os.environ.get("GEN_VOCAB") or os.path.join(HERE, "..", "build", "share", "gen", "clip", "bpe_simple_vocab_16e6.txt.gz")

DIFFUSERS_RUN = r'''
import os, sys, json
os.environ["HF_HUB_OFFLINE"] = "1"
import torch
torch.set_num_threads(int(sys.argv[5]))
sys.path.insert(0, sys.argv[4])
from make_tokenizer_fixtures import write_vocab_folder
from diffusers import (AutoencoderKL, ControlNetModel, EulerDiscreteScheduler, StableDiffusionControlNetPipeline,
                       StableDiffusionControlNetImg2ImgPipeline, StableDiffusionControlNetInpaintPipeline,
                       UNet2DConditionModel)
from transformers import CLIPTextModel, CLIPTokenizer
from PIL import Image
import numpy as np
m, out, req = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
tok = sys.argv[6]
tokenizer = CLIPTokenizer(os.path.join(tok, "vocab.json"), os.path.join(tok, "merges.txt"), model_max_length=77,
                          pad_token="<|endoftext|>")
load = dict(torch_dtype=torch.float32)
if req["workload"] == "w4-cpu":  # SDXL: the pipeline folder with its own tokenizers
    from diffusers import StableDiffusionXLControlNetPipeline
    pipe = StableDiffusionXLControlNetPipeline.from_pretrained(
        os.path.join(m, "sdxl-random"), controlnet=ControlNetModel.from_pretrained(
            os.path.join(m, "controlnet-sdxl-random"), **load), **load)
    pipe.scheduler = EulerDiscreteScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    with torch.inference_mode():
        image = pipe(req["prompt"], negative_prompt="", width=req["width"], height=req["height"],
                     num_inference_steps=req["steps"], guidance_scale=req["cfg"],
                     image=Image.open(req["control_image"]).convert("RGB"),
                     generator=torch.Generator().manual_seed(req["seed"])).images[0]
    image.save(out)
    sys.exit(0)
cls = {"w-cpu": StableDiffusionControlNetPipeline, "i2i-cpu": StableDiffusionControlNetImg2ImgPipeline,
       "inpaint-cpu": StableDiffusionControlNetInpaintPipeline}[req["workload"]]
pipe = cls(
    vae=AutoencoderKL.from_pretrained(os.path.join(m, "vae"), **load),
    text_encoder=CLIPTextModel.from_pretrained(os.path.join(m, "text_encoder"), **load),
    tokenizer=tokenizer, unet=UNet2DConditionModel.from_pretrained(os.path.join(m, "unet"), **load),
    controlnet=ControlNetModel.from_pretrained(os.path.join(m, "controlnet"), **load),
    scheduler=EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1),
    safety_checker=None, feature_extractor=None, requires_safety_checker=False)
pipe.set_progress_bar_config(disable=True)
control = Image.open(req["control_image"]).convert("RGB")
kw = dict(image=control)
if req["workload"] != "w-cpu":  # the init image is the control image, as gen bench's editing workloads
    kw = dict(image=control, control_image=control, strength=req["strength"])
if req["workload"] == "inpaint-cpu":
    kw["mask_image"] = Image.open(req["mask"])
with torch.inference_mode():
    image = pipe(req["prompt"], negative_prompt="", width=req["width"], height=req["height"],
                 num_inference_steps=req["steps"], guidance_scale=req["cfg"],
                 generator=torch.Generator().manual_seed(req["seed"]), **kw).images[0]
image.save(out)
'''


def run(cmd, env=None):
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    err = p.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{err}")
    return wall, usage.ru_maxrss / 1024 / 1024  # GiB


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", required=True, help="the folder make_sd15_random.py --diffusers wrote")
    ap.add_argument("--gen", required=True, help="the gen binary")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--gen-args", default="", help="more options for gen, e.g. '--weights wide'")
    ap.add_argument("--workload", default="w-cpu", choices=("w-cpu", "i2i-cpu", "inpaint-cpu", "w4-cpu"))
    a = ap.parse_args()
    sys.path.insert(0, HERE)
    from make_tokenizer_fixtures import write_vocab_folder
    work = tempfile.mkdtemp()
    tok = os.path.join(work, "tokenizer")
    os.makedirs(tok)
    write_vocab_folder(VOCAB, tok)
    from PIL import Image
    import numpy as np
    control = os.path.join(work, "control.png")
    Image.fromarray((np.random.default_rng(0).random((256, 256, 3)) * 255).astype(np.uint8)).save(control)
    mask = os.path.join(work, "mask.png")
    m = np.zeros((256, 256), np.uint8)
    m[64:192, 64:192] = 255
    Image.fromarray(m).save(mask)
    steps, strength = {"w-cpu": (4, 1.0), "i2i-cpu": (5, 0.8), "inpaint-cpu": (4, 1.0), "w4-cpu": (2, 1.0)}[a.workload]
    req = dict(prompt="a photograph of an astronaut riding a horse", width=256, height=256, steps=steps, cfg=7.5,
               seed=1, control_image=control, workload=a.workload, strength=strength, mask=mask)
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    gen_cmd = [a.gen, "-p", req["prompt"], "-m", os.path.join(a.models, "sd15-random.safetensors"),
               "--vocab", VOCAB, "-W", "256", "-H", "256", "--steps", str(steps), "--cfg-scale", "7.5", "--seed", "1",
               "--sampler", "euler", "--device", "cpu", "--dtype", "fp32", "-q", "-o", os.path.join(work, "gen.png"),
               "--control", os.path.join(a.models, "control-sd15-random.safetensors"), "--control-image", control]
    if a.workload == "w4-cpu":  # the SDXL folders (their tokenizers; no --vocab)
        gen_cmd = [a.gen, "-p", req["prompt"], "-m", os.path.join(a.models, "sdxl-random"), "-W", "256", "-H", "256",
                   "--steps", str(steps), "--cfg-scale", "7.5", "--seed", "1", "--sampler", "euler", "--device", "cpu",
                   "--dtype", "fp32", "-q", "-o", os.path.join(work, "gen.png"),
                   "--control", os.path.join(a.models, "controlnet-sdxl-random"), "--control-image", control]
    elif a.workload != "w-cpu":
        gen_cmd += ["--init-image", control, "--strength", str(strength)]
    if a.workload == "inpaint-cpu":
        gen_cmd += ["--mask", mask]
    gen_cmd += a.gen_args.split()
    diff_cmd = [sys.executable, "-c", DIFFUSERS_RUN,
                a.models if a.workload == "w4-cpu" else os.path.join(a.models, "diffusers"),
                os.path.join(work, "diffusers.png"), json.dumps(req), HERE, str(a.threads), tok]
    results = {"gen": [], "diffusers": []}
    for _ in range(a.repeats):  # interleaved, so drifts in machine load hit both sides
        results["gen"].append(run(gen_cmd, env))
        results["diffusers"].append(run(diff_cmd, env))
    table = {}
    for side, runs in results.items():
        table[side] = dict(wall_s=statistics.median(w for w, _ in runs), wall_spread_s=max(w for w, _ in runs) -
                           min(w for w, _ in runs), peak_rss_gib=statistics.median(r for _, r in runs))
    table["ratio"] = dict(wall=table["gen"]["wall_s"] / table["diffusers"]["wall_s"],
                          peak_rss=table["gen"]["peak_rss_gib"] / table["diffusers"]["peak_rss_gib"])
    table["setup"] = dict(repeats=a.repeats, threads=a.threads, gen_args=a.gen_args, **{k: v for k, v in req.items()
                                                                                    if k not in ("control_image", "mask")})
    if a.json:
        print(json.dumps(table, indent=1))
        return
    family = "SDXL + SDXL ControlNet" if a.workload == "w4-cpu" else "SD 1.5 + ControlNet"
    print(f"{a.workload} ({family}, 256x256, {steps} Euler steps at strength {strength}, CFG 7.5, fp32, "
          f"{a.threads} threads), "
          f"medians of {a.repeats} interleaved runs, end to end per process:")
    for side in ("gen", "diffusers"):
        t = table[side]
        print(f"  {side:10s} {t['wall_s']:7.2f} s (spread {t['wall_spread_s']:.2f} s)   peak RSS {t['peak_rss_gib']:.2f} GiB")
    print(f"  gen/diffusers: time {table['ratio']['wall']:.2f}x, peak memory {table['ratio']['peak_rss']:.2f}x")


if __name__ == "__main__":
    main()
