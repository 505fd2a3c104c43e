#!/usr/bin/env python3
"""Docs that cannot drift: run every shell block of README.md and docs/*.md.

Every ```sh, ```bash, ```shell and ```console block (console: the lines after `$ `) is split
into commands (a line with its `\\` continuations; a for/while/if/case construct as a whole)
and run, block after block, in one bash per Markdown file, in a scratch folder made by
tests/docs/prelude.sh, where the docs' placeholder names (v1-5-pruned-emaonly.safetensors,
control_v11p_sd15_canny.safetensors, photo.jpg, ~/sd/Lora, …) are tiny models and small
inputs. `gen` and `build/tools/gen` are the gen under test. A command that exits non-zero fails
the test, unless tests/docs/allowlist.txt lists it with the reason it cannot run here (real
weights, a GPU, the network, the set-up itself); an allow-list entry that matches no command
fails the test too, so the list cannot go stale.

    doc_tests.py setup DIR                    # the prelude: DIR/fixtures (GEN_SRC, GEN_PYTHON)
    doc_tests.py run DIR README.md docs/cli.md …   # run these files' blocks (GEN, GEN_SRC)
    doc_tests.py list [FILES…]                # the commands and what happens to each
    doc_tests.py selftest DIR                 # a broken command and a stale entry are caught

CTest runs `setup` once (docs.setup) and `run` once per Markdown file (docs.<file>), in
parallel (tests/CMakeLists.txt).
"""
import os
import re
import shlex
import shutil
import subprocess
import sys
import time

LANGS = {"sh", "bash", "shell", "console"}
FENCE = re.compile(r"^(\s*)```\s*([A-Za-z0-9_+-]*)\s*$")
OPENERS = re.compile(r"^(for|while|until|if|case)\b")
CLOSERS = {"for": "done", "while": "done", "until": "done", "if": "fi", "case": "esac"}
# Options whose value is a file gen writes: a fixture of that name is not put in the folder
# when the file's first mention writes it (so a command's output is never a stale fixture).
# `<!-- docs-test: same as PATH -->` right before a fence: the block must be that file, as it is.
SAME = re.compile(r"^\s*<!-- docs-test: same as (\S+) -->\s*$")
OUTPUT_OPTS = {"-o", "--output", "--json", "-O", "--out-dir"}


def src_dir():
    return os.environ.get("GEN_SRC") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def doc_files(src):
    docs = os.path.join(src, "docs")
    return ["README.md"] + sorted("docs/" + f for f in os.listdir(docs) if f.endswith(".md"))


def blocks(text):
    """(line of the fence, language, [(line number, text)]) for each fenced block."""
    out, lines, i = [], text.split("\n"), 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m and m.group(2):
            start, lang, indent, body = i + 1, m.group(2), len(m.group(1)), []
            same = SAME.match(lines[i - 1]) if i else None
            if same:
                lang = "same:" + same.group(1)
            i += 1
            while i < len(lines) and not re.match(r"^\s*```\s*$", lines[i]):
                body.append((i + 1, lines[i][indent:] if not lines[i][:indent].strip() else lines[i].lstrip()))
                i += 1
            out.append((start, lang, body))
        elif m:  # an unlabelled block: skip to its end
            i += 1
            while i < len(lines) and not re.match(r"^\s*```\s*$", lines[i]):
                i += 1
        i += 1
    return out


def commands(lang, body):
    """The block's commands: (first line number, text). Comments and blank lines dropped."""
    if lang == "console":  # `$ cmd` lines (and their continuations); the rest is output
        kept, cont = [], False
        for n, line in body:
            if line.startswith("$ "):
                kept.append((n, line[2:]))
            elif cont:
                kept.append((n, line))
            cont = (line.startswith("$ ") or cont) and line.rstrip().endswith("\\")
        body = kept
    logical, cur = [], None
    for n, line in body:
        if cur is None:
            cur = [n, line]
        else:
            cur[1] += "\n" + line
        if not line.rstrip().endswith("\\"):
            logical.append(tuple(cur))
            cur = None
    if cur:
        logical.append(tuple(cur))
    out, i = [], 0
    while i < len(logical):
        n, text = logical[i]
        s = text.strip()
        if not s or s.startswith("#"):
            i += 1
            continue
        m = OPENERS.match(s)
        if m and not re.search(r"\b%s\b" % CLOSERS[m.group(1)], s):  # a construct over several lines
            depth, parts = 1, [text]
            while depth and i + 1 < len(logical):
                i += 1
                t = logical[i][1].strip()
                parts.append(logical[i][1])
                if OPENERS.match(t) and not re.search(r"\b(done|fi|esac)\b", t):
                    depth += 1
                elif re.match(r"^(done|fi|esac)\b", t):
                    depth -= 1
            text = "\n".join(parts)
        out.append((n, text))
        i += 1
    return out


