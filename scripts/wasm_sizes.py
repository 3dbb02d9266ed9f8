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
"""
import argparse
import re

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
        name = re.sub(r"17h[0-9a-f]{16}E$", "", names.get(imported + k, f"#{imported + k}"))
        sizes[name] = sizes.get(name, 0) + size
    return sizes


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--most", type=int, default=25)
    args = ap.parse_args()
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
