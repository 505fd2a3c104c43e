#!/usr/bin/env python3
"""Reference outputs of salesforce/UniControl's control model, for tests/unit/test_unicontrol.cpp.

The reference code is not on PyPI and is not copied into gen: this script takes it from a
checkout or bare clone of github:salesforce/UniControl (`--repo`), extracts `cldm/` and
`ldm/` into a temporary directory, and imports `cldm.cldm_unicontrol.ControlNet` (v1.0) and
`cldm.cldm_unicontrol_v11.ControlNet` (v1.1) from there, with stubs for the two packages the
model code imports but does not use for a forward call (pytorch_lightning, omegaconf).

One tiny random configuration (model_channels 32, channel_mult (1, 1), one res block per
level, attention at ds 2, context 16; the hint path's widths 16/32/96/256 and the HyperNet's
768-wide input are fixed by the reference code), one set of weights for both versions (the
two versions have the same parameters), one call per task with fixed inputs. The task
feature (what `get_learned_conditioning(instruction)[:, :1, :]` gives the model) is a random
768-vector here; `--check-clip` separately shows on a random CLIPTextModel that position 0
of the text encoder's output does not depend on the instruction (causal mask).

The weights are not stored: each is q × 2^-k with q in -15..15 from an integer hash of the
parameter's checkpoint name and index (weight_values below), which the C++ test computes the
same way (a sum of squares in the JSON checks that). Files written to --out:
  unicontrol_tiny_io.safetensors  x, t, context, hint, task_feature; per version V (v10, v11)
                                  and task K: V.K.down.I, V.K.mid; mix.* (weighted MoE features)
  unicontrol_tiny.json            the configuration, the tasks, the measured facts

Run with the project's venv python (torch 2.11 as gen's):
    python tools/unicontrol_reference.py --repo /path/to/UniControl(.git) --out tests/data/unicontrol
    python tools/unicontrol_reference.py --repo ... --full-count   # full-size parameter count
"""
import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import types

import numpy as np
import torch
from safetensors.torch import save_file

torch.set_grad_enabled(False)

TASKS = ["hed", "canny", "seg", "depth", "normal", "openpose", "img", "hedsketch", "bbox", "outpainting",
         "grayscale", "blur", "inpainting"]
TESTED = ["canny", "depth", "hedsketch", "inpainting"]


def extract_reference(repo, dest):
    """cldm/ and ldm/ of the reference at HEAD (bare clone) or from a work tree."""
    if os.path.isdir(os.path.join(repo, "cldm")):
        for d in ("cldm", "ldm"):
            subprocess.run(["cp", "-r", os.path.join(repo, d), dest], check=True)
    else:
        data = subprocess.run(["git", "--git-dir", repo, "archive", "HEAD", "cldm", "ldm"], check=True,
                              capture_output=True).stdout
        tarfile.open(fileobj=io.BytesIO(data)).extractall(dest, filter="data")
    sys.path.insert(0, dest)


def install_stubs():
    """pytorch_lightning and omegaconf: names the model code imports, nothing it runs here."""
    pl = types.ModuleType("pytorch_lightning")
    pl.LightningModule = torch.nn.Module
    pl.seed_everything = lambda *a, **k: None
    pl.Callback = object
    util = types.ModuleType("pytorch_lightning.utilities")
    dist = types.ModuleType("pytorch_lightning.utilities.distributed")
    dist.rank_zero_only = lambda f: f
    util.distributed = dist
    util.rank_zero_only = dist.rank_zero_only
    pl.utilities = util
    sys.modules.update({"pytorch_lightning": pl, "pytorch_lightning.utilities": util,
                        "pytorch_lightning.utilities.distributed": dist})
    oc = types.ModuleType("omegaconf")

    class ListConfig(list):
        pass

    oc.ListConfig = ListConfig
    oc.OmegaConf = type("OmegaConf", (), {})
    lc = types.ModuleType("omegaconf.listconfig")
    lc.ListConfig = ListConfig
    oc.listconfig = lc
    sys.modules.update({"omegaconf": oc, "omegaconf.listconfig": lc})


TINY = dict(image_size=32, in_channels=4, hint_channels=3, model_channels=32, attention_resolutions=[2],
            num_res_blocks=1, channel_mult=[1, 1], num_heads=8, use_spatial_transformer=True,
            transformer_depth=1, context_dim=16, use_checkpoint=False, legacy=False)
FULL = dict(image_size=32, in_channels=4, hint_channels=3, model_channels=320, attention_resolutions=[4, 2, 1],
            num_res_blocks=2, channel_mult=[1, 2, 4, 4], num_heads=8, use_spatial_transformer=True,
            transformer_depth=1, context_dim=768, use_checkpoint=False, legacy=False)


def mix32(x):
    """lowbias32, on uint64 arrays holding uint32 values."""
    m = np.uint64(0xFFFFFFFF)
    x = x ^ (x >> np.uint64(16))
    x = (x * np.uint64(0x7FEB352D)) & m
    x = x ^ (x >> np.uint64(15))
    x = (x * np.uint64(0x846CA68B)) & m
    return x ^ (x >> np.uint64(16))


