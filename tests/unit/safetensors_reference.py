"""Cross-check gen's safetensors code against the reference `safetensors` package.

Run by the gtest SafetensorsReference.BothDirections as: python safetensors_reference.py DIR

DIR/ours.json lists files gen wrote (name, dtype, shape, hex bytes per tensor and
the metadata); each must load with the reference, byte for byte. DIR/bad.json lists
malformed files gen rejects; the reference must reject each of them too.
Then this writes files with the reference (raw serialize for every dtype, and
torch's save_file) into DIR and describes them in DIR/ref.json for gen to read.
Exit status 0 when everything matches; messages on stderr otherwise.
"""
import json
import os
import sys

import numpy as np
import safetensors
import safetensors.numpy
import safetensors.torch
import torch


def fail(msg):
    print("MISMATCH: " + msg, file=sys.stderr)
    sys.exit(1)


def check_ours(d):
    with open(os.path.join(d, "ours.json")) as f:
        files = json.load(f)
    for entry in files:
        path = os.path.join(d, entry["file"])
        with open(path, "rb") as f:
            raw = f.read()
        got = {name: info for name, info in safetensors.deserialize(raw)}
        want = entry["tensors"]
        if sorted(got) != sorted(want):
            fail(f"{path}: names {sorted(got)} != {sorted(want)}")
        for name, w in want.items():
            g = got[name]
            if g["dtype"] != w["dtype"] or list(g["shape"]) != w["shape"]:
                fail(f"{path}: {name}: {g['dtype']} {g['shape']} != {w['dtype']} {w['shape']}")
            if bytes(g["data"]).hex() != w["hex"]:
                fail(f"{path}: {name}: bytes differ")
        with safetensors.safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
            if meta != entry["metadata"]:
                fail(f"{path}: metadata {meta} != {entry['metadata']}")
            for name in f.keys():
                if want[name]["dtype"] in ("F32", "F16", "BF16", "I64", "U8", "BOOL"):
                    t = f.get_tensor(name)  # through torch as well
                    if t.numel() and t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes().hex() != want[name]["hex"]:
                        fail(f"{path}: {name}: torch tensor bytes differ")


def check_bad(d):
    with open(os.path.join(d, "bad.json")) as f:
        files = json.load(f)
    for name in files:
        with open(os.path.join(d, name), "rb") as f:
            raw = f.read()
        try:
            safetensors.deserialize(raw)
        except Exception:
            continue
        fail(f"{name}: the reference accepts a file gen rejects")


