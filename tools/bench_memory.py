#!/usr/bin/env python3
"""The memory guard's estimate beside the measured peak RSS (docs/performance.md#memory-guard).

For each case, `gen bench --request` runs the request once (after the load) on the CPU and
reports its peak RSS (getrusage) and the guard's estimate (gen.bench/1 `memory_estimate_gib`:
RSS when the request started + the largest stage's working memory). Prints a Markdown table
and the ratio estimate / measured; exits 1 when a ratio leaves [--low, --high].

    python tools/bench_memory.py --gen build/tools/gen --tiny DIR/diffusers/tiny-sd15-pipeline \
        [--mid build/mid/sd15-random.safetensors] [--threads 2]

The mid-size model: `python tools/make_sd15_random.py --out build/mid --unet-channels 160
--vae-channels 64 --dtype fp32` (an SD 1.5 architecture at half the UNet width).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

TINY = [(256, 256, 1), (512, 512, 1), (512, 512, 4), (1024, 1024, 1)]
MID = [(256, 256, 1), (512, 512, 1)]


def run(gen, model, w, h, b, threads, tiling, tmp):
    req = dict(prompt="a lighthouse on a cliff", negative_prompt="blurry", width=w, height=h, batch_size=b,
               steps=1, seed=1, cfg_scale=7.5, device="cpu", model=model, vae_tiling=tiling)
    path = os.path.join(tmp, "request.json")
    with open(path, "w") as f:
        json.dump(req, f)
    out = subprocess.run([gen, "bench", "--request", path, "--warmup", "0", "--repeats", "1", "--json",
                          "--threads", str(threads)], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"gen bench failed for {w}x{h}x{b}: {out.stderr.strip()}")
    j = json.loads(out.stdout)
    m = j["memory_estimate_gib"]
    return m["in_use"], m["work"], m["peak"], j["peak_rss_gib"], j.get("vae_decode", "")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gen", required=True)
    ap.add_argument("--tiny", required=True, help="the tiny SD 1.5 pipeline of tools/make_tiny_models.py")
    ap.add_argument("--mid", help="a mid-size single file (tools/make_sd15_random.py --unet-channels 160)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tiling", default="auto")
    ap.add_argument("--low", type=float, default=0.8, help="lowest accepted estimate / measured")
    ap.add_argument("--high", type=float, default=2.0, help="highest accepted estimate / measured")
    a = ap.parse_args()
    cases = [("tiny", a.tiny, c) for c in TINY] + ([("mid", a.mid, c) for c in MID] if a.mid else [])
    print("| model | size × batch | RSS at start GiB | work (est.) GiB | estimate GiB | measured peak GiB | estimate / measured | decode |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    worst = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, model, (w, h, b) in cases:
            in_use, work, peak, measured, decode = run(a.gen, os.path.abspath(model), w, h, b, a.threads, a.tiling, tmp)
            ratio = peak / measured
            worst.append(ratio)
            print(f"| {name} | {w}x{h} × {b} | {in_use:.2f} | {work:.2f} | {peak:.2f} | {measured:.2f} | {ratio:.2f} | {decode} |",
                  flush=True)
    print(f"\nestimate / measured: {min(worst):.2f} .. {max(worst):.2f} (accepted {a.low} .. {a.high})")
    sys.exit(0 if all(a.low <= r <= a.high for r in worst) else 1)


if __name__ == "__main__":
    main()
