#!/usr/bin/env python3
"""A tiny UniControl file for the tests (tests/cli/test_unicontrol.sh, the docs test): the tiny
ControlNet's encoder (from an LDM file with control_model.*), its hint encoder replaced by
UniControl's parts with random values, the HyperNet as wide as the tiny text encoder.

    make_tiny_unicontrol.py CONTROL.safetensors TEXT_ENCODER_CONFIG.json OUT.safetensors
"""
import json, sys, torch
from safetensors.torch import load_file, save_file
src, te_cfg, out = sys.argv[1:4]
d = {k: v.float() for k, v in load_file(src).items() if k.startswith("control_model.") and ".input_hint_block." not in k}
g = torch.Generator().manual_seed(7)
C = d["control_model.input_blocks.0.0.weight"].shape[0]
D = json.load(open(te_cfg))["hidden_size"]
zero = sorted({int(k.split(".")[2]) for k in d if k.startswith("control_model.zero_convs.")})
def conv(name, i, o, k=3):
    d[name + ".weight"] = torch.randn(o, i, k, k, generator=g) / (i * k * k) ** 0.5 * 2
    d[name + ".bias"] = torch.randn(o, generator=g) * 0.1
def lin(name, i, o):
    d[name + ".weight"] = torch.randn(o, i, generator=g) / i ** 0.5
    d[name + ".bias"] = torch.randn(o, generator=g) * 0.1
p = "control_model."
lin(p + "task_id_hypernet.0", D, 4 * C); lin(p + "task_id_hypernet.2", 4 * C, 4 * C)
for i in zero:
    lin(p + f"task_id_layernet.{i}", 4 * C, d[p + f"zero_convs.{i}.0.weight"].shape[0])
for t in range(13):
    for j, (a, b) in zip((0, 2, 4), ((3, 16), (16, 16), (16, 32))):
        conv(p + f"input_hint_block_list_moe.{t}.{j}", a, b)
for j in (0, 1):
    conv(p + f"input_hint_block_zeroconv_0.{j}", 32, 32)
    conv(p + f"input_hint_block_zeroconv_1.{j}", 256, C)
lin(p + "task_id_layernet_zeroconv_0", 4 * C, 32); lin(p + "task_id_layernet_zeroconv_1", 4 * C, 256)
for j, (a, b) in zip((0, 2, 4, 6), ((32, 32), (32, 96), (96, 96), (96, 256))):
    conv(p + f"input_hint_block_share.{j}", a, b)
save_file({k: v.contiguous() for k, v in d.items()}, out)
