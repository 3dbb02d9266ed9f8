#!/usr/bin/env python3
"""The layout's rules, checked by the test command (scripts/test.sh):

- no source file over 1,000 lines;
- nothing under src/engine/protocol/ names the client that runs the
  protocols (`engine::db`);
- the client (src/engine/db) names a protocol version only in its one
  door to the protocols, db/log.rs: no other file's code (comments and
  string literals aside) has an identifier with a `v1`/`v2` part
  (`v2::`, `V1`, `is_v2`, `V2State`, `write_entry_v1`, ...), S3's own
  `list_objects_v2` excepted;
- no import circle between the engine's modules, at any depth: for every
  path a file names (`crate::engine::...`, `super::...`, `use` groups
  expanded), the two modules' children under their closest common
  ancestor depend one on the other (`db/write.rs` naming
  `super::change::Values` makes `write` depend on `change` under `db`;
  `db` naming `protocol` does so under `engine`); each ancestor's graph
  of children must have no cycle. Names a parent re-exports (`pub use`)
  count as the parent's. Tests and the simulation may reach anywhere:
  only what ships counts.

Prints what breaks a rule and exits 1, or prints nothing.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SRC = os.path.join(ROOT, "src")
ENGINE = os.path.join(SRC, "engine")
MAX_LINES = 1000
# The client's one door to the protocols.
DOOR = os.path.join("src", "engine", "db", "log.rs")
# Identifiers with a version part that are not ours (S3's API).
NOT_OURS = {"list_objects_v2"}


def sources():
    for dirpath, _, files in os.walk(SRC):
        for f in sorted(files):
            if f.endswith(".rs"):
                yield os.path.join(dirpath, f)


def module_path(path):
    """`src/engine/db/write.rs` -> ["engine", "db", "write"]; a `mod.rs`
    is its directory's module."""
    rel = os.path.relpath(path, SRC)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib"):
        rel = rel[:-1]
    return rel


def modules():
    """Every module under src/engine, as a tuple path."""
    out = set()
    for path in sources():
        parts = module_path(path)
        for i in range(1, len(parts) + 1):
            out.add(tuple(parts[:i]))
    return out


def code(text):
    """The text without comments (doc comments name modules freely)."""
    return re.sub(r"//[^\n]*", "", text)


def without_strings(text):
    return re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)


def without_test_modules(body):
    """`body` without its inline `#[cfg(test)] mod ... { ... }` blocks."""
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*mod \w+\s*\{", body):
        if m.start() < i:
            continue
        out.append(body[i:m.start()])
        depth, j = 1, m.end()
        while depth and j < len(body):
            depth += {"{": 1, "}": -1}.get(body[j], 0)
            j += 1
        i = j
    out.append(body[i:])
    return "".join(out)


def named_paths(body):
    """Every `crate::...` and `super::...` path the code names, `use`
    groups expanded one level (`use super::{a, b::C}` names `super::a`
    and `super::b::C`)."""
    paths = []
    for m in re.finditer(r"\b((?:crate|super)(?:::(?:super|\w+))*)::\{([^{}]*)\}", body):
        for item in m.group(2).split(","):
            item = item.strip().split(" as ")[0]
            if item and item != "self":
                paths.append(m.group(1) + "::" + item)
            elif item == "self":
                paths.append(m.group(1))
    for m in re.finditer(r"\b(?:crate|super)(?:::(?:super|\w+))+", body):
        paths.append(m.group(0))
    return paths


def resolve(path, here, known):
    """The module a path names (the longest known module prefix), from the
    module `here` (a tuple)."""
    parts = path.split("::")
    if parts[0] == "crate":
        base, rest = (), parts[1:]
    else:
        base = here
        while parts and parts[0] == "super":
            base, parts = base[:-1], parts[1:]
        rest = parts
    target = base
    for p in rest:
        if target + (p,) in known:
            target = target + (p,)
        else:
            break
    return target


def has_version_part(ident):
    if ident in NOT_OURS:
        return False
    # snake_case parts, then CamelCase humps: `write_entry_v1`, `V2State`.
    for part in ident.split("_"):
        for hump in re.findall(r"[A-Z]?[a-z0-9]+|[A-Z]+[0-9]*(?![a-z])|[A-Z][0-9]+", part) or [part]:
            if re.fullmatch(r"[vV][12]", hump):
                return True
    return False


def main():
    problems = []
    known = modules()
    graphs = {}
    for path in sources():
        text = open(path, encoding="utf-8").read()
        rel = os.path.relpath(path, ROOT)
        lines = text.count("\n")
        if lines > MAX_LINES:
            problems.append(f"{rel}: {lines} lines (at most {MAX_LINES})")
        body = code(text)
        if rel.startswith(os.path.join("src", "engine", "protocol")) and re.search(r"\bengine::db\b", body):
            problems.append(f"{rel}: a protocol names engine::db")
        if not path.startswith(ENGINE + os.sep):
            continue
        # Tests may reach anywhere: only what ships counts.
        if re.search(r"(^|_)tests?\.rs$", os.path.basename(path)) or f"{os.sep}sim{os.sep}" in path:
            continue
        body = without_test_modules(body)
        if rel.startswith(os.path.join("src", "engine", "db") + os.sep) and rel != DOOR:
            for n, line in enumerate(without_strings(body).split("\n"), 1):
                for ident in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", line):
                    if has_version_part(ident):
                        problems.append(
                            f"{rel}: names protocol version ({ident}) outside {DOOR}: {line.strip()}"
                        )
        here = tuple(module_path(path))
        for p in named_paths(body):
            target = resolve(p, here, known)
            # Their closest common ancestor, and the child of it on each side.
            i = 0
            while i < min(len(here), len(target)) and here[i] == target[i]:
                i += 1
            if i >= len(here) or i >= len(target):
                continue  # one contains the other: a parent or a child
            graphs.setdefault(here[:i], {}).setdefault(here[i], set()).add(target[i])
    for parent, graph in sorted(graphs.items()):
        state, stack = {}, []

        def visit(node):
            state[node] = "open"
            stack.append(node)
            for nxt in sorted(graph.get(node, ())):
                if state.get(nxt) == "open":
                    cycle = stack[stack.index(nxt):] + [nxt]
                    problems.append(
                        f"import circle under {'::'.join(parent)}: " + " -> ".join(cycle)
                    )
                elif nxt not in state:
                    visit(nxt)
            stack.pop()
            state[node] = "done"

        for node in sorted(graph):
            if node not in state:
                visit(node)
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
