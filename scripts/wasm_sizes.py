#!/usr/bin/env python3
"""Where a change's bytes went: the raw size of each function body of two
builds of the .wasm, compared by name.

    scripts/wasm_sizes.py OLD.wasm NEW.wasm [--most N]

Give it the release build cargo leaves before wasm-opt
(target/wasm32-unknown-unknown/release/mps3.wasm): it keeps its name
section, whose names (hashes dropped) match across builds. Prints the
total, then the functions that grew and shrank most. Raw bytes, not
gzip: a guide to where to look, which the build's gzip figure then
judges (docs/size.md).

    scripts/wasm_sizes.py --optimized OUT.wasm [--most N]

writes OUT.wasm, the last release build (scripts/build.py) as the package
ships it (wasm-bindgen's shims, wasm-opt with wasm-pack.toml's flags) but
with its names kept, and prints its largest functions: what wasm-opt
inlined, merged and left, which the build before wasm-opt does not show
(an export's shim, for one).
"""
import argparse
import re
import subprocess
import tempfile
import tomllib
from pathlib import Path

from wasm_order import leb


def sections(data: bytes):
    """(id, start, end) of each section."""
    i = 8
    while i < len(data):
        sid = data[i]
        size, i = leb(data, i + 1)
        yield sid, i, i + size
        i += size


def imported_functions(data: bytes, start: int) -> int:
    count, i = leb(data, start)
    functions = 0
    for _ in range(count):
        for _ in range(2):  # module and field names
            n, i = leb(data, i)
            i += n
        kind = data[i]
        i += 1
        if kind == 0:  # function: its type index
            _, i = leb(data, i)
            functions += 1
        elif kind == 1:  # table: element type, limits
            flags, i = leb(data, i + 1)
            _, i = leb(data, i)
            if flags & 1:
                _, i = leb(data, i)
        elif kind == 2:  # memory: limits
            flags, i = leb(data, i)
            _, i = leb(data, i)
            if flags & 1:
                _, i = leb(data, i)
        elif kind == 3:  # global: type, mutability
            i += 2
    return functions


def function_sizes(path: str) -> dict:
    data = open(path, "rb").read()
    imported, bodies, names = 0, [], {}
    for sid, start, end in sections(data):
        if sid == 2:
            imported = imported_functions(data, start)
        elif sid == 10:
            count, i = leb(data, start)
            for _ in range(count):
                size, i = leb(data, i)
                bodies.append(size)
                i += size
        elif sid == 0:
            n, i = leb(data, start)
            if data[i:i + n] != b"name":
                continue
            i += n
            while i < end:
                sub = data[i]
                size, i = leb(data, i + 1)
                if sub == 1:  # function names
                    count, j = leb(data, i)
                    for _ in range(count):
                        index, j = leb(data, j)
                        n, j = leb(data, j)
                        names[index] = data[j:j + n].decode("utf-8", "replace")
                        j += n
                i += size
    sizes = {}
    for k, size in enumerate(bodies):
        name = names.get(imported + k, f"#{imported + k}")
        # The hash, mangled or demangled (wasm-bindgen demangles).
        name = re.sub(r"(17h[0-9a-f]{16}E|::h[0-9a-f]{16})$", "", name)
        sizes[name] = sizes.get(name, 0) + size
    return sizes


ROOT = Path(__file__).resolve().parent.parent


def optimized(out: Path):
    """The release build through wasm-bindgen and wasm-opt, names kept."""
    with open(ROOT / "wasm-pack.toml", "rb") as f:
        flags = tomllib.load(f)["wasm-opt"]["flags"]
    built = ROOT / "target" / "wasm32-unknown-unknown" / "release" / "mps3.wasm"
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["wasm-bindgen", "--keep-debug", "--target", "web", "--out-dir", tmp,
                        "--out-name", "m", built], check=True)
        wasm_opt = ROOT / ".tools" / "node" / "node_modules" / ".bin" / "wasm-opt"
        subprocess.run([wasm_opt, "-g", *flags, Path(tmp) / "m_bg.wasm", "-o", out], check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old", nargs="?")
    ap.add_argument("new", nargs="?")
    ap.add_argument("--optimized", metavar="OUT")
    ap.add_argument("--most", type=int, default=25)
    args = ap.parse_args()
    if args.optimized:
        optimized(Path(args.optimized))
        sizes = function_sizes(args.optimized)
        print(f"functions' bytes: {sum(sizes.values())}")
        for name, size in sorted(sizes.items(), key=lambda kv: -kv[1])[:args.most]:
            print(f"{size:7} {name[:160]}")
        return
    if not (args.old and args.new):
        ap.error("give OLD.wasm and NEW.wasm, or --optimized OUT.wasm")
    old, new = function_sizes(args.old), function_sizes(args.new)
    print(f"functions' bytes: {sum(old.values())} -> {sum(new.values())} "
          f"({sum(new.values()) - sum(old.values()):+})")
    deltas = sorted(((new.get(k, 0) - old.get(k, 0), k) for k in old.keys() | new.keys()), reverse=True)
    for delta, name in deltas[:args.most]:
        if delta > 0:
            print(f"{delta:+7} {name[:160]}")
    print("...")
    for delta, name in deltas[-args.most:]:
        if delta < 0:
            print(f"{delta:+7} {name[:160]}")


if __name__ == "__main__":
    main()
