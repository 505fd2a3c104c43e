#!/usr/bin/env python3
"""Reference parses of A1111 infotexts (tests/unit/test_infotext_parse.cpp,
src/request/infotext_parse.cpp, src/request/infotext.cpp).

A1111 (stable-diffusion-webui) and its ControlNet extension are not installable. This script
runs their own parsing functions from copies of their files the user fetched, without
importing the rest: the functions are cut out of the files with `ast` and executed with the
few names they use, stubbed as A1111's defaults set them:

  modules/infotext_utils.py (stable-diffusion-webui): re_param_code, re_param, re_imagesize,
      quote, unquote, restore_old_hires_fix_params, parse_generation_parameters
      (shared.opts: infotext_styles "Ignore" -- no styles database --, infotext_skip_pasting [],
      use_old_hires_fix_width_height False; infotext_versions.backcompat: only adds flags, left out)
  internal_controlnet/args.py (Mikubill/sd-webui-controlnet): field_to_displaytext,
      displaytext_to_field, serialize_value, parse_value, ControlNetUnit.infotext_fields,
      ControlNetUnit.parse and ControlNetUnit.serialize (the pydantic model replaced by a dict)

    python tools/a1111_infotext_reference.py --a1111-file PATH/modules/infotext_utils.py \\
        --controlnet-file PATH/internal_controlnet/args.py

  modules/sd_models.py and modules/hashes.py beside infotext_utils.py: model_hash (the old hash
      the ControlNet extension writes as "name [hash]") and calculate_sha256 (the checkpoint's and
      VAE's short hash is its first 10 hex digits), run on files of a fixed byte pattern

Reads tests/data/infotext/corpus.json ([{name, text}]) and writes tests/data/infotext/expected.json:
  [{name, fields: [[key, value], ...] in A1111's dict order, values as str() (the defaults
    parse_generation_parameters adds for keys the text lacks are left out: gen does not add them),
    units: {"ControlNet N": [[field, kind, str(value)], ...] or null where the extension's parse fails},
    reserialized: {"ControlNet N": ControlNetUnit.serialize of that parse}}]
and tests/data/infotext/hashes.json: [{size, short, old}] for files of `size` bytes
(i * 131 + 7) % 256.
"""
import __future__
import argparse
import ast
import hashlib
import json
import math
import os
import re
import tempfile
import types

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "tests", "data", "infotext")


