#!/usr/bin/env python3
"""Writes the pickled-checkpoint fixtures of tests/data/pickle/ and expected.json.

Run with the project venv:  $(bash scripts/venv.sh)/bin/python tools/make_pickle_fixtures.py

Good files are written by torch.save; the expected values in expected.json are
computed from what torch.load(weights_only=True) gives back for each file, never
written by hand. Hostile files (an os.system / eval payload) are raw pickle bytes
put in a torch-style zip: they are never unpickled here.
"""
import collections
import io
import json
import os
import pickle
import sys
import zipfile

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "pickle")
WRAPPERS = ["state_dict", "model_state_dict", "module", "model", "params"]
DTYPES = {
    torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL", torch.uint16: "U16", torch.float8_e4m3fn: "F8_E4M3",
}
FLOATS = (torch.float32, torch.float16, torch.bfloat16, torch.float64)


def fnv1a64(data: bytes) -> str:
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def raw(t: torch.Tensor) -> bytes:
    return t.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def canonical_nan(h: torch.Tensor, src: torch.Tensor, quiet: int) -> bytes:
    """Bytes of a 16-bit float tensor with each NaN as `quiet` plus the sign of the source.

    torch's NaN bit patterns differ between its scalar and vectorised CPU paths (bf16 NaN
    comes out as 0x7FC0 or 0xFFFF); gen writes sign | 0x7E00 (fp16) or sign | 0x7FC0 (bf16).
    Every other value is compared bit for bit with what torch computed.
    """
    bits = h.contiguous().reshape(-1).view(torch.int16).to(torch.int32) & 0xFFFF
    src = src.detach().contiguous().reshape(-1)
    sign = torch.signbit(src.float()).to(torch.int32) * 0x8000
    bits = torch.where(h.reshape(-1).isnan(), sign | quiet, bits)
    return bits.numpy().astype("<u2").tobytes()


def flatten(obj, name, out, dropped):
    """The flattening rule of src/io/torch_checkpoint.hpp, on what torch.load returned."""
    if isinstance(obj, torch.Tensor):
        out[name] = obj
    elif isinstance(obj, (dict, list, tuple)):
        items = obj.items() if isinstance(obj, dict) else enumerate(obj)
        if name and not has_tensor(obj):
            dropped.append(name)
            return
        for k, v in items:
            flatten(v, f"{name}.{k}" if name else str(k), out, dropped)
    else:
        dropped.append(name)


