#!/usr/bin/env python3
"""Side by side on one GPU: diffusers (fp16, SDPA) against `gen bench` on the same random
SD 1.5 + ControlNet weights, the same requests (W1: 512x512, 20 Euler steps, CFG 7.5, batch 1;
W2: the same at batch 8), the same machine and run. Each side: warm-up runs, then timed
repeats with the device synchronised; medians, images/s, peak GPU memory; then the ratios
gen/diffusers (lower is better for gen) that issue 5's targets are about.

    python tools/make_sd15_random.py --out build/sd15 --diffusers      # once, on the build machine
    python tools/bench_gpu.py --models build/sd15 --gen build/tools/gen  # on the GPU machine

--smoke runs the same code on the CPU with tiny models at 64x64 and 2 steps, to check the
script itself where there is no GPU (its numbers mean nothing).
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


def diffusers_side(a, w, control_path, tok, device, dtype):
    import torch
    from diffusers import (AutoencoderKL, ControlNetModel, EulerDiscreteScheduler, StableDiffusionControlNetPipeline,
                           UNet2DConditionModel)
    from PIL import Image
    from transformers import CLIPTextModel, CLIPTokenizer
    load = dict(torch_dtype=dtype)
    pipe = StableDiffusionControlNetPipeline(
        vae=AutoencoderKL.from_pretrained(os.path.join(a.pipeline, "vae"), **load),
        text_encoder=CLIPTextModel.from_pretrained(os.path.join(a.pipeline, "text_encoder"), **load),
        tokenizer=CLIPTokenizer(os.path.join(tok, "vocab.json"), os.path.join(tok, "merges.txt"),
                                model_max_length=77, pad_token="<|endoftext|>"),
        unet=UNet2DConditionModel.from_pretrained(os.path.join(a.pipeline, "unet"), **load),
        controlnet=ControlNetModel.from_pretrained(a.controlnet, **load),
        scheduler=EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                         steps_offset=1),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False).to(device)
    pipe.set_progress_bar_config(disable=True)
    control = Image.open(control_path).convert("RGB")
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    times = []
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for i in range(a.warmup + a.repeats):
        sync()
        t0 = time.perf_counter()
        with torch.inference_mode():
            pipe(w["prompt"], negative_prompt=w["negative"], image=control, width=w["size"], height=w["size"],
                 num_inference_steps=w["steps"], guidance_scale=7.5, num_images_per_prompt=w["batch"],
                 generator=torch.Generator().manual_seed(1))
        sync()
        if i >= a.warmup:
            times.append(time.perf_counter() - t0)
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None
    del pipe
    if device == "cuda":
        torch.cuda.empty_cache()
    return statistics.median(times), peak


def gen_side(a, name, w, device):
    cmd = [a.gen, "bench", "-w", name, "-m", a.gen_model, "--control", a.gen_control, "--vocab", os.path.abspath(VOCAB),
           "--warmup", str(a.warmup), "--repeats", str(a.repeats), "--json", "--device", device]
    if a.smoke:
        req = {"schema": "gen.request/1", "prompt": w["prompt"], "negative_prompt": w["negative"], "width": w["size"],
               "height": w["size"], "steps": w["steps"], "batch_size": w["batch"], "seed": 1, "model": a.gen_model,
               "device": device, "controls": [{"model": a.gen_control, "image": a.control_image}]}
        path = os.path.join(a.work, f"{name}.json")
        with open(path, "w") as f:
            json.dump(req, f)
        cmd = [a.gen, "bench", "--request", path, "--warmup", str(a.warmup), "--repeats", str(a.repeats), "--json"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    j = json.loads(out)
    return j["seconds"]["end_to_end"]["median"], j["peak_gpu_gib"], j


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=os.path.join(HERE, "..", "build", "sd15"),
                    help="make_sd15_random.py --diffusers output (sd15-random.safetensors, control-…, diffusers/)")
    ap.add_argument("--gen", default=os.path.join(HERE, "..", "build", "tools", "gen"))
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--workloads", default="w1,w2")
    ap.add_argument("--smoke", action="store_true", help="tiny models on the CPU (checks the script)")
    ap.add_argument("--tiny", default=os.path.join(HERE, "..", "build", "models"), help="tiny models (--smoke)")
    a = ap.parse_args()
    sys.path.insert(0, HERE)
    from make_tokenizer_fixtures import write_vocab_folder
    import torch
    a.work = tempfile.mkdtemp(prefix="gen-bench-gpu-")
    tok = os.path.join(a.work, "tokenizer")
    os.makedirs(tok)
    write_vocab_folder(VOCAB, tok)
    if a.smoke:
        device, dtype = "cpu", torch.float32
        a.pipeline = os.path.join(a.tiny, "diffusers", "tiny-sd15-pipeline")
        a.controlnet = os.path.join(a.tiny, "diffusers", "tiny-controlnet")
        a.gen_model, a.gen_control = a.pipeline, os.path.join(a.tiny, "tiny-control-sd15-full.safetensors")
        tok = os.path.join(a.pipeline, "tokenizer")  # the tiny text encoder's own vocabulary
    else:
        device, dtype = "cuda", torch.float16
        a.pipeline = os.path.join(a.models, "diffusers")
        a.controlnet = os.path.join(a.models, "diffusers", "controlnet")
        a.gen_model = os.path.join(a.models, "sd15-random.safetensors")
        a.gen_control = os.path.join(a.models, "control-sd15-random.safetensors")
    from PIL import Image, ImageDraw
    rows = []
    for name in a.workloads.split(","):
        w = {"prompt": "a photograph of a lighthouse on a cliff at sunset, dramatic sky, detailed",
             "negative": "blurry, low quality", "size": 512, "steps": 20, "batch": 8 if name == "w2" else 1}
        if a.smoke:
            w.update(size=64, steps=2, batch=2 if name == "w2" else 1)
        a.control_image = os.path.join(a.work, f"control-{w['size']}.png")
        img = Image.new("RGB", (w["size"], w["size"]))
        ImageDraw.Draw(img).ellipse([w["size"] // 6, w["size"] // 6, w["size"] * 5 // 6, w["size"] * 5 // 6],
                                    outline="white", width=2)
        img.save(a.control_image)
        d_time, d_peak = diffusers_side(a, w, a.control_image, tok, device, dtype)
        g_time, g_peak, _ = gen_side(a, name, w, device)
        rows.append((name, w["batch"], g_time, d_time, g_peak, d_peak))
    print(f"torch {torch.__version__}, device {torch.cuda.get_device_name() if device == 'cuda' else 'cpu'}; "
          f"medians of {a.repeats} after {a.warmup} warm-up")
    print(f"{'workload':9} {'gen s':>9} {'diffusers s':>12} {'gen/diff':>9} {'gen img/s':>10} {'diff img/s':>11} "
          f"{'img/s ratio':>11} {'gen GiB':>8} {'diff GiB':>9}")
    for name, batch, g, d, gp, dp in rows:
        fmt = lambda v: f"{v:.2f}" if v is not None else "-"
        print(f"{name:9} {g:9.4f} {d:12.4f} {g / d:9.3f} {batch / g:10.2f} {batch / d:11.2f} {d / g:11.2f} "
              f"{fmt(gp):>8} {fmt(dp):>9}")


if __name__ == "__main__":
    main()
