#!/usr/bin/env python3
"""Writes tests/data/tokenizer/prompts.json: CLIP token ids computed by the reference tokenizers.

Nothing in the output is hand-written: every id comes from running a reference on the prompt.

References
  ids      transformers' slow (pure Python) CLIPTokenizer with ftfy installed: ftfy.fix_text,
           whitespace folding, lower-casing, the CLIP regex, byte-level BPE. This is what
           SD 1.x / diffusers used before transformers 5 and what A1111 uses. transformers 5
           removed the slow class, so the script loads it from a transformers 4.x copy:
             pip download --no-deps -d /tmp/tf4dl transformers==4.57.1
             python -c "import zipfile; zipfile.ZipFile('/tmp/tf4dl/transformers-4.57.1-py3-none-any.whl').extractall('/tmp/tf4')"
             python tools/make_tokenizer_fixtures.py --slow-transformers /tmp/tf4
  fast     (only where it differs from ids) transformers 5's CLIPTokenizer as installed in the
           venv (tokenizers backend: NFC, whitespace folding, lower-casing; no ftfy).
  openclip (only where it differs from ids) original CLIP / OpenCLIP clean-up: ftfy.fix_text,
           html.unescape twice, strip, whitespace folding, lower-casing; then the same regex and
           the slow tokenizer's own BPE.
  sd1      the 77-token form: tokenizer(text, padding="max_length", max_length=77, truncation=True)
  sd2      (some cases) the sd1 form with 0 after the end token (open_clip's SD 2.x form).
  tiny     a small synthetic diffusers tokenizer/ folder (tests/data/tokenizer/tiny, pad token "!"
           as in SD 2.x folders) and the slow tokenizer's ids and padded ids for it.

The vocabulary is the original CLIP file bpe_simple_vocab_16e6.txt.gz (not committed; read from
<repo>/build/share/gen/clip/, fetched by scripts/setup.sh), converted to vocab.json + merges.txt in a temporary folder.
"""
import argparse
import gzip
import html
import json
import os
import random
import re as stdre
import sys
import tempfile
import types

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def write_vocab_folder(gz_path, out_dir):
    lines = gzip.open(gz_path).read().decode("utf-8").split("\n")
    merges = lines[1 : 49152 - 256 - 2 + 1]
    vocab = list(bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab]
    vocab += ["".join(m.split()) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    with open(os.path.join(out_dir, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump({t: i for i, t in enumerate(vocab)}, f, ensure_ascii=False)
    with open(os.path.join(out_dir, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(merges) + "\n")


def write_tiny_folder(out_dir, n_merges=80, corpus=None, pad_token="!"):
    """A small synthetic diffusers-style tokenizer/ folder: the 512 byte symbols, BPE merges
    learned here on a few words, the two special tokens, and pad token "!" (id 0) as SD 2.x."""
    enc = bytes_to_unicode()
    words = {}
    for w in " ".join(corpus or WORDS + ["hello", "hello", "world", "cat", "cats", "dog"]).split():
        key = tuple(enc[b] for b in w.encode("utf-8"))
        key = key[:-1] + (key[-1] + "</w>",)
        words[key] = words.get(key, 0) + 1
    merges = []
    for _ in range(n_merges):
        pairs = {}
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] = pairs.get((a, b), 0) + c
        if not pairs:
            break
        best = max(sorted(pairs), key=lambda p: pairs[p])
        merges.append(best)
        new = {}
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new[tuple(out)] = c
        words = new
    vocab = list(enc.values())
    vocab = vocab + [v + "</w>" for v in vocab] + ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump({t: i for i, t in enumerate(vocab)}, f, ensure_ascii=False)
    with open(os.path.join(out_dir, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump({"model_max_length": 77, "tokenizer_class": "CLIPTokenizer", "bos_token": "<|startoftext|>",
                   "eos_token": "<|endoftext|>", "pad_token": pad_token, "unk_token": "<|endoftext|>"}, f, indent=2)
    with open(os.path.join(out_dir, "special_tokens_map.json"), "w", encoding="utf-8") as f:
        json.dump({"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": pad_token,
                   "unk_token": "<|endoftext|>"}, f, indent=2)


def load_slow_class(path):
    stub = types.ModuleType("transformers.dependency_versions_check")
    stub.dep_version_check = lambda *a, **k: None
    sys.modules["transformers.dependency_versions_check"] = stub
    sys.path.insert(0, path)
    import transformers  # noqa: F401
    from transformers.models.clip.tokenization_clip import CLIPTokenizer

    version = transformers.__version__
    sys.path.pop(0)
    for name in [n for n in sys.modules if n == "transformers" or n.startswith("transformers.")]:
        del sys.modules[name]
    return CLIPTokenizer, version


WORDS = """a photo of cat dog astronaut riding horse on mars portrait woman man beautiful detailed
intricate masterpiece best quality highres 8k uhd dslr soft lighting film grain fujifilm xt3
trending artstation octane render unreal engine concept art sharp focus illustration by greg
rutkowski alphonse mucha cyberpunk city night neon rain reflections landscape mountains lake
sunset golden hour volumetric fog castle dragon fantasy oil painting watercolor sketch anime
girl blue eyes long hair smiling cinematic shot 35mm bokeh studio ghibli pixar 3d low poly
isometric vaporwave synthwave steampunk gothic baroque minimalistic flat vector logo
ugly deformed blurry bad anatomy extra fingers mutated hands poorly drawn face watermark text
signature lowres jpeg artifacts cropped worst quality""".split()

UNICODE_BITS = ["café", "crème brûlée", "naïve", "Ångström", "Straße", "İstanbul", "ΟΔΟΣ ΣΟΦΟΣ",
    "москва", "Привет Мир", "東京タワー", "夜景", "漢字かなカナ", "한국어 풍경", "ｆｕｌｌｗｉｄｔｈ", "ＬＯＵＤ　ＮＯＩＳＥＳ",
    "ﬁne ﬂower", "it’s", "“quoted”", "‘single’", "résumé", "niño", "Zürich", "ĳsselmeer", "ǅemal",
    "🐱", "👨‍👩‍👧‍👦", "🇯🇵", "❤️", "👍🏽", "✨✨✨", "★", "→", "½", "²", "Ⅻ", "٣", "१२३", "₂", "µm", "25°C",
    "€100", "¥500", "£3", "∑∫√π", "e\u0301", "\u1100\u1161\u11a8", "K\u212a", "\u212b", "\u2126",
    "हिन्दी", "ภาษาไทย", "العربية", "עברית", "Ελληνικά", "ſtraße", "ﬅ", "ß", "ÆØÅ", "œuvre", "ŉ",
    "&amp;", "&lt;3", "&gt;", "&quot;hi&quot;", "&#39;", "&#x27;", "&hellip;", "&rsquo;", "&nbsp;",
    "&copy", "&amp;amp;", "&EACUTE;", "&bogus;", "&#128049;", "&#0;", "&#x110000;", "&ccedil;",
    "\t", "\n", "\r\n", "\u2028", "\u00a0", "\u3000", "\u200b", "\ufeff", "\x01", "\x7f", "\x1b[31m",
    "\x85", "\x92", "\x1c", "\u2009", "\u202f", "\u180e", "\u0301", "\ufe0f"]

PUNCT = ["!!!", "???", "...", ",,,", "((", "))", "[[", "]]", "(x:1.2)", "@#$%^&*", "----", "~~~",
         "___", "\\", "\"", "'", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "``", ";;", "::", "//"]


def make_prompts():
    p = [
        "", " ", "  ", "\t", "\n", "\t\n \r\n", "a", "A", "1", "12345", "3.14159", "1920x1080", "0.5",
        "a photo of an astronaut riding a horse on mars",
        "A Photo Of An Astronaut Riding A Horse On Mars",
        "masterpiece, best quality, 1girl, solo, long hair, looking at viewer, smile",
        "(masterpiece:1.2), ((best quality)), [worst quality], (ugly:0.8)",
        "a cat\ta dog\na bird", "trailing space ", " leading space", "multiple    spaces   here",
        "DON'T STOP ME NOW", "don't stop", "it's a dog's life", "we're they've I'm you'll he'd",
        "rock'n'roll", "o'clock", "'s", "''", "'''quoted'''",
        "hello___world", "snake_case_words", "kebab-case-words", "CamelCaseWords", "e-mail@host.com",
        "https://example.com/path?query=1&x=2", "C:\\path\\to\\file", "#hashtag @mention",
        "<b>bold</b> &amp; &lt;", "&amp; &lt; &gt; &quot; &#39;", "fish &amp; chips", "a &amp;amp; b",
        "it&rsquo;s fine", "&ldquo;quote&rdquo;", "caf&eacute; &EACUTE;", "&copy 2023", "x &nbsp; y",
        "line1\nline2 <tag> &amp;\nline3 &amp;", "&#128049; cat", "&#x1F431;", "&bogus; entity",
        "the ﬁnal ﬂight", "ﬀ ﬃ ﬄ ﬅ ﬆ", "ĳ Ĳ ǉ ǈ Ǉ ǆ ǅ Ǆ ǳ ǲ Ǳ ǌ ǋ Ǌ ŉ",
        "ＬＯＵＤ　ＮＯＩＳＥＳ", "ｈａｌｆ ｗｉｄｔｈ ｶﾀｶﾅ", "１２３ ｆｕｌｌ！",
        "“double” ‘single’ ‛reversed‟ ʼapostrophe", "it’s", "IT’S", "don’t",
        "café crème brûlée", "naïve résumé", "Ångström", "Straße STRASSE", "İstanbul", "ΟΔΟΣ ΣΟΦΟΣ Σ",
        "ὈΔΥΣΣΕΎΣ", "Москва, Россия", "東京タワーの夜景", "漢字とかなとカナ", "한국어 풍경 사진", "中文提示词，高质量",
        "हिन्दी पाठ", "ภาษาไทย", "العربية", "עברית", "ελληνικά", "tiếng việt", "język polski", "čeština",
        "e\u0301 combining", "\u1100\u1161\u11a8 jamo", "\u212a kelvin \u212b angstrom \u2126 ohm",
        "🐱 cat emoji", "👨‍👩‍👧‍👦 family", "🇯🇵🇺🇸 flags", "❤️ love", "👍🏽 thumbs", "✨✨✨ sparkles",
        "😀😃😄😁😆😅😂🤣", "cat🐱dog🐶", "★☆♥♦♣♠", "→ ← ↑ ↓", "½ ¼ ¾", "x² y³", "Ⅻ Ⅳ", "٣ ١٢", "१२३", "H₂O",
        "µm mm", "25°C", "€100 ¥500 £3 $4", "∑∫√π∞≈≠", "§ ¶ † ‡", "© ® ™", "…", "— – -",
        "!!!???...", ",,,,,", "((((((((", "))))))))", "[[[[]]]]", "@#$%^&*", "----====", "~~~~", "____",
        "\\(escaped\\) \\[brackets\\]", "a\\b", "\"double quotes\"", "`backticks`", "<|endoftext|>",
        "a <|endoftext|> b", "a<|startoftext|>b", "<|ENDOFTEXT|>", "x <|endoftext|><|startoftext|> y",
        "zero\u200bwidth", "bom\ufeffinside", "ctrl\x01char\x7fdel", "\x1b[31mred\x1b[0m", "nel\x85next",
        "c1\x92quote", "fs\x1cgs\x1d", "thin\u2009space narrow\u202fnbsp", "nb\u00a0sp", "ls\u2028ps\u2029",
        "ideo\u3000space", "mongolian\u180evs", "var\ufe0fsel", "\u0301leading combining",
        "a" * 40, "ab" * 30, "z" * 300, "supercalifragilisticexpialidocious",
        "pneumonoultramicroscopicsilicovolcanoconiosis", "0123456789" * 5, "1,000,000 and 3.5e-7",
        "v1.5 sd2.1 sdxl1.0", "4k 8k 16k", "f/1.8 iso100 1/250s", "16:9 aspect", "RGB(255,0,0)",
        "#FF00FF", "x=y+z*2", "100%", "50/50", "A-B-C", "a.b.c", "U.S.A.", "Mr. Smith's",
    ]
    long1 = ("a highly detailed portrait of a beautiful elven queen with long silver hair, wearing an "
             "ornate golden crown and a flowing emerald gown, standing in an enchanted forest at "
             "twilight, surrounded by glowing fireflies and ancient moss covered trees, volumetric "
             "light rays, intricate filigree, fantasy art, by artgerm and greg rutkowski and alphonse "
             "mucha, trending on artstation, octane render, 8k, ultra sharp focus, cinematic lighting, "
             "depth of field, bokeh, masterpiece, best quality")
    p += [long1, long1 + ", " + long1, long1.upper(), long1.replace(", ", " "),
          ", ".join(WORDS), " ".join(WORDS * 2), "word " * 80, "a, " * 100, "(word:1.2), " * 40]
    rng = random.Random(20240607)
    while len(p) < 320:
        kind = rng.random()
        n = rng.randint(1, 25) if kind < 0.92 else rng.randint(60, 100)
        parts = []
        for _ in range(n):
            r = rng.random()
            if r < 0.6:
                w = rng.choice(WORDS)
                if rng.random() < 0.1:
                    w = w.upper()
                elif rng.random() < 0.1:
                    w = w.capitalize()
            elif r < 0.8:
                w = rng.choice(UNICODE_BITS)
            elif r < 0.9:
                w = rng.choice(PUNCT)
            else:
                w = str(rng.randint(0, 10 ** rng.randint(1, 6)))
            parts.append(w)
            parts.append(rng.choice([" ", " ", " ", ", ", ",", "", "  ", "\t", "\n", ". ", "; "]))
        p.append("".join(parts))
    return p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vocab", default=os.path.join(REPO, "build", "share", "gen", "clip", "bpe_simple_vocab_16e6.txt.gz"))
    ap.add_argument("--slow-transformers", required=True, help="folder holding a transformers 4.x package")
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "data", "tokenizer", "prompts.json"))
    args = ap.parse_args()

    import ftfy

    SlowClip, slow_version = load_slow_class(args.slow_transformers)
    import transformers
    from transformers import CLIPTokenizer as FastClip  # the venv's transformers 5

    with tempfile.TemporaryDirectory() as tmp:
        write_vocab_folder(args.vocab, tmp)
        slow = SlowClip(os.path.join(tmp, "vocab.json"), os.path.join(tmp, "merges.txt"))
        assert slow.fix_text is not None, "ftfy must be installed"
        fast = FastClip.from_pretrained(tmp)

    import regex

    pat = regex.compile(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
                        regex.IGNORECASE)

    def openclip_ids(text):
        text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
        text = stdre.sub(r"\s+", " ", text).strip().lower()
        out = []
        for tok in pat.findall(text):
            tok = "".join(slow.byte_encoder[b] for b in tok.encode("utf-8"))
            out += [slow.encoder[t] for t in slow.bpe(tok).split(" ")]
        return out

    prompts = make_prompts()
    cases = []
    for i, text in enumerate(prompts):
        ids = slow(text, add_special_tokens=False)["input_ids"]
        case = {"text": text, "ids": ids}
        f = fast(text, add_special_tokens=False)["input_ids"]
        if f != ids:
            case["fast"] = f
        o = openclip_ids(text)
        if o != ids:
            case["openclip"] = o
        case["sd1"] = slow(text, padding="max_length", max_length=77, truncation=True)["input_ids"]
        if i % 25 == 0 or (len(ids) > 75 and i % 4 == 0):
            # SD 2.x as open_clip does it: the same tokens, 0 after the closing end token.
            # (slow2, with pad_token "!", would also turn every "!" of the prompt into id 0;
            # that diffusers-folder behaviour is covered by the "tiny" cases.)
            sd1 = case["sd1"]
            end = min(len(ids), 75) + 1
            assert sd1[end] == slow.eos_token_id
            case["sd2"] = sd1[: end + 1] + [0] * (77 - end - 1)
        cases.append(case)

    tiny_dir = os.path.join(os.path.dirname(args.out), "tiny")
    write_tiny_folder(tiny_dir)
    tiny = SlowClip(os.path.join(tiny_dir, "vocab.json"), os.path.join(tiny_dir, "merges.txt"), pad_token="!")
    tiny_cases = []
    for text in prompts[:40] + ["hello world", "Hello, World!", "cats and dogs", "unknownword"]:
        tiny_cases.append({"text": text, "ids": tiny(text, add_special_tokens=False)["input_ids"],
                           "sd2": tiny(text, padding="max_length", max_length=77, truncation=True)["input_ids"]})

    doc = {
        "vocab": "bpe_simple_vocab_16e6.txt.gz",
        "reference": {
            "ids/sd1/sd2": f"transformers {slow_version} CLIPTokenizer (slow) with ftfy {ftfy.__version__}",
            "fast": f"transformers {transformers.__version__} CLIPTokenizer (tokenizers backend)",
            "openclip": "ftfy.fix_text + html.unescape x2 + whitespace clean + lower, slow tokenizer BPE",
        },
        "cases": cases,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write("{\n")
        f.write(f'"vocab": {json.dumps(doc["vocab"])},\n"reference": {json.dumps(doc["reference"])},\n"cases": [\n')
        f.write(",\n".join(json.dumps(c, ensure_ascii=True, separators=(",", ":")) for c in cases))
        f.write("\n],\n\"tiny\": [\n")
        f.write(",\n".join(json.dumps(c, ensure_ascii=True, separators=(",", ":")) for c in tiny_cases))
        f.write("\n]}\n")
    n_fast = sum("fast" in c for c in cases)
    n_oc = sum("openclip" in c for c in cases)
    n_sd2 = sum("sd2" in c for c in cases)
    print(f"{len(cases)} prompts ({n_fast} differ in fast, {n_oc} differ in openclip, {n_sd2} sd2), "
          f"{os.path.getsize(args.out)} bytes -> {args.out}")


if __name__ == "__main__":
    main()