def has_tensor(obj):
    if isinstance(obj, torch.Tensor):
        return True
    if isinstance(obj, dict):
        return any(has_tensor(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return any(has_tensor(v) for v in obj)
    return False


def expected_for(path):
    # weights_only=True does not know the FRAME opcode of protocol 4; that one file was
    # written by this script a moment ago, so loading it fully is safe.
    obj = torch.load(path, weights_only="protocol4" not in path)
    root, state, dropped = "", obj, []
    if not any(isinstance(v, torch.Tensor) for v in obj.values()):
        for k in WRAPPERS:
            if isinstance(obj.get(k), dict):
                root, state = k, obj[k]
                dropped += [x for x in obj if x != k]
                break
    tensors = {}
    flatten(state, "", tensors, dropped)
    entry = {"root": root, "dropped": dropped, "tensors": {}}
    for name, t in tensors.items():
        e = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "fnv": fnv1a64(raw(t))}
        if t.dtype in FLOATS:
            h = t.detach().half()
            e["fnv_f16"] = fnv1a64(canonical_nan(h, t, 0x7E00))
            e["fnv_bf16"] = fnv1a64(canonical_nan(t.detach().bfloat16(), t, 0x7FC0))
            e["f16_overflow"] = int((h.isinf() & t.detach().float().isfinite()).sum())
            e["first"] = [float(x) for x in t.detach().float().reshape(-1)[:4]]
        entry["tensors"][name] = e
    return entry


def torch_style_zip(path, pickle_bytes, top):
    """A zip laid out like torch.save's, around pickle bytes we never load."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr(f"{top}/data.pkl", pickle_bytes)
        z.writestr(f"{top}/byteorder", "little")
        z.writestr(f"{top}/version", "3\n")


class Config:  # a user class: its instance must be refused
    def __init__(self):
        self.lr = 0.1


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))
    p = lambda name: os.path.join(OUT, name)
    torch.manual_seed(1234)
    good = {}

    # A plain fp32 state dict of a small module (OrderedDict with _metadata).
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.GroupNorm(2, 4), torch.nn.Linear(4, 5))
    torch.save(net.state_dict(), p("plain_fp32.pt"))
    good["plain_fp32.pt"] = True

    # An LDM-like checkpoint: tensors under 'state_dict', scalars beside them.
    sd = {
        "model.diffusion_model.in.weight": torch.randn(4, 4),
        "model.diffusion_model.in.bias": torch.randn(4),
        "first_stage_model.enc.weight": torch.randn(2, 3),
        "cond_stage_model.emb": torch.randn(5, 3),
    }
    torch.save({"state_dict": sd, "global_step": 5, "epoch": 2}, p("ldm.ckpt"))
    good["ldm.ckpt"] = True

    # Every dtype, and float values that exercise fp16 / bf16 rounding.
    special = torch.tensor(
        [0.0, -0.0, 1.0, -1.0, 65504.0, 65519.0, 65520.0, 1e6, -1e6, float("inf"), float("-inf"),
         float("nan"), -float("nan"), 6e-8, 2.0**-25, 2.0**-25 * 1.5, 2.0**-24, 1e-10, 3.4e38,
         1.00048828125, 1.00146484375, 1.0 + 2.0**-8, 1.0 + 3 * 2.0**-8, 5.9604645e-08, 6.1035156e-05,
         6.0975552e-05, -2.5e-06, 0.1, 1.0 / 3.0, 1e-40],
        dtype=torch.float32)
    dt = {
        "f32_special": special,
        "f32_random": torch.randn(16, 16) * 30,
        "f16": (torch.randn(3, 4) * 10).half(),
        "bf16": torch.randn(5).bfloat16(),
        "f64": torch.randn(2, 2, dtype=torch.float64),
        "i64": torch.arange(-3, 9, dtype=torch.int64).reshape(3, 4),
        "i32": torch.tensor([1, -2, 2**31 - 1], dtype=torch.int32),
        "i16": torch.tensor([7, -8], dtype=torch.int16),
        "i8": torch.tensor([-128, 127], dtype=torch.int8),
        "u8": torch.tensor([0, 255, 3], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "u16": torch.tensor([1, 65535, 300]).to(torch.uint16),
        "f8": torch.tensor([0.5, -2.0, 448.0]).to(torch.float8_e4m3fn),
    }
    torch.save(dt, p("dtypes.pt"))
    good["dtypes.pt"] = True

    # Views: non-contiguous, offsets, stride 0, shared storages, a Parameter, nesting.
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    shared = torch.randn(10)
    views = {
        "base": base,
        "transposed": base.t(),
        "row": base[2],
        "col": base[:, 1],
        "block": base[1:3, 2:5],
        "expanded": torch.arange(3.0).expand(4, 3),
        "head": shared[:4],
        "tail": shared[6:],
        "param": torch.nn.Parameter(torch.randn(3)),
        "scalar": torch.tensor(3.5),
        "empty": torch.zeros(0, 3),
        "nested": {"a": torch.ones(2, 2), "list": [torch.zeros(2), torch.full((3,), 2.0)], "hp": {"lr": 0.1}},
        "step": 7,
        "name": "hello",
    }
    torch.save(views, p("views.pt"))
    good["views.pt"] = True

    # Pickle protocol 4 (FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL).
    torch.save({"a": torch.randn(2, 3), "b": torch.arange(4)}, p("protocol4.pt"), pickle_protocol=4)
    good["protocol4.pt"] = True

    # Hostile: os.system through GLOBAL + REDUCE (protocol 2), raw bytes, never loaded.
    cmd = b"touch /tmp/gen-pwned"
    payload = (b"\x80\x02}q\x00X\x01\x00\x00\x00wq\x01cposix\nsystem\nq\x02X" +
               len(cmd).to_bytes(4, "little") + cmd + b"\x85q\x03Rq\x04s.")
    torch_style_zip(p("malicious_reduce.pt"), payload, "malicious_reduce")
    # Hostile: builtins.eval through STACK_GLOBAL (protocol 4).
    expr = b"__import__('os').system('touch /tmp/gen-pwned')"
    payload = (b"\x80\x04}\x94\x8c\x01x\x94\x8c\x08builtins\x94\x8c\x04eval\x94\x93\x94\x8c" +
               bytes([len(expr)]) + expr + b"\x94\x85\x94R\x94s.")
    torch_style_zip(p("malicious_eval.pt"), payload, "archive")

    # A user class instance beside a tensor; a numpy array beside a tensor.
    torch.save({"w": torch.ones(2), "cfg": Config()}, p("user_class.pt"))
    torch.save({"w": torch.ones(2), "arr": np.arange(3)}, p("numpy_entry.pt"))
    # The legacy (pre-1.6) format, a lone tensor, a bare pickle.
    torch.save({"w": torch.ones(2)}, p("legacy.pt"), _use_new_zipfile_serialization=False)
    torch.save(torch.ones(2), p("tensor_only.pt"))
    torch.save({"global_step": 1, "epoch": 0}, p("no_tensors.pt"))
    with open(p("bare.pkl"), "wb") as f:
        pickle.dump({"a": 1}, f, protocol=2)
    # A truncated archive and a deflate-compressed one.
    data = open(p("plain_fp32.pt"), "rb").read()
    open(p("truncated.pt"), "wb").write(data[: len(data) // 2])
    with zipfile.ZipFile(p("plain_fp32.pt")) as src, zipfile.ZipFile(p("deflated.pt"), "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))

    expected = {"files": {name: expected_for(p(name)) for name in good}}
    with open(p("expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")
    total = sum(os.path.getsize(p(n)) for n in os.listdir(OUT))
    print(f"wrote {len(os.listdir(OUT))} files, {total} bytes, to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    sys.exit(main())
