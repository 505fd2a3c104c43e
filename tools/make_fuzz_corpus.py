#!/usr/bin/env python3
"""Writes the seed corpora of the fuzzers (tests/fuzz/corpus/<target>/).

Small files, valid and invalid: copies of the fixtures in tests/data (torch.save
archives, their data.pkl streams, PNG and JPEG images) and hand-made edge cases
built byte by byte with the standard library only (no torch, safetensors or
imaging package needed), plus the regression inputs of past findings.
Usage: python3 tools/make_fuzz_corpus.py [OUT_DIR]   (default tests/fuzz/corpus)
"""
import io
import json
import os
import pickle
import struct
import sys
import types
import zipfile
import zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DATA = os.path.join(ROOT, "tests", "data")


def fixture(*parts):
    with open(os.path.join(DATA, *parts), "rb") as f:
        return f.read()


# ---------------------------------------------------------------- safetensors

def st(header, data=b"", pad=True, n=None):
    h = header.encode() if isinstance(header, str) else header
    if pad:
        h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h) if n is None else n) + h + data


def entry(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def safetensors_files():
    files = {}
    files["valid_empty"] = st("{}", pad=False)
    files["valid_one_f32"] = st(json.dumps({"a": entry("F32", [2, 2], 0, 16)}), bytes(range(16)))
    files["valid_metadata"] = st(json.dumps({"__metadata__": {"format": "pt", "k": "v"},
                                             "w": entry("F16", [3], 0, 6)}), b"\x00\x3c" * 3)
    mixed = {"b": entry("BOOL", [2], 0, 2), "f4": entry("F4", [4], 2, 4),
             "f6": entry("F6_E3M2", [4], 4, 7), "bf": entry("BF16", [1], 7, 9),
             "z": entry("F32", [0, 3], 9, 9), "s": entry("I64", [], 9, 17)}
    files["valid_mixed_dtypes"] = st(json.dumps(mixed), bytes(17))
    files["valid_unpadded_whitespace"] = st(' {"x": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}\n\t',
                                            b"\x07", pad=False)
    files["bad_size_mismatch"] = st(json.dumps({"a": entry("F32", [3], 0, 10)}), bytes(10))
    files["bad_hole"] = st(json.dumps({"a": entry("U8", [1], 0, 1), "b": entry("U8", [1], 2, 3)}), bytes(3))
    files["bad_overlap"] = st(json.dumps({"a": entry("U8", [2], 0, 2), "b": entry("U8", [2], 1, 3)}), bytes(3))
    files["bad_duplicate"] = st('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},'
                                '"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', b"\x00")
    files["bad_unknown_dtype"] = st(json.dumps({"a": entry("F17", [1], 0, 1)}), b"\x00")
    files["bad_overflow_shape"] = st(json.dumps({"a": entry("F64", [2305843009213693952, 1], 0, 0)}))
    files["bad_truncated_json"] = st('{"a":{"dtype":"U8","shape":[1],"data_off', pad=False)
    files["bad_length_past_end"] = st("{}", n=1000)
    files["bad_huge_length"] = st("{}", n=2**64 - 1)
    files["bad_utf8"] = st(b'{"\xc0\x80":{}}')
    files["bad_negative_offset"] = st('{"a":{"dtype":"U8","shape":[1],"data_offsets":[-1,0]}}', b"\x00")
    return {name + ".safetensors": data for name, data in files.items()}


# ---------------------------------------------------------------- ZIP

def make_zip(files, zip64=False, comment=b"", flags=0, method=0):
    """A stored archive built by hand; zip64: saturated fields, zip64 extras and end records."""
    out, cd = bytearray(), bytearray()
    for name, data in files:
        name = name.encode()
        crc = zlib.crc32(data)
        offset = len(out)
        size = 0xFFFFFFFF if zip64 else len(data)
        extra = struct.pack("<HHQQ", 1, 16, len(data), len(data)) if zip64 else b""
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, flags, method, 0, 0, crc, size, size,
                           len(name), len(extra)) + name + extra + data
        cextra = struct.pack("<HHQQQ", 1, 24, len(data), len(data), offset) if zip64 else b""
        cd += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, flags, method, 0, 0, crc, size, size,
                          len(name), len(cextra), 0, 0, 0, 0, 0xFFFFFFFF if zip64 else offset) + name + cextra
    cd_offset = len(out)
    out += cd
    n = len(files)
    if zip64:
        z = len(out)
        out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, len(cd), cd_offset)
        out += struct.pack("<IIQI", 0x07064B50, 0, z, 1)
        out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, len(comment))
    else:
        out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, len(cd), cd_offset, len(comment))
    return bytes(out + comment)