def load_allowlist(path):
    """[(file, text, reason, line)] from lines `FILE | TEXT | REASON`."""
    entries = []
    for k, line in enumerate(open(path, encoding="utf-8").read().split("\n"), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = [p.strip() for p in line.split(" | ")]
        if len(parts) != 3 or not all(parts):
            sys.exit(f"{path}:{k}: expected `FILE | TEXT | REASON`: {line}")
        entries.append((parts[0], parts[1], parts[2], k))
    return entries


def same_as(src, name):
    """Failures of the blocks marked `same as PATH`: each must equal the file PATH."""
    text = open(os.path.join(src, name), encoding="utf-8").read()
    fails = []
    for start, lang, body in blocks(text):
        if lang.startswith("same:"):
            path = lang[5:]
            full = os.path.join(src, path)
            want = open(full, encoding="utf-8").read() if os.path.isfile(full) else None
            got = "".join(line + "\n" for _, line in body)
            if want is None:
                fails.append(f"{name}:{start}: the block is to be {path}, which does not exist")
            elif got != want:
                diff = next(k for k, (a, b) in enumerate(zip(got.split("\n"), want.split("\n") + [None])) if a != b)
                fails.append(f"{name}:{start}: the block differs from {path} (first at its line {diff + 1})")
    return fails


def plan(src, name, allow):
    """The commands of one Markdown file: [(line, text, reason or None)], and unused entries."""
    text = open(os.path.join(src, name), encoding="utf-8").read()
    mine = [e for e in allow if e[0] == name]
    used = set()
    cmds = []
    for _, lang, body in blocks(text):
        if lang not in LANGS:
            continue
        for n, c in commands(lang, body):
            reason = None
            for e in mine:
                if e[1] in c:
                    reason = e[2]
                    used.add(e)
                    break
            cmds.append((n, c, reason))
    return cmds, [e for e in mine if e not in used]


def written_first(cmds):
    """Names whose first mention in these commands (those that run) is as an output file."""
    seen, written = set(), set()
    for _, c, reason in cmds:
        if reason:
            continue
        try:
            words = shlex.split(c.replace("\\\n", " "), comments=True)
        except ValueError:
            continue
        out_at = {i + 1 for i in range(len(words) - 1) if words[i] in OUTPUT_OPTS}
        if words[1:2] == ["convert"]:
            out_at.add(3)  # gen convert IN OUT
        if words[1:3] == ["controlnet", "init"]:
            out_at.add(4)  # gen controlnet init MODEL OUT
        for i, w in enumerate(words):
            name = w.rstrip("/")
            if name and name not in seen:
                seen.add(name)
                if i in out_at:
                    written.add(name)
    return written


def script(name, cmds):
    """The bash script that runs one file's commands and reports each failure."""
    out = ["exec </dev/null", "__fails=0"]
    for n, c, reason in cmds:
        where = f"{name}:{n}"
        if reason:
            out.append(f"echo {shlex.quote(f'allowed: {where}: {reason}')}")
            continue
        out.append(f"echo {shlex.quote(f'run: {where}: ' + c.splitlines()[0])}")
        out.append("{ " + c + "\n}")
        out.append(f"__rc=$?; if [ $__rc != 0 ]; then echo {shlex.quote(f'DOCFAIL {where}')}\" (exit $__rc): \""
                   f"{shlex.quote(c.splitlines()[0])}; __fails=$((__fails + 1)); fi")
    out.append("exit $((__fails > 100 ? 100 : __fails))")
    return "\n".join(out) + "\n"


def folder_for(d, name, cmds, gen):
    """DIR/run/<file>: every fixture linked in, except the files the commands write first."""
    fixtures = os.path.join(d, "fixtures")
    if not os.path.isdir(fixtures):
        sys.exit(f"{fixtures}: no fixtures; run `doc_tests.py setup {d}` first (CTest: docs.setup)")
    work = os.path.join(d, "run", name.replace("/", "_").removesuffix(".md"))
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    skip = written_first(cmds) | {"build"}
    for f in os.listdir(fixtures):
        if f not in skip:
            os.symlink(os.path.join(fixtures, f), os.path.join(work, f))
    # build/tools/gen and build/models: the paths the docs give from the repository root.
    os.makedirs(os.path.join(work, "build", "tools"))
    os.symlink(gen, os.path.join(work, "build", "tools", "gen"))
    os.symlink(os.path.join(fixtures, "build", "models"), os.path.join(work, "build", "models"))
    os.makedirs(os.path.join(work, ".docbin"))  # `gen` on the PATH
    os.symlink(gen, os.path.join(work, ".docbin", "gen"))
    return work


def run(d, names, quiet=False):
    src, gen = src_dir(), os.path.abspath(os.environ["GEN"])
    allow = load_allowlist(os.path.join(src, "tests", "docs", "allowlist.txt"))
    failed = 0
    for name in names:
        cmds, stale = plan(src, name, allow)
        for f in same_as(src, name):
            print(f"FAIL: {f}")
            failed += 1
        for e in stale:
            print(f"FAIL: tests/docs/allowlist.txt:{e[3]}: `{e[1]}` matches no command of {name} (stale entry)")
            failed += 1
        if not cmds:
            print(f"{name}: no shell blocks")
            continue
        work = folder_for(d, name, cmds, gen)
        env = {k: v for k, v in os.environ.items() if not k.startswith("GEN_") and k != "GEN"}
        env.update(HOME=work, PATH=os.path.join(work, ".docbin") + os.pathsep + env.get("PATH", ""))
        # CTest runs these tests side by side on shared CI machines: libgomp's spinning threads
        # then cost minutes per command (docs/api.md, `threads`). The commands are unchanged.
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        t0 = time.time()
        p = subprocess.run(["bash", "-c", script(name, cmds)], cwd=work, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        secs = time.time() - t0
        if not quiet or p.returncode:
            sys.stdout.write(p.stdout)
        ran = sum(1 for c in cmds if not c[2])
        print(f"{name}: {ran} commands run, {len(cmds) - ran} allow-listed, "
              f"{p.returncode if p.returncode >= 0 else 'killed by signal %d: all' % -p.returncode} failed, {secs:.1f} s")
        failed += p.returncode if p.returncode > 0 else (1 if p.returncode else 0)  # < 0: killed
    return failed


def selftest(d):
    """The test can fail: a broken command, a missing file, a stale entry and a copy of a file
    that differs from it."""
    d = os.path.join(d, "selftest")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "fixtures", "build", "models"))
    src = os.path.join(d, "src")
    os.makedirs(os.path.join(src, "docs"))
    os.makedirs(os.path.join(src, "tests", "docs"))
    open(os.path.join(src, "README.md"), "w").write(
        "```sh\ngen --version\ngen --no-such-option -o x.png   # broken\n```\n"
        "```console\n$ gen inspect no-such-model.safetensors\nsome output\n```\n"
        "```sh\ngen needs-real-weights\n```\n")
    open(os.path.join(src, "docs", "a.md"), "w").write(
        "```bash\ntrue\n```\n<!-- docs-test: same as tests/docs/allowlist.txt -->\n```text\nnot the file\n```\n")
    open(os.path.join(src, "tests", "docs", "allowlist.txt"), "w").write(
        "README.md | needs-real-weights | a reason\ndocs/a.md | never-there | stale\n")
    os.environ["GEN_SRC"] = src
    import io
    import contextlib
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        n = run(d, doc_files(src))
    out = buf.getvalue()
    print(out)
    want = ["DOCFAIL README.md:3", "DOCFAIL README.md:6", "allowed: README.md:10: a reason",
            "tests/docs/allowlist.txt:2: `never-there` matches no command of docs/a.md",
            "docs/a.md:5: the block differs from tests/docs/allowlist.txt"]
    missing = [w for w in want if w not in out]
    if n != 4 or missing or "DOCFAIL README.md:2" in out:
        print(f"selftest FAILED: {n} failures (want 4), missing {missing}")
        return 1
    print("selftest: the broken command, the missing file, the stale entry and the changed copy were caught")
    return 0