def cut(path, names, class_name=None, method_names=()):
    """The top-level statements of `path` defining `names`, and `class_name`'s methods."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    body, methods = [], []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in names:
            body.append(node)
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id in names for t in node.targets):
            body.append(node)
        elif isinstance(node, ast.ClassDef) and node.name == class_name:
            for m in node.body:
                if isinstance(m, ast.FunctionDef) and m.name in method_names:
                    m.decorator_list = []
                    methods.append(m)
    missing = set(names) - {getattr(n, "name", None) for n in body} - {
        t.id for n in body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    if missing:
        raise SystemExit(f"{path}: missing {sorted(missing)}")
    return ast.Module(body=body, type_ignores=[]), ast.Module(body=methods, type_ignores=[])


def load_function(path, name):
    module, _ = cut(path, [name])
    scope = {"hashlib": hashlib}
    exec(compile(module, path, "exec"), scope)
    return scope[name]


def load_a1111(path):
    names = ["re_param_code", "re_param", "re_imagesize", "re_hypernet_hash", "quote", "unquote",
             "restore_old_hires_fix_params", "parse_generation_parameters"]
    module, _ = cut(path, names)
    opts = types.SimpleNamespace(infotext_styles="Ignore", infotext_skip_pasting=[],
                                 use_old_hires_fix_width_height=False)
    scope = {"re": re, "json": json, "math": math,
             "shared": types.SimpleNamespace(opts=opts),
             "infotext_versions": types.SimpleNamespace(backcompat=lambda res: None),
             "processing": types.SimpleNamespace()}
    exec(compile(module, path, "exec"), scope)
    return scope


def load_controlnet(path):
    names = ["field_to_displaytext", "displaytext_to_field", "serialize_value", "parse_value"]
    module, methods = cut(path, names, "ControlNetUnit", ("infotext_fields", "parse", "serialize"))
    from enum import Enum
    scope = {"Enum": Enum}
    # As the file itself: `from __future__ import annotations` (its annotations stay unevaluated).
    flags = __future__.annotations.compiler_flag
    exec(compile(module, path, "exec", flags=flags), scope)
    exec(compile(methods, path, "exec", flags=flags), scope)

    class Unit(dict):  # ControlNetUnit's fields, without pydantic's validation
        def __init__(self, **kw):
            super().__init__(kw)
    Unit.infotext_fields = staticmethod(scope["infotext_fields"])
    scope["ControlNetUnit"] = Unit
    parse = lambda text: scope["parse"](Unit, text)

    def serialize(fields):
        obj = types.SimpleNamespace(**fields, cls_logger=types.SimpleNamespace(error=lambda *a: None))
        return scope["serialize"](obj)
    return parse, serialize


# What parse_generation_parameters adds for keys the text lacks (left out of the fixture).
DEFAULT_KEYS = ["Clip skip", "Hires resize-1", "Hires resize-2", "Hires sampler", "Hires checkpoint", "Hires prompt",
                "Hires negative prompt", "Mask mode", "Masked content", "Inpaint area", "Masked area padding", "RNG",
                "Schedule type", "Schedule max sigma", "Schedule min sigma", "Schedule rho", "VAE Encoder",
                "VAE Decoder", "FP8 weight", "Cache FP16 weight for LoRA"]


def kind(v):
    return {bool: "bool", int: "int", float: "float", str: "str"}[type(v)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--a1111-file", required=True)
    ap.add_argument("--controlnet-file", required=True)
    args = ap.parse_args()
    a1111 = load_a1111(args.a1111_file)
    parse_unit, serialize_unit = load_controlnet(args.controlnet_file)
    corpus = json.load(open(os.path.join(DATA, "corpus.json"), encoding="utf-8"))
    out = []
    for case in corpus:
        text = case["text"]
        res = a1111["parse_generation_parameters"](text)
        lastline = text.strip().split("\n")[-1]
        in_text = {k for k, _ in a1111["re_param"].findall(lastline)} if len(a1111["re_param"].findall(lastline)) >= 3 else set()
        fields = []
        for k, v in res.items():
            base = k[:-2] if k.endswith(("-1", "-2")) else k
            restored = base == "Hires resize" and "First pass size" in in_text  # restore_old_hires_fix_params
            if k in DEFAULT_KEYS and base not in in_text and not restored:
                continue
            fields.append([k, str(v)])
        units, reserialized = {}, {}
        for k, v in res.items():
            if not k.startswith("ControlNet"):
                continue
            try:
                unit = parse_unit(v)
            except Exception:
                units[k] = None
                continue
            items = [[f, kind(x), str(x)] for f, x in unit.items() if f != "enabled"]
            units[k] = items
            if all(f in unit for f in ("module", "model", "weight", "resize_mode", "processor_res", "threshold_a",
                                       "threshold_b", "guidance_start", "guidance_end", "pixel_perfect",
                                       "control_mode")):
                reserialized[k] = serialize_unit({f: x for f, x in unit.items() if f != "enabled"})
        out.append({"name": case["name"], "fields": fields, "units": units, "reserialized": reserialized})
    with open(os.path.join(DATA, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    modules = os.path.dirname(os.path.abspath(args.a1111_file))
    model_hash = load_function(os.path.join(modules, "sd_models.py"), "model_hash")
    calculate_sha256 = load_function(os.path.join(modules, "hashes.py"), "calculate_sha256")
    hashes = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in (0, 1000, 0x100000 + 5, 0x100000 + 0x10000 + 123):
            path = os.path.join(tmp, "f.bin")
            with open(path, "wb") as f:
                f.write(bytes((i * 131 + 7) % 256 for i in range(size)))
            hashes.append({"size": size, "short": calculate_sha256(path)[0:10], "old": model_hash(path)})
    with open(os.path.join(DATA, "hashes.json"), "w", encoding="utf-8") as f:
        json.dump(hashes, f, indent=1)
        f.write("\n")
    print(f"wrote {len(out)} cases to {os.path.join(DATA, 'expected.json')}")


if __name__ == "__main__":
    main()
