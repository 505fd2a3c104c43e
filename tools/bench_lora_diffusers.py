#!/usr/bin/env python3
"""diffusers' side of the LoRA switching figures of `gen bench --lora` (docs/adapters.md, issue 19
item 6): on the same full-size random SD 1.5 and rank-32 kohya LoRA that gen's bench uses, the
time diffusers + PEFT take to apply the LoRA to a loaded pipeline and to take it off again, in
both of diffusers' ways, and (--step) the cost of one UNet call with the LoRA layers active.

    merge       apply: load_lora_weights + fuse_lora      remove: unfuse_lora + unload_lora_weights
    on_the_fly  apply: load_lora_weights (PEFT layers)    remove: unload_lora_weights
    step        one UNet call at 256x256 (latents 32x32, batch 2 as with CFG), without LoRA,
                with the PEFT layers, and fused

Each is repeated (--repeats, medians printed, and every value in --json). Run it on the same
machine and thread count as gen's bench to get ratios (nothing else running, ideally):

    python tools/make_sd15_random.py --out build/sd15 --diffusers          # once, ~3 GB
    python tools/make_lora_random.py --model build/sd15/sd15-random.safetensors --rank 32 \\
        --out build/sd15/lora-r32.safetensors
    python tools/bench_lora_diffusers.py --models build/sd15 --lora build/sd15/lora-r32.safetensors --threads 1
    build/tools/gen bench -w w-cpu -m build/sd15/sd15-random.safetensors \\
        --control build/sd15/control-sd15-random.safetensors --lora build/sd15/lora-r32.safetensors \\
        --lora-mode merge --threads 1                                     # and --lora-mode on_the_fly
"""
import argparse
import json
import os
import resource
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch  # noqa: E402


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", required=True, help="the folder of make_sd15_random.py --diffusers")
    ap.add_argument("--lora", required=True, help="the LoRA of make_lora_random.py")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--step", action="store_true", help="also time one UNet call without / with the LoRA")
    ap.add_argument("--json", help="write every figure here")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_grad_enabled(False)
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel
    d = os.path.join(a.models, "diffusers")
    t0 = time.perf_counter()
    f32 = dict(torch_dtype=torch.float32)  # as gen bench's w-cpu (the files may be fp16)
    pipe = StableDiffusionPipeline(vae=AutoencoderKL.from_pretrained(os.path.join(d, "vae"), **f32),
                                   text_encoder=CLIPTextModel.from_pretrained(os.path.join(d, "text_encoder"), **f32),
                                   tokenizer=None,
                                   unet=UNet2DConditionModel.from_pretrained(os.path.join(d, "unet"), **f32),
                                   scheduler=EulerDiscreteScheduler(), safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    load_s = time.perf_counter() - t0
    rss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    res = {"threads": a.threads, "repeats": a.repeats, "load_s": load_s, "rss_loaded_gib": rss_loaded}
    for mode in ("merge", "on_the_fly"):
        apply, remove = [], []
        for _ in range(a.repeats):
            def on():
                pipe.load_lora_weights(a.lora, adapter_name="bench")
                if mode == "merge":
                    pipe.fuse_lora(lora_scale=1.0, adapter_names=["bench"])

            def off():
                if mode == "merge":
                    pipe.unfuse_lora()
                pipe.unload_lora_weights()
            apply.append(timed(on))
            remove.append(timed(off))
        res[mode] = {"apply_s": apply, "remove_s": remove}
    res["rss_peak_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    if a.step:
        g = torch.Generator().manual_seed(0)
        x = torch.randn((2, 4, 32, 32), generator=g)
        ctx = torch.randn((2, 77, pipe.unet.config.cross_attention_dim), generator=g)
        t = torch.tensor([500.0, 500.0])
        call = lambda: pipe.unet(x, t, encoder_hidden_states=ctx)  # noqa: E731
        step = {"none": [timed(call) for _ in range(a.repeats)]}
        pipe.load_lora_weights(a.lora, adapter_name="bench")
        step["on_the_fly"] = [timed(call) for _ in range(a.repeats)]
        pipe.fuse_lora(lora_scale=1.0, adapter_names=["bench"])
        step["merge"] = [timed(call) for _ in range(a.repeats)]
        pipe.unfuse_lora()
        pipe.unload_lora_weights()
        res["unet_call_s"] = step
    print(f"diffusers {__import__('diffusers').__version__}, peft {__import__('peft').__version__}, torch "
          f"{torch.__version__}, {a.threads} thread(s), medians of {a.repeats}")
    print(f"pipeline loaded in {load_s:.1f} s, RSS {rss_loaded:.2f} GiB; peak RSS {res['rss_peak_gib']:.2f} GiB")
    for mode in ("merge", "on_the_fly"):
        r = res[mode]
        print(f"{mode:10s} apply {statistics.median(r['apply_s']):7.3f} s   remove {statistics.median(r['remove_s']):7.3f} s")
    if a.step:
        for k, v in res["unet_call_s"].items():
            print(f"UNet call ({k}): {statistics.median(v):.3f} s")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