def zipfile_archive(files, compression=zipfile.ZIP_STORED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, data in files:
            z.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), data)
    return buf.getvalue()


def zip_files():
    files = {}
    for name in ["plain_fp32.pt", "views.pt", "deflated.pt", "malicious_eval.pt"]:
        files["fixture_" + name] = fixture("pickle", name)
    two = [("a/x", b"hello"), ("a/y", b"")]
    files["valid_two.zip"] = make_zip(two)
    files["valid_zip64.zip"] = make_zip(two, zip64=True)
    files["valid_comment.zip"] = make_zip(two, comment=b"a comment PK\x05\x06")
    files["valid_empty.zip"] = make_zip([])
    files["valid_python_deflated.zip"] = zipfile_archive([("d/x", b"abc" * 50)], zipfile.ZIP_DEFLATED)
    files["bad_encrypted.zip"] = make_zip([("e/x", b"secret")], flags=1)
    files["bad_duplicate.zip"] = make_zip([("a/x", b"1"), ("a/x", b"2")])
    ok = make_zip(two)
    files["bad_truncated.zip"] = ok[:-9]
    bad_crc = bytearray(ok)
    bad_crc[30 + 3] ^= 0x55  # first byte of a/x's data
    files["bad_crc.zip"] = bytes(bad_crc)
    return files


# ---------------------------------------------------------------- pickle

def fake_torch():
    """Stand-ins named as torch names them, so that the standard pickle module writes the
    same globals and persistent ids torch.save does (torch itself is not imported)."""
    def module(name):
        m = types.ModuleType(name)
        sys.modules[name] = m
        return m

    torch, utils = module("torch"), module("torch._utils")
    collections_od = __import__("collections").OrderedDict

    def function(mod, name):
        def f(*args):
            raise RuntimeError("never called")
        f.__module__, f.__name__, f.__qualname__ = mod.__name__, name, name
        setattr(mod, name, f)
        return f

    v2, v3 = function(utils, "_rebuild_tensor_v2"), function(utils, "_rebuild_tensor_v3")
    param = function(utils, "_rebuild_parameter")

    class DType:
        def __init__(self, name):
            self.name = name

        def __reduce__(self):
            return self.name
    DType.__module__ = "torch"
    for name in ["float32", "float16", "uint16", "int64"]:
        setattr(torch, name, DType(name))

    storage_types = {}
    for name in ["FloatStorage", "HalfStorage", "LongStorage", "UntypedStorage"]:
        cls = type(name, (), {"__module__": "torch"})
        setattr(torch, name, cls)
        storage_types[name] = cls
    size_cls = type("Size", (tuple,), {"__module__": "torch",
                                      "__reduce__": lambda self: (torch.Size, (tuple(self),))})
    torch.Size = size_cls

    class Storage:
        def __init__(self, kind, key, numel):
            self.kind, self.key, self.numel = storage_types[kind], key, numel

    class Tensor:
        def __init__(self, storage, offset, size, stride, dtype=None):
            self.args = (storage, offset, size, stride, False, collections_od())
            self.dtype = dtype

        def __reduce_ex__(self, protocol):
            if self.dtype is not None:
                return (v3, self.args + (getattr(torch, self.dtype),))
            return (v2, self.args)

    class Parameter:
        def __init__(self, tensor):
            self.tensor = tensor

        def __reduce_ex__(self, protocol):
            return (param, (self.tensor, True, collections_od()))

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, Storage):
                return ("storage", obj.kind, obj.key, "cpu", obj.numel)
            return None

    def dumps(obj, protocol=2):
        buf = io.BytesIO()
        Pickler(buf, protocol=protocol).dump(obj)
        return buf.getvalue()

    return types.SimpleNamespace(Storage=Storage, Tensor=Tensor, Parameter=Parameter, Size=size_cls,
                                 dumps=dumps, OrderedDict=collections_od)