def main(argv):
    if len(argv) < 2 or argv[1] not in ("setup", "run", "list", "selftest"):
        print(__doc__)
        return 2
    cmd = argv[1]
    if cmd == "setup":
        d = os.path.abspath(argv[2])
        os.makedirs(d, exist_ok=True)
        t0 = time.time()
        subprocess.run(["bash", os.path.join(src_dir(), "tests", "docs", "prelude.sh"), os.path.join(d, "fixtures")],
                       check=True)
        print(f"fixtures in {d}/fixtures ({time.time() - t0:.1f} s)")
        return 0
    if cmd == "list":
        src = src_dir()
        allow = load_allowlist(os.path.join(src, "tests", "docs", "allowlist.txt"))
        for name in argv[2:] or doc_files(src):
            cmds, stale = plan(src, name, allow)
            for n, c, reason in cmds:
                print(f"{name}:{n}: {'ALLOWED (' + reason + ')' if reason else 'run'}: {c.splitlines()[0]}")
            for e in stale:
                print(f"tests/docs/allowlist.txt:{e[3]}: stale: {e[1]}")
        return 0
    if cmd == "selftest":
        return selftest(os.path.abspath(argv[2]))
    d = os.path.abspath(argv[2])
    return 1 if run(d, argv[3:]) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
