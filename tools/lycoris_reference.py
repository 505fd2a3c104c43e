#!/usr/bin/env python3
"""LyCORIS reference fixtures, computed by the reference package itself (lycoris-lora 4.1.3).

Two commands:

    python tools/lycoris_reference.py deltas --out tests/data/adapters
    python tools/lycoris_reference.py render --models DIR --out OUT

`deltas` writes one tiny safetensors file per case, lyco-<case>.safetensors: the adapter tensors
exactly as lycoris' module writes them (its own state_dict, keyed `lora_unet_m.<role>`), plus

    expected.weight       W, the random fp32 base weight of the target layer
    expected.delta        ΔW that lycoris adds to W at multiplier 1 (scale alpha/rank included);
                          for DoRA the low-rank ΔW *before* the weight decomposition
    expected.merged       the layer weight lycoris uses at multiplier 1
    expected.merged_half  the same at multiplier 0.5

"The weight lycoris uses" is what the module's forward (rebuild mode, the default; bypass mode
agrees) composes from lycoris' own functions:

    LoCon  ΔW = LoConModule.make_weight() * scale            (modules/locon.py, forward)
    LoHa   ΔW = LohaModule.get_weight(shape) * scalar         (modules/loha.py, forward)
    LoKr   ΔW = LokrModule.get_weight(shape) * scalar         (modules/lokr.py, _rebuild_forward)
    W'(m)  = W + m·ΔW, or apply_weight_decompose(W + ΔW, m) with DoRA
             (functional/general.py weight_decompose)

and each is checked against the module's forward on random inputs. lycoris' merge path
(get_merged_weight / merge_to) multiplies LoHa's and LoKr's ΔW by the scale a second time
(get_weight already includes it, get_diff_weight multiplies again), so where that differs the
file also holds expected.merged_merge_to / expected.merged_half_merge_to, what
LycorisBaseModule.merge_to writes, and the metadata says merge_to_differs=true.

Each file is also read back with lycoris' own loader (modules.get_module + make_module, what
kohya.create_network_from_weights uses); the metadata key lycoris_loader says whether that
reproduces expected.merged ("ok") or why not.

`render` makes LoHa, LoKr and LoCon-with-Tucker networks with lycoris' kohya-compatible
network (lycoris.kohya.create_network, prefixes lora_unet / lora_te) on the tiny SD 1.5
diffusers pipeline written by make_tiny_models.py, randomises the zero-initialised factors,
saves them with the network's save_weights into OUT/loras/<name>.safetensors, renders each at
multiplier 0.8 with Euler, and writes OUT/<case>-0.png and OUT/cases.json in the format of
diffusers_lora_reference.py (name, batch, gen args, infotext), plus OUT/lycoris_info.json with
each case's largest pixel difference from the same request without the adapter.
"""
import argparse
import json
import os
import sys
import time
import zlib

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

NAME = "lora_unet_m"
FACTOR_STD = 0.5  # every adapter factor ~ N(0, 0.5²): ΔW comes out the size of W, so a wrong scale shows

# name, algo, layer, (out, in[, k]), rank, alpha, module kwargs, notes
CASES = [
    ("locon-linear", "locon", "linear", (10, 12), 4, 2, {}),
    ("locon-conv", "locon", "conv", (8, 6, 3), 4, 2, {}),
    ("locon-conv-tucker", "locon", "conv", (8, 6, 3), 4, 2, dict(use_tucker=True)),
    ("loha-linear", "loha", "linear", (10, 12), 4, 2, {}),
    ("loha-conv", "loha", "conv", (8, 6, 3), 4, 2, {}),
    ("loha-conv-tucker", "loha", "conv", (8, 6, 3), 4, 2, dict(use_tucker=True)),
    # w1 (2, 3), w2 (5, 4): both full, so lycoris forces alpha = rank (scale 1)
    ("lokr-linear-full", "lokr", "linear", (10, 12), 4, 2, dict(full_matrix=True)),
    # the same tensors with a stored alpha that is not the rank: lycoris ignores it (both halves full)
    ("lokr-linear-full-alpha", "lokr", "linear", (10, 12), 4, 2, dict(full_matrix=True, _alpha_in_file=2.0)),
    # factor 2: out 20 = 2·10, in 24 = 2·12, w1 (2, 2) full, w2 = w2_a (10, 4) @ w2_b (4, 12)
    ("lokr-linear-w2-lowrank", "lokr", "linear", (20, 24), 4, 2, dict(factor=2)),
    # out 20 = 4·5, in 36 = 6·6; rank 2 (rank 4 needs a w1 side over 8, i.e. a layer of >80 features)
    ("lokr-linear-both-lowrank", "lokr", "linear", (20, 36), 2, 1, dict(decompose_both=True)),
    # conv 8→10 k3: w1 (2, 2), w2 = tucker(t2 (2, 2, 3, 3), w2_a (2, 5), w2_b (2, 4)); rank 2 as above
    ("lokr-conv-tucker", "lokr", "conv", (10, 8, 3), 2, 1, dict(use_tucker=True)),
    # conv without tucker: w2_b is stored flattened, (rank, in_n·kh·kw)
    ("lokr-conv", "lokr", "conv", (10, 8, 3), 2, 1, {}),
    ("dora-linear", "locon", "linear", (10, 12), 4, 2, dict(weight_decompose=True)),
    ("dora-conv", "locon", "conv", (8, 6, 3), 4, 2, dict(weight_decompose=True)),
    ("loha-dora-linear", "loha", "linear", (10, 12), 4, 2, dict(weight_decompose=True)),
    # wd_on_out=False (kohya arg wd_on_output=False): dora_scale (1, in), the norm per input column
    ("dora-linear-wd-in", "locon", "linear", (10, 12), 4, 2, dict(weight_decompose=True, wd_on_out=False)),
]