def pickle_files():
    files = {}
    folder = os.path.join(DATA, "pickle")
    for name in sorted(os.listdir(folder)):
        if name.endswith(".json"):
            continue
        data = fixture("pickle", name)
        files["fixture_" + name] = data
        if data[:4] == b"PK\x03\x04" and zipfile.is_zipfile(io.BytesIO(data)):
            # Its data.pkl alone: read as the pickle of an archive the fuzzer makes.
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                for info in z.infolist():
                    if info.filename.endswith("/data.pkl"):
                        files["datapkl_" + name + ".pkl"] = z.read(info)
    plain = {"a": 1, "b": [1.5, -2, True, None, "t\u00e9xt", b"\x00\xff"], "c": (1, (2, 3)),
             "big": 2**70, "neg": -2**40, "s": frozenset([1, 2]), "e": set(), "d": {}}
    for p in range(6):  # sets pickle as a call of builtins.set before protocol 4: refused
        files[f"plain_protocol{p}.pkl"] = pickle.dumps(
            plain if p >= 4 else {k: v for k, v in plain.items() if k not in ("s", "e")}, protocol=p)
    t = fake_torch()
    od = t.OrderedDict
    f32 = t.Storage("FloatStorage", "0", 64)
    state = od([("w", t.Tensor(f32, 0, (4, 4), (4, 1))),
                ("w.T", t.Tensor(f32, 0, (4, 4), (1, 4))),        # a transposed view
                ("b", t.Tensor(f32, 16, (4,), (1,))),
                ("step", t.Tensor(t.Storage("LongStorage", "1", 1), 0, (), ())),
                ("half", t.Tensor(t.Storage("HalfStorage", "2", 8), 2, (2, 3), (3, 1))),
                ("expanded", t.Tensor(f32, 0, (1, 8), (0, 1))),   # like CLIP's position_ids
                ("empty", t.Tensor(f32, 0, (0, 3), (3, 1)))])
    files["torch_state_dict.pkl"] = t.dumps(state)
    files["torch_state_dict_protocol4.pkl"] = t.dumps(state, protocol=4)
    files["torch_lightning.pkl"] = t.dumps({"state_dict": state, "epoch": 3, "global_step": 100,
                                            "hyper": {"lr": 1e-4, "name": "x"}})
    files["torch_parameters.pkl"] = t.dumps(od([("p", t.Parameter(t.Tensor(f32, 0, (8,), (1,))))]))
    files["torch_v3_uint16.pkl"] = t.dumps({"u": t.Tensor(t.Storage("UntypedStorage", "3", 16), 0, (8,), (1,),
                                                         dtype="uint16")})
    files["torch_nested_lists.pkl"] = t.dumps({"layers": [{"w": t.Tensor(f32, 0, (2,), (1,))},
                                                          {"w": t.Tensor(f32, 2, (2,), (1,))}]})
    files["torch_size.pkl"] = t.dumps({"shape": t.Size((2, 3))})
    files["torch_bytes_protocol2.pkl"] = t.dumps({"blob": b"\xe9\x00abc"})
    files["bad_missing_storage.pkl"] = t.dumps({"w": t.Tensor(t.Storage("FloatStorage", "99", 4), 0, (4,), (1,))})
    files["bad_past_storage.pkl"] = t.dumps({"w": t.Tensor(f32, 60, (8,), (1,))})
    files["bad_global.pkl"] = b"cposix\nsystem\n(S'id'\ntR."
    files["bad_memo.pkl"] = b"\x80\x02h\x05."
    # Regressions (tests/unit/test_pickle_reader.cpp): a tuple key holding itself 2^30 times,
    # containers repeated 2^16 times, a float expanded to 2^20 x 2^20, names repeating long keys.
    files["regress_tuple_key.pkl"] = b"})" + b"2\x86" * 30 + b"Ns."
    deep = {"w": t.Tensor(t.Storage("FloatStorage", "0", 4), 0, (4,), (1,))}
    for _ in range(16):
        deep = {"a": deep, "b": deep}
    files["regress_repeated_dicts.pkl"] = t.dumps(deep)
    files["regress_expanded.pkl"] = t.dumps({"w": t.Tensor(t.Storage("FloatStorage", "0", 1), 0,
                                                           (2**20, 2**20), (0, 0))})
    deep = {"w": t.Tensor(t.Storage("FloatStorage", "0", 4), 0, (4,), (1,))}
    for _ in range(10):
        deep = {"k" * 4000: deep, "K" * 4000: deep}
    files["regress_long_names.pkl"] = t.dumps(deep)
    # Legacy torch.save: the magic number's LONG1, then more pickles.
    files["legacy_header.pkl"] = (b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19."
                                  + pickle.dumps(1001, protocol=2) + pickle.dumps({"a": 1}, protocol=2))
    return files


# ---------------------------------------------------------------- PNG

