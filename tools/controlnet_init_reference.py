#!/usr/bin/env python3
"""Reference ControlNets made from the tiny bases of tests/data/layouts, for `gen controlnet init`.

Two references, run (not copied) on the same base weights:
  * diffusers:  ControlNetModel.from_unet(UNet2DConditionModel of the diffusers tiny-sd15 pipeline)
  * lllyasviel: tool_add_control.py's rule on the LDM tiny-sd15 / tiny-sd21 files: every key of a
    freshly built cldm.cldm.ControlNet (the repository's own class) is taken from the base's
    `model.diffusion_model.` key when present, else left at its initialisation.
    Needs the lllyasviel/ControlNet sources (--cldm DIR: the folder holding cldm/ and ldm/).
    cldm's normalization() hard-codes 32 groups, which the 4-channel tiny model cannot have: the
    group count is patched to the base's (it changes no parameter name or shape).

For each reference, tests/data/training/init_<name>.json: every tensor of the reference's output
under its names, with its kind: "copied" (with the name of the base tensor it is, bit for bit:
checked here, so the committed base file stands for the reference's values), "zero", or "random"
(shape and the bound of torch.nn.Conv2d's default init, uniform in +-1/sqrt(fan_in) for weight and
bias, checked here to hold for the reference's own values); and the reference's config.

    python tools/controlnet_init_reference.py --cldm /path/to/ControlNet [--out tests/data/training]
"""
import argparse
import json
import math
import os
import sys
import types

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")

import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
LAYOUTS = os.path.join(HERE, "..", "tests", "data", "layouts")


def bound_of(weight_shape):
    fan_in = 1
    for d in weight_shape[1:]:
        fan_in *= d
    return 1.0 / math.sqrt(fan_in)


def describe(state, base, random_names, weight_of, out, name, config):
    """Each tensor of the reference ControlNet: copied (bit for bit equal to the base tensor named
    `from`, checked here), zero, or random (shape and init bound, the reference's values checked
    to lie inside it)."""
    tensors = {}
    for k, v in state.items():
        v = v.detach().float()
        if k in random_names:
            b = bound_of(list(state[weight_of(k)].shape))
            assert v.abs().max().item() <= b, (k, v.abs().max().item(), b)
            tensors[k] = {"kind": "random", "shape": list(v.shape), "bound": b}
        elif bool((v == 0).all()):
            tensors[k] = {"kind": "zero", "shape": list(v.shape)}
        else:
            src = base[k][0]
            assert torch.equal(v, base[k][1].float()), k
            tensors[k] = {"kind": "copied", "shape": list(v.shape), "from": src}
    with open(os.path.join(out, f"init_{name}.json"), "w") as f:
        json.dump({"tensors": tensors, "config": config}, f, indent=0, sort_keys=True)
    kinds = [t["kind"] for t in tensors.values()]
    print(f"{name}: " + ", ".join(f"{kinds.count(x)} {x}" for x in ("copied", "zero", "random")))


def diffusers_reference(out):
    from diffusers import ControlNetModel, UNet2DConditionModel
    unet = UNet2DConditionModel.from_pretrained(os.path.join(LAYOUTS, "diffusers", "tiny-sd15-pipeline", "unet"))
    torch.manual_seed(0)
    cn = ControlNetModel.from_unet(unet)
    base = unet.state_dict()
    state = cn.state_dict()
    # Random: what from_unet neither copied nor zeroed (the hint encoder's inner convolutions).
    rnd = {k for k, v in state.items() if k.startswith("controlnet_cond_embedding.")
           and not (k.startswith("controlnet_cond_embedding.conv_out.") and bool((v == 0).all()))}
    for k, v in state.items():
        if k not in rnd and not k.startswith("controlnet_cond_embedding."):
            assert k in base or bool((v == 0).all()), k
    cfg = {k: v for k, v in dict(cn.config).items() if not k.startswith("_")}
    # from_unet copies by name: the UNet's tensor of the same name.
    src = {k: (k, base[k]) for k in state if k in base}
    describe(state, src, rnd, lambda k: k.rsplit(".", 1)[0] + ".weight", out, "diffusers_sd15", json.loads(json.dumps(cfg)))


def cldm_reference(out, cldm_dir, base_file, name, linear):
    sys.path.insert(0, cldm_dir)
    # Training / sampling classes cldm.py imports but ControlNet does not use, and omegaconf's
    # ListConfig (an isinstance check on YAML lists; the arguments here are plain lists).
    for mod, attrs in {"ldm.models.diffusion.ddpm": ["LatentDiffusion"], "ldm.models.diffusion.ddim": ["DDIMSampler"],
                       "omegaconf": [], "omegaconf.listconfig": ["ListConfig"]}.items():
        m = types.ModuleType(mod)
        for a in attrs:
            setattr(m, a, type(a, (object,), {}))
        sys.modules[mod] = m
    import ldm.modules.attention as attention
    import ldm.modules.diffusionmodules.openaimodel as openaimodel
    import cldm.cldm as cldm
    groups = 2
    openaimodel.normalization = lambda ch: torch.nn.GroupNorm(groups, ch)
    attention.Normalize = lambda ch: torch.nn.GroupNorm(groups, ch, eps=1e-6, affine=True)
    base = load_file(os.path.join(LAYOUTS, base_file))
    torch.manual_seed(0)
    net = cldm.ControlNet(image_size=32, in_channels=4, model_channels=4, hint_channels=3, num_res_blocks=1,
                          attention_resolutions=[1], channel_mult=(1, 2), num_heads=2, use_spatial_transformer=True,
                          transformer_depth=1, context_dim=4, legacy=False, use_linear_in_transformer=linear)
    scratch = {"control_model." + k: v for k, v in net.state_dict().items()}
    target, added, src = {}, set(), {}
    for k, v in scratch.items():  # tool_add_control.py's rule
        copy_k = "model.diffusion_" + k[len("control_"):]
        if copy_k in base:
            target[k] = base[copy_k].clone()
            src[k] = (copy_k, base[copy_k])
        else:
            target[k] = v.clone()
            added.add(k)
    rnd = {k for k in added if not bool((target[k] == 0).all())}
    assert all(k.startswith("control_model.input_hint_block.") for k in rnd), sorted(rnd)
    describe(target, src, rnd, lambda k: k.rsplit(".", 1)[0] + ".weight", out, name,
          {"hint_channels": [16, 32, 96, 256], "use_linear_in_transformer": linear})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cldm", required=True, help="a checkout of lllyasviel/ControlNet (cldm/, ldm/)")
    ap.add_argument("--out", default=os.path.join(HERE, "..", "tests", "data", "training"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    diffusers_reference(a.out)
    cldm_reference(a.out, a.cldm, "tiny-sd15.safetensors", "cldm_sd15", False)
    cldm_reference(a.out, a.cldm, "tiny-sd21.safetensors", "cldm_sd21", True)


if __name__ == "__main__":
    main()