def module_class(algo):
    from lycoris.modules.locon import LoConModule
    from lycoris.modules.loha import LohaModule
    from lycoris.modules.lokr import LokrModule
    return {"locon": LoConModule, "loha": LohaModule, "lokr": LokrModule}[algo]


def make_layer(layer, shape):
    if layer == "linear":
        return nn.Linear(shape[1], shape[0], bias=False)
    return nn.Conv2d(shape[1], shape[0], shape[2], padding=shape[2] // 2, bias=False)


def forward_delta(m):
    """ΔW at multiplier 1 exactly as the module's rebuild forward builds it."""
    if m.name == "locon":
        return m.make_weight() * m.scale  # LoConModule.forward: make_weight(device) * self.scale
    return m.get_weight(m.shape) * m.scalar  # Loha/LokrModule forward: get_weight(self.shape) * scalar


def forward_merged(m, w, delta, mult):
    """The weight the module's forward uses at multiplier mult (new_weight in its forward)."""
    if m.wd:
        return m.apply_weight_decompose(w + delta, mult)
    return w + delta * mult


def check_forward(m, layer, merged, mult, gen):
    """The module's own forward equals op(x, merged) at multiplier mult."""
    if isinstance(layer, nn.Linear):
        x = torch.randn(5, layer.in_features, generator=gen)
        want = F.linear(x, merged)
    else:
        x = torch.randn(2, layer.in_channels, 7, 5, generator=gen)
        want = F.conv2d(x, merged, padding=layer.padding)
    m.multiplier = mult
    got = layer(x)  # apply_to() replaced layer.forward by the module's
    err = (got - want).abs().max().item()
    assert err < 1e-4 * max(1.0, want.abs().max().item()), (mult, err)
    return err


def lycoris_loader_check(sd, w, layer_kind, shape, want, want_half):
    """Read the stored tensors back with lycoris' own loader and compare its forward weight."""
    from lycoris.modules import get_module, make_module
    try:
        layer = make_layer(layer_kind, shape)
        layer.weight.data.copy_(w)
        cls, params = get_module(sd, NAME)
        if cls is None:
            return "not recognised by lycoris.modules.get_module"
        m = make_module(cls, params, NAME, layer)
        if m is None:
            return f"{cls.__name__}.make_module_from_state_dict not implemented"
        delta = forward_delta(m)
        got = forward_merged(m, w, delta, 1.0)
        got_half = forward_merged(m, w, delta, 0.5)
        err = max((got - want).abs().max().item(), (got_half - want_half).abs().max().item())
        if err > 1e-5:
            return f"differs by {err:.3g} (scale {m.scale})"
        return "ok"
    except Exception as e:  # noqa: BLE001 - the failure itself is the finding
        return f"fails: {type(e).__name__}: {str(e).splitlines()[0][:160]}"


def make_case(name, algo, layer_kind, shape, rank, alpha, kwargs):
    kwargs = dict(kwargs)
    alpha_in_file = kwargs.pop("_alpha_in_file", None)
    seed = zlib.crc32(name.replace("-alpha", "").encode())  # the -alpha variant shares its tensors
    torch.manual_seed(seed)  # lycoris' own inits draw from the global generator; all overwritten below
    gen = torch.Generator().manual_seed(seed)
    layer = make_layer(layer_kind, shape)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(layer.weight.shape, generator=gen))
    w = layer.weight.detach().clone()
    cls = module_class(algo)
    m = cls(NAME, layer, 1.0, lora_dim=rank, alpha=alpha, **kwargs)
    with torch.no_grad():
        for pname, p in m.named_parameters():
            if pname == "dora_scale":  # trained magnitudes: the initial ‖W‖ per row/column, perturbed
                p.mul_(1 + 0.2 * torch.randn(p.shape, generator=gen))
            else:  # lycoris zero-inits one factor; every factor random here
                p.copy_(torch.randn(p.shape, generator=gen) * FACTOR_STD)
    m.eval()
    m.apply_to()
    with torch.no_grad():
        sd = {k: v.detach().clone().contiguous() for k, v in m.state_dict(prefix=NAME + ".").items()}
        if alpha_in_file is not None:
            sd[NAME + ".alpha"] = torch.tensor(alpha_in_file)
        delta = forward_delta(m)
        merged = forward_merged(m, w, delta, 1.0)
        merged_half = forward_merged(m, w, delta, 0.5)
        err = max(check_forward(m, layer, merged, 1.0, gen), check_forward(m, layer, merged_half, 0.5, gen))
        merge_to = m.get_merged_weight(multiplier=1.0, shape=w.shape)[0]  # as merge_to passes it
        merge_to_half = m.get_merged_weight(multiplier=0.5, shape=w.shape)[0]
    m.restore()
    differs = (merge_to - merged).abs().max().item() > 1e-6 or (merge_to_half - merged_half).abs().max().item() > 1e-6
    tensors = dict(sd)
    tensors["expected.weight"] = w
    tensors["expected.delta"] = delta
    tensors["expected.merged"] = merged
    tensors["expected.merged_half"] = merged_half
    if differs:
        tensors["expected.merged_merge_to"] = merge_to
        tensors["expected.merged_half_merge_to"] = merge_to_half
    tensors = {k: v.detach().contiguous() for k, v in tensors.items()}
    fn = {"locon": "LoConModule.make_weight()*scale", "loha": "LohaModule.get_weight(shape)*scalar",
          "lokr": "LokrModule.get_weight(shape)*scalar"}[algo]
    source = (f"lycoris-lora 4.1.3 {fn} (its forward's ΔW); merged: "
              + ("apply_weight_decompose(W + ΔW, multiplier)" if m.wd else "W + ΔW·multiplier")
              + ", as the module's rebuild forward; *_merge_to: get_merged_weight(multiplier)")
    meta = {
        "case": name, "layer": layer_kind, "source": source, "algo": cls.__name__,
        "shape": ",".join(str(s) for s in w.shape), "rank": str(rank),
        "alpha": str(float(sd[NAME + ".alpha"])), "scale": repr(float(m.scale)),
        "multiplier_half": "0.5", "dora": str(bool(m.wd)).lower(),
        "wd_on_out": str(bool(getattr(m, "wd_on_out", True))).lower() if m.wd else "",
        "merge_to_differs": str(differs).lower(),
        "forward_check_max_err": f"{err:.3g}",
        "module_kwargs": json.dumps(dict(kwargs, lora_dim=rank, alpha=alpha), sort_keys=True),
        "lycoris_loader": lycoris_loader_check(sd, w, layer_kind, shape, merged, merged_half),
    }
    return tensors, meta, m