def fnv1a32(text):
    h = 0x811C9DC5
    for b in text.encode():
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def weight_values(name, shape):
    """The weights of parameter `name` (its name in the checkpoint): q × 2^-k, q in -15..15 from
    a hash of (name, index), k the smallest with 15 × 2^-k <= gain / sqrt(fan_in), gain 4 on the
    hint path (names with "hint": else its output would be too small beside the latents' to
    tell the tasks apart), 1.7 elsewhere. The C++ test makes the same values
    (tests/unit/test_unicontrol.cpp)."""
    n = int(np.prod(shape)) if len(shape) else 1
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 4
    gain = 4.0 if "hint" in name else 1.7
    k = 0
    while 15.0 * 2.0 ** -k > gain / np.sqrt(float(fan_in)):
        k += 1
    seed = np.uint64(fnv1a32(name))
    q = (mix32(seed ^ mix32(np.arange(n, dtype=np.uint64))) % np.uint64(31)).astype(np.int64) - 15
    return torch.from_numpy(q.reshape(shape).astype(np.float32) * np.float32(2.0 ** -k))


def set_weights(model):
    """Every parameter from weight_values; returns the sum of squares (a checksum for the C++ side)."""
    total = 0.0
    for name, p in model.state_dict().items():
        w = weight_values("control_model." + name, list(p.shape))
        p.copy_(w)
        total += float((w.double() ** 2).sum())
    return total


def run_task(net, task, x, hint, t, ctx, feature):
    outs = net(x=x, hint=hint, timesteps=t, context=ctx, task={"name": "control_" + task, "feature": feature})
    return outs[:-1], outs[-1]


def check_clip():
    """Position 0 of a random CLIPTextModel's last hidden state for two different instructions."""
    from transformers import CLIPTextConfig, CLIPTextModel
    torch.manual_seed(3)
    m = CLIPTextModel(CLIPTextConfig(vocab_size=1000, hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                                     num_attention_heads=4, max_position_embeddings=77)).eval()
    a = torch.tensor([[999, 11, 22, 33] + [998] * 73])
    b = torch.tensor([[999, 500, 7] + [998] * 74])
    ha, hb = m(input_ids=a).last_hidden_state, m(input_ids=b).last_hidden_state
    return {"clip_position0_equal": bool(torch.equal(ha[:, 0], hb[:, 0])),
            "clip_position1_max_difference": float((ha[:, 1] - hb[:, 1]).abs().max())}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo", required=True, help="salesforce/UniControl checkout or bare clone")
    ap.add_argument("--out", help="fixture folder (tests/data/unicontrol)")
    ap.add_argument("--full-count", action="store_true", help="print the full-size control model's parameter count")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="unicontrol-ref-")
    extract_reference(a.repo, tmp)
    install_stubs()
    from cldm import cldm_unicontrol as v10
    from cldm import cldm_unicontrol_v11 as v11

    if a.full_count:
        net = v10.ControlNet(**FULL)
        n = sum(p.numel() for p in net.parameters())
        print(json.dumps({"parameters": n, "tensors": len(net.state_dict())}))
        return
    os.makedirs(a.out, exist_ok=True)
    torch.manual_seed(0)
    nets = {"v10": v10.ControlNet(**TINY).eval(), "v11": v11.ControlNet(**TINY).eval()}
    checksum = set_weights(nets["v10"])
    nets["v11"].load_state_dict(nets["v10"].state_dict())
    g = torch.Generator().manual_seed(5)
    x = torch.randn(2, 4, 4, 4, generator=g)
    t = torch.tensor([999, 421])
    ctx = torch.randn(2, 5, 16, generator=g)
    hint = torch.rand(2, 3, 32, 32, generator=g)
    feature = torch.randn(1, 1, 768, generator=g) * 0.5
    io_ = {"x": x, "t": t, "context": ctx, "hint": hint, "task_feature": feature.reshape(768)}
    for v, net in nets.items():
        for task in TESTED:
            downs, mid = run_task(net, task, x, hint, t, ctx, feature)
            for i, d in enumerate(downs):
                io_[f"{v}.{task}.down.{i}"] = d
            io_[f"{v}.{task}.mid"] = mid
    # Task mixing (gen's extension, docs/unicontrol.md): the per-task hint-block outputs
    # weighted and summed, the rest of the reference forward unchanged. The reference has no
    # such call: its per-task blocks are swapped for one module that returns the weighted sum.
    mix = {"canny": 0.6, "depth": 0.4}
    for v, net in nets.items():
        blocks = net.input_hint_block_list_moe
        parts = {k: blocks[net.tasks_to_id["control_" + k]] for k in mix}

        class Mixed(torch.nn.Module):
            def forward(self, h, emb, context):
                return sum(w * parts[k](h, emb, context) for k, w in mix.items())

        slot = net.tasks_to_id["control_canny"]
        blocks[slot] = Mixed()
        downs, mid = run_task(net, "canny", x, hint, t, ctx, feature)
        blocks[slot] = parts["canny"]
        for i, d in enumerate(downs):
            io_[f"{v}.mix.down.{i}"] = d
        io_[f"{v}.mix.mid"] = mid
    save_file({k: v.contiguous() for k, v in io_.items()}, os.path.join(a.out, "unicontrol_tiny_io.safetensors"))
    facts = {"config": TINY, "tasks": TESTED, "mix": mix, "downs": len(downs), "weights_sum_of_squares": checksum,
             "parameters": sum(p.numel() for p in nets["v10"].parameters()),
             "reference": "salesforce/UniControl cldm/cldm_unicontrol.py, cldm/cldm_unicontrol_v11.py"}
    facts.update(check_clip())
    with open(os.path.join(a.out, "unicontrol_tiny.json"), "w") as f:
        json.dump(facts, f, indent=1, sort_keys=True)
    print(json.dumps(facts))


if __name__ == "__main__":
    main()