def write_reference(d):
    rng = np.random.default_rng(1234)
    out = []

    # Raw serialize: every dtype the reference writer knows (it has no F6), with
    # arbitrary bytes. TensorSpec takes torch-style dtype names, and F4 takes the
    # storage shape (two values per byte in the last dimension).
    spec_names = {"BOOL": "bool", "U8": "uint8", "I8": "int8", "I16": "int16", "U16": "uint16",
                  "I32": "int32", "U32": "uint32", "I64": "int64", "U64": "uint64",
                  "F16": "float16", "BF16": "bfloat16", "F32": "float32", "F64": "float64",
                  "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2", "F8_E8M0": "float8_e8m0fnu",
                  "F8_E4M3FNUZ": "float8_e4m3fnuz", "F8_E5M2FNUZ": "float8_e5m2fnuz",
                  "F4": "float4_e2m1fn_x2", "C64": "complex64"}
    bits = {"BOOL": 8, "U8": 8, "I8": 8, "I16": 16, "U16": 16, "I32": 32, "U32": 32, "I64": 64,
            "U64": 64, "F16": 16, "BF16": 16, "F32": 32, "F64": 64, "F8_E4M3": 8, "F8_E5M2": 8,
            "F8_E8M0": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8, "F4": 4, "C64": 64}
    raw_cases = [
        ("BOOL", [3]), ("U8", [2, 2]), ("I8", [3]), ("I16", [3]), ("U16", [2]), ("I32", [1, 2]),
        ("U32", [2]), ("I64", [2]), ("U64", [1]), ("F16", [3]), ("BF16", [2, 2]), ("F32", []),
        ("F64", [2]), ("F8_E4M3", [4]), ("F8_E5M2", [4]), ("F8_E8M0", [2]), ("F8_E4M3FNUZ", [3]),
        ("F8_E5M2FNUZ", [1]), ("F4", [2, 4]), ("C64", [1]), ("F32", [0, 5]),
    ]
    keep, specs, described = [], {}, {}
    for i, (dtype, shape) in enumerate(raw_cases):
        n = int(np.prod(shape)) if shape else 1
        nbytes = n * bits[dtype] // 8
        buf = rng.integers(0, 256, max(nbytes, 1), dtype=np.uint8)
        if dtype == "BOOL":
            buf = buf % 2
        keep.append(buf)
        storage = shape[:-1] + [shape[-1] // 2] if dtype == "F4" else shape
        name = f"raw.{i}.{dtype}"
        specs[name] = safetensors.TensorSpec(dtype=spec_names[dtype], shape=storage,
                                             data_ptr=buf.ctypes.data, data_len=nbytes)
        described[name] = {"dtype": dtype, "shape": shape, "hex": buf[:nbytes].tobytes().hex()}
    meta = {"format": "raw", "note": "caf\u00e9 \"quoted\"\n"}
    safetensors.serialize_file(specs, os.path.join(d, "ref_raw.safetensors"), metadata=meta)
    out.append({"file": "ref_raw.safetensors", "metadata": meta, "tensors": described})

    # torch's save_file, as checkpoints are usually written.
    tt = {
        "w.f32": torch.from_numpy(rng.standard_normal((3, 4), dtype=np.float32)),
        "w.f16": torch.from_numpy(rng.standard_normal((5,), dtype=np.float32)).half(),
        "w.bf16": torch.from_numpy(rng.standard_normal((2, 3), dtype=np.float32)).bfloat16(),
        "w.f64": torch.tensor([1.0, -2.5], dtype=torch.float64),
        "i.i64": torch.tensor([-1, 2**40], dtype=torch.int64),
        "i.i32": torch.tensor([7], dtype=torch.int32),
        "i.i16": torch.tensor([-3, 4], dtype=torch.int16),
        "i.i8": torch.tensor([-5], dtype=torch.int8),
        "i.u8": torch.tensor([250, 1], dtype=torch.uint8),
        "m.bool": torch.tensor([True, False, True]),
        "f8.e4m3": torch.tensor([0.5, -1.0]).to(torch.float8_e4m3fn),
        "f8.e5m2": torch.tensor([2.0]).to(torch.float8_e5m2),
        "s.scalar": torch.tensor(3.25),
        "z.empty": torch.zeros((0, 2)),
    }
    tmeta = {"format": "pt"}
    safetensors.torch.save_file(tt, os.path.join(d, "ref_torch.safetensors"), metadata=tmeta)
    names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
             torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
             torch.uint8: "U8", torch.bool: "BOOL", torch.float8_e4m3fn: "F8_E4M3",
             torch.float8_e5m2: "F8_E5M2"}
    out.append({"file": "ref_torch.safetensors", "metadata": tmeta,
                "tensors": {k: {"dtype": names[v.dtype], "shape": list(v.shape),
                                "hex": v.contiguous().view(-1).view(torch.uint8).numpy().tobytes().hex()
                                if v.numel() else ""}
                            for k, v in tt.items()}})

    # numpy's save_file without metadata, and a file with no tensors at all.
    nt = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([1, 2], dtype=np.int64)}
    safetensors.numpy.save_file(nt, os.path.join(d, "ref_numpy.safetensors"))
    out.append({"file": "ref_numpy.safetensors", "metadata": {},
                "tensors": {"a": {"dtype": "F32", "shape": [2, 3], "hex": nt["a"].tobytes().hex()},
                            "b": {"dtype": "I64", "shape": [2], "hex": nt["b"].tobytes().hex()}}})
    safetensors.numpy.save_file({}, os.path.join(d, "ref_empty.safetensors"))
    out.append({"file": "ref_empty.safetensors", "metadata": {}, "tensors": {}})

    with open(os.path.join(d, "ref.json"), "w") as f:
        json.dump(out, f)


def main():
    d = sys.argv[1]
    check_ours(d)
    check_bad(d)
    write_reference(d)
    print("reference check passed")


if __name__ == "__main__":
    main()