def save_sorted(tensors, path, metadata):
    """safetensors.torch.save with the header's JSON keys sorted: the metadata map comes out of
    safetensors in hash order, which changes from run to run; sorted, reruns give identical bytes.
    Offsets are relative to the data section, so only the header text (padded to 8) changes."""
    import struct
    from safetensors.torch import save
    raw = save(tensors, metadata=metadata)
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.dumps(json.loads(raw[8:8 + n]), sort_keys=True, separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header + raw[8 + n:])


def cmd_deltas(a):
    torch.set_num_threads(1)  # same reduction order on every run: identical bytes
    torch.set_grad_enabled(True)
    os.makedirs(a.out, exist_ok=True)
    rows = []
    for name, algo, layer_kind, shape, rank, alpha, kwargs in CASES:
        tensors, meta, m = make_case(name, algo, layer_kind, shape, rank, alpha, kwargs)
        path = os.path.join(a.out, f"lyco-{name}.safetensors")
        save_sorted(tensors, path, meta)
        size = os.path.getsize(path)
        assert size < 20 * 1024, (path, size)
        roles = {k[len(NAME) + 1:]: (tuple(v.shape), str(v.dtype).replace("torch.", ""))
                 for k, v in tensors.items() if k.startswith(NAME + ".")}
        rel = (tensors["expected.delta"].norm() / tensors["expected.weight"].norm()).item()
        rows.append(name)
        print(f"{name}: {size} B, scale {meta['scale']}, |ΔW|/|W| {rel:.2f}, merge_to_differs "
              f"{meta['merge_to_differs']}, lycoris_loader {meta['lycoris_loader']}")
        print("    " + ", ".join(f"{k} {list(s)} {d}" for k, (s, d) in roles.items()))
    return rows


