#!/usr/bin/env python3
"""Writes the seed corpus of the safetensors fuzzer (tests/fuzz/corpus/).

Small hand-made files, valid and invalid, built byte by byte (no safetensors
package needed). Usage: python3 tools/make_fuzz_corpus.py [OUT_DIR]
"""
import json
import os
import struct
import sys


def st(header, data=b"", pad=True, n=None):
    h = header.encode() if isinstance(header, str) else header
    if pad:
        h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h) if n is None else n) + h + data


def entry(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(__file__), "..", "tests", "fuzz", "corpus")
    os.makedirs(out, exist_ok=True)
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
    for name, data in files.items():
        with open(os.path.join(out, name + ".safetensors"), "wb") as f:
            f.write(data)
    print(f"wrote {len(files)} files to {out}")


if __name__ == "__main__":
    main()