def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def make_png(width, height, depth, color, rows, before=(), after=(), interlace=0):
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, interlace)
    raw = b"".join(b"\x00" + r for r in rows)
    chunks = [png_chunk(b"IHDR", ihdr)] + list(before) + [png_chunk(b"IDAT", zlib.compress(raw))]
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks + list(after) + [png_chunk(b"IEND", b"")])


def exif(order, orientation):
    if order == "II":
        tiff = b"II*\x00" + struct.pack("<IH", 8, 1) + struct.pack("<HHII", 0x0112, 3, 1, orientation) + b"\0\0\0\0"
    else:
        tiff = b"MM\x00*" + struct.pack(">IH", 8, 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + b"\0\0\0\0"
    return tiff


def png_files():
    files = {}
    folder = os.path.join(DATA, "images")
    for name in sorted(os.listdir(folder)):
        if name.endswith(".png"):
            files["fixture_" + name] = fixture("images", name)
    rgb = [bytes(range(12))] * 4  # 4x4 RGB 8-bit
    text = [png_chunk(b"tEXt", b"parameters\x00a photo, Steps: 20"),
            png_chunk(b"zTXt", b"comment\x00\x00" + zlib.compress(b"caf\xe9 " * 20)),
            png_chunk(b"iTXt", b"gen\x00\x00\x00\x00\x00{\"prompt\": \"\xc3\xa9\"}"),
            png_chunk(b"iTXt", b"packed\x00\x01\x00en\x00Packed\x00" + zlib.compress("\u00e9\u4e2d".encode() * 10)),
            png_chunk(b"iTXt", b"bad utf8\x00\x00\x00\x00\x00\xff\xfe")]
    files["text_chunks.png"] = make_png(4, 4, 8, 2, rgb, before=text[:3], after=text[3:])
    files["exif_ii_6.png"] = make_png(4, 4, 8, 2, rgb, before=[png_chunk(b"eXIf", exif("II", 6))])
    files["exif_mm_8.png"] = make_png(4, 4, 8, 2, rgb, before=[png_chunk(b"eXIf", exif("MM", 8))])
    files["palette1_trns.png"] = make_png(8, 2, 1, 3, [b"\xa5", b"\x5a"],
                                         before=[png_chunk(b"PLTE", b"\x00\x00\x00\xff\xff\xff"),
                                                 png_chunk(b"tRNS", b"\x80")])
    files["grey16_trns.png"] = make_png(2, 2, 16, 0, [b"\x00\x01\xff\xff"] * 2,
                                       before=[png_chunk(b"tRNS", b"\x00\x01")])
    whole = make_png(4, 4, 8, 2, rgb)
    files["bad_truncated.png"] = whole[:len(whole) - 20]
    files["bad_no_iend.png"] = whole[:-12]
    files["bad_zero_width.png"] = make_png(0, 4, 8, 2, [])
    files["bad_crc.png"] = whole[:29] + b"\0\0\0\0" + whole[33:]
    # Regression (tests/unit/test_image.cpp): 16384x16384 16-bit RGBA (2 GiB) in 70 bytes.
    files["regress_claims_huge.png"] = make_png(16384, 16384, 16, 6, [bytes(8)])
    # Regression found by fuzz_png: a zTXt chunk declaring 1 GiB that libpng allocated.
    files["regress_chunk_length.png"] = whole[:33] + b"\x41\x4d\x41\x19zTXtabc"
    return files


# ---------------------------------------------------------------- JPEG

def jpeg_segments(data):
    """(marker, bytes) of the segments before the scan, and the rest from SOS on."""
    pos, segs = 2, []
    while data[pos + 1] != 0xDA:
        length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        segs.append(data[pos:pos + 2 + length])
        pos += 2 + length
    return segs, data[pos:]


def jpeg_files():
    files = {}
    folder = os.path.join(DATA, "images")
    for name in sorted(os.listdir(folder)):
        if name.endswith(".jpg"):
            files["fixture_" + name] = fixture("images", name)
    grey = fixture("images", "grey.jpg")
    segs, scan = jpeg_segments(grey)
    for order, orientation in [("II", 3), ("MM", 6), ("II", 9)]:
        app1 = b"Exif\x00\x00" + exif(order, orientation)
        seg = b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1
        files[f"exif_{order.lower()}_{orientation}.jpg"] = b"\xff\xd8" + seg + b"".join(segs) + scan
    tables = [s for s in segs if s[1] in (0xDB, 0xC4)]
    files["bad_tables_only.jpg"] = b"\xff\xd8" + b"".join(tables) + b"\xff\xd9"
    files["bad_truncated.jpg"] = grey[:len(grey) * 2 // 3]
    files["stray_bytes.jpg"] = b"\xff\xd8" + b"".join(s + b"\x00\x00" for s in segs) + scan
    # Regression (tests/unit/test_image.cpp): a baseline SOF claiming 65500x4096 (256 MiB).
    sof = grey.index(b"\xff\xc0")
    files["regress_claims_huge.jpg"] = grey[:sof + 5] + struct.pack(">HH", 4096, 65500) + grey[sof + 9:]
    return files


def request_files():
    # Requests as gen writes them into PNGs and job files read them: every field kind (text,
    # integers, reals, seeds, enumerations, controls), a few near-misses, and nesting.
    full = {"schema": "gen.request/1", "prompt": "a (lighthouse:1.2) at [dusk|dawn]", "negative_prompt": "blurry",
            "width": 512, "height": 512, "steps": 25, "cfg_scale": 7.5, "seed": 18446744073709551615,
            "sampler": "dpmpp_2m", "scheduler": "karras", "batch_size": 2, "batch_count": 3,
            "controls": [{"model": "c.safetensors", "image": "pose.png", "scale": 0.8, "start": 0.0, "end": 0.7,
                          "preprocess": "canny:100:200", "resize": "crop"}]}
    # Editing (schema 1.1): img2img + inpainting options, outpainting and hires fix.
    edit = {"schema": "gen.request/1.1", "prompt": "x", "init_image": "i.png", "strength": 0.6,
            "strength_steps": "a1111_fixed", "init_resize": "crop", "mask": "m.png", "invert_mask": True,
            "mask_blur": 4, "overlay": True, "inpaint_area": "masked", "mask_padding": 16, "inpaint_fill": "latent_noise",
            "inpaint_blend": "a1111", "controls": [{"model": "c.safetensors", "preprocess": "inpaint_only"}]}
    outpaint = {"schema": "gen.request/1.1", "init_image": "i.png", "outpaint": "left:8,bottom:16",
                "outpaint_fill": "#102030"}
    hires = {"schema": "gen.request/1.1", "hires_width": 1024, "hires_height": 768, "hires_upscaler": "latent_bicubic",
             "hires_steps": 10, "hires_strength": 0.5, "hires_sampler": "euler_a", "hires_prompt": "y"}
    # Textual-inversion embeddings (schema 1.2): files by name and the folder.
    embeddings = {"schema": "gen.request/1.2", "prompt": "a photo of (ticat:1.2)", "negative_prompt": "blurry tidog",
                  "embeddings": ["ticat.pt", "learned_embeds.safetensors"], "embeddings_dir": "embeddings"}
    files = {
        "full.json": json.dumps(full).encode(),
        "embeddings.json": json.dumps(embeddings).encode(),
        "bad_embeddings.json": b'{"embeddings": ["a.pt", 7]}',
        "edit.json": json.dumps(edit).encode(),
        "outpaint.json": json.dumps(outpaint).encode(),
        "hires.json": json.dumps(hires).encode(),
        "bad_outpaint.json": b'{"init_image": "i.png", "outpaint": "left:-5,,middle"}',
        "minimal.json": b'{"prompt": "x"}',
        "seed_null.json": b'{"prompt": "x", "seed": null}',
        "seed_minus_one.json": b'{"seed": -1}',
        "bad_seed_float.json": b'{"seed": 1e30}',
        "bad_type.json": b'{"steps": "many"}',
        "bad_unknown.json": b'{"colour": "red"}',
        "bad_nul.json": b'{"prompt": "a\\u0000b"}',
        "bad_utf8.json": b'{"prompt": "\xff\xfe"}',
        "nested_63.json": b"[" * 63 + b"]" * 63,
        "nested_65.json": b"{\"a\":" * 65 + b"1" + b"}" * 65,
        "bad_truncated.json": json.dumps(full).encode()[:100],
    }
    return files


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tests", "fuzz", "corpus")
    for target, files in [("safetensors", safetensors_files()), ("zip", zip_files()),
                          ("pickle", pickle_files()), ("png", png_files()), ("jpeg", jpeg_files()),
                          ("request", request_files())]:
        folder = os.path.join(out, target)
        os.makedirs(folder, exist_ok=True)
        for old in os.listdir(folder):
            os.remove(os.path.join(folder, old))
        for name, data in files.items():
            with open(os.path.join(folder, name), "wb") as f:
                f.write(data)
        print(f"{target}: {len(files)} files, {sum(map(len, files.values()))} bytes in {folder}")


if __name__ == "__main__":
    main()