# ------------------------------------------------------------------------------------------------
# render

RENDER = [
    # name, create_network kwargs (rank/alpha for linear and conv), zero-init roles to randomise, std
    ("loha", dict(algo="loha", network_dim=4, network_alpha=2, conv_dim=4, conv_alpha=2),
     {"hada_w2_a": 0.05}),
    ("lokr", dict(algo="lokr", network_dim=2, network_alpha=1, conv_dim=2, conv_alpha=1, decompose_both=True),
     {"lokr_w2": 0.05, "lokr_w2_b": 0.05}),
    ("locon_tucker", dict(algo="locon", network_dim=4, network_alpha=2, conv_dim=4, conv_alpha=2, use_tucker=True),
     {"lora_up.weight": 0.05}),
]
MULT = 0.8
# lycoris 4.1.3's "full" preset lists both the TimestepEmbedding class (for Anima) and the names
# time_embedding.linear_1/2, so on an SD UNet it builds lora_unet_time_embedding_linear_1 twice and
# LycorisNetworkKohya asserts "duplicated lora name". This is "full" for SD 1.x/2.x/XL (lycoris 3.x's
# list): the same modules and key names, each once.
SD_PRESET = dict(
    enable_conv=True,
    unet_target_module=["Transformer2DModel", "ResnetBlock2D", "Downsample2D", "Upsample2D"],
    unet_target_name=["conv_in", "conv_out", "time_embedding.linear_1", "time_embedding.linear_2"],
    text_encoder_target_module=["CLIPAttention", "CLIPSdpaAttention", "CLIPMLP"],
    text_encoder_target_name=[],
)


def te_root(pipe):
    """The text encoder as kohya / lycoris name it in users' files: transformers 5 flattened
    CLIPTextModel (its modules are encoder.layers.N...), transformers 4 had them under
    text_model., which is where lora_te_text_model_encoder_layers_N_... comes from. Wrapping the
    same module object under text_model gives lycoris' own naming those keys back."""
    root = nn.Module()
    root.text_model = pipe.text_encoder
    if any(n.startswith("text_model.text_model.") for n, _ in root.named_modules()):
        return pipe.text_encoder  # transformers 4: already there
    return root


def reload_check(model_dir, path, net, load):
    """Read the saved file back with lycoris' create_network_from_weights and compare each
    module's forward ΔW with the network that wrote it."""
    from lycoris.kohya import create_network_from_weights
    pipe = load()
    try:
        net2, _ = create_network_from_weights(MULT, path, pipe.vae, te_root(pipe), pipe.unet)
    except Exception as e:  # noqa: BLE001 - the failure is the finding
        return f"fails: {type(e).__name__}: {str(e).splitlines()[0][:160]}"
    mine = {m.lora_name: m for m in net.loras}
    theirs = {m.lora_name: m for m in net2.unet_loras + net2.text_encoder_loras}
    if set(mine) != set(theirs):
        return f"module sets differ: {len(mine)} written, {len(theirs)} read"
    worst = max((forward_delta(mine[k]) - forward_delta(theirs[k])).abs().max().item() for k in mine)
    return "ok" if worst < 1e-6 else f"forward ΔW differs by {worst:.3g}"


def build_network(pipe, kw, roles, seed):
    from lycoris.kohya import create_network
    import tempfile
    import toml
    kw = dict(kw)
    dim, alpha = kw.pop("network_dim"), kw.pop("network_alpha")
    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory() as tmp:
        preset = os.path.join(tmp, "sd.toml")
        with open(preset, "w") as f:
            toml.dump(SD_PRESET, f)
        net = create_network(MULT, dim, alpha, pipe.vae, te_root(pipe), pipe.unet, preset=preset, **kw)
    net.apply_to(pipe.text_encoder, pipe.unet, apply_text_encoder=True, apply_unet=True)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for lora in net.loras:  # network order: text encoder first, then UNet, fixed by the models
            for pname, p in lora.named_parameters():
                std = roles.get(pname)
                if std is not None:
                    p.copy_(torch.randn(p.shape, generator=gen) * std)
    net.eval()
    return net


