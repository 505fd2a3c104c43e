#!/usr/bin/env python3
"""Write tests/data/models/config_defaults.json: the config keys that diffusers' / transformers'
model classes read, with their __init__ defaults (what `from_pretrained` takes for a key that
config.json lacks), for the classes gen loads from a diffusers folder: UNet2DConditionModel,
ControlNetModel, ControlNetUnionModel, AutoencoderKL and CLIPTextConfig (the text encoder's config).

gen's tables (src/arch/config_keys.cpp) hold the same defaults and a verdict for every key
(honoured, fixed to the values gen implements, or without effect on inference);
tests/unit/test_config_keys.cpp checks both against this file. Tuples are written as lists,
non-finite floats as the strings "inf" / "-inf".

    python tools/make_config_defaults.py [--out tests/data/models/config_defaults.json]
"""
import argparse
import inspect
import json
import math
import os

os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import diffusers  # noqa: E402
import transformers  # noqa: E402

CLASSES = {"UNet2DConditionModel": diffusers.UNet2DConditionModel, "ControlNetModel": diffusers.ControlNetModel,
           "ControlNetUnionModel": diffusers.ControlNetUnionModel,
           "AutoencoderKL": diffusers.AutoencoderKL, "CLIPTextConfig": transformers.CLIPTextConfig}


def plain(v):
    if isinstance(v, float) and math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if isinstance(v, tuple):
        return [plain(x) for x in v]
    return v


def defaults(cls):
    params = inspect.signature(cls.__init__).parameters
    return {k: plain(p.default) for k, p in params.items()
            if k not in ("self", "kwargs") and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "data", "models", "config_defaults.json"))
    args = ap.parse_args()
    doc = {"about": "Config keys and __init__ defaults of the model classes gen reads from diffusers folders; "
                    "written by tools/make_config_defaults.py.",
           "diffusers": diffusers.__version__, "transformers": transformers.__version__,
           "classes": {name: defaults(cls) for name, cls in CLASSES.items()}}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True, allow_nan=False)
        f.write("\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