def cmd_render(a):
    import diffusers
    import numpy as np
    from diffusers import StableDiffusionPipeline
    from PIL import Image
    t0 = time.time()
    torch.set_grad_enabled(False)
    os.makedirs(a.out, exist_ok=True)
    loras = os.path.join(a.out, "loras")
    os.makedirs(loras, exist_ok=True)
    model = os.path.join(a.models, "diffusers", "tiny-sd15-pipeline")

    def load():
        pipe = StableDiffusionPipeline.from_pretrained(model, safety_checker=None, requires_safety_checker=False)
        pipe.scheduler = diffusers.EulerDiscreteScheduler.from_config(pipe.scheduler.config)
        return pipe

    prompt, negative, seed, steps, cfg, w, h = "a red house by the sea", "fog", 5, 4, 7.5, 80, 64

    def draw(pipe, s):
        g = torch.Generator().manual_seed(s)
        images = pipe(prompt=prompt, negative_prompt=negative, num_inference_steps=steps, guidance_scale=cfg,
                      generator=g, width=w, height=h, output_type="np").images
        return (images[0] * 255).round().astype(np.uint8)

    base_pipe = load()
    cases = [("none", None, None)] + [(n, kw, roles) for n, kw, roles in RENDER]
    out_cases, info = [], []
    for k, (name, kw, roles) in enumerate(cases):
        s = seed + k
        args = ["-p", prompt, "-n", negative, "-m", model, "-W", str(w), "-H", str(h),
                "--steps", str(steps), "--cfg-scale", str(cfg), "--sampler", "euler", "--seed", str(s)]
        plain = draw(base_pipe, s)
        if kw is None:
            img, row = plain, dict(name=name)
        else:
            pipe = load()
            net = build_network(pipe, kw, roles, 100 + k)
            path = os.path.join(loras, f"{name}.safetensors")
            net.save_weights(path, torch.float32, {"ss_network_module": "lycoris.kohya",
                                                  "ss_network_args": json.dumps({k2: str(v) for k2, v in kw.items()}),
                                                  "ss_base_model_version": "sd_v1"})
            img = draw(pipe, s)
            reload = reload_check(model, path, net, load)
            args += ["--lora", f"{path}:{MULT}"]
            kinds = {}
            for lora in net.loras:
                kinds[type(lora).__name__] = kinds.get(type(lora).__name__, 0) + 1
            row = dict(name=name, file=path, modules=len(net.loras), te_modules=len(net.text_encoder_loras),
                       unet_modules=len(net.unet_loras), module_types=kinds, lycoris_reload=reload,
                       max_diff_vs_no_lora=int(np.abs(img.astype(int) - plain.astype(int)).max()),
                       mean_diff_vs_no_lora=float(np.abs(img.astype(int) - plain.astype(int)).mean()))
            del net, pipe
        Image.fromarray(img).save(os.path.join(a.out, f"{name}-0.png"))
        out_cases.append(dict(name=name, batch=1, args=args, infotext=""))
        info.append(row)
        print(json.dumps(row), flush=True)
    with open(os.path.join(a.out, "cases.json"), "w") as f:
        json.dump(out_cases, f, indent=1)
    info.append(dict(wall_s=round(time.time() - t0, 1)))
    with open(os.path.join(a.out, "lycoris_info.json"), "w") as f:
        json.dump(info, f, indent=1)
    print(f"wall {time.time() - t0:.1f} s")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("deltas", help="per-kind ΔW / merge fixtures")
    d.add_argument("--out", required=True)
    r = sub.add_parser("render", help="end-to-end reference images")
    r.add_argument("--models", required=True, help="the --out folder of make_tiny_models.py")
    r.add_argument("--out", required=True)
    a = ap.parse_args()
    import lycoris  # noqa: F401
    from importlib.metadata import version
    if version("lycoris-lora") != "4.1.3":
        print(f"warning: lycoris-lora {version('lycoris-lora')}, fixtures were made with 4.1.3", file=sys.stderr)
    (cmd_deltas if a.cmd == "deltas" else cmd_render)(a)


if __name__ == "__main__":
    main()
