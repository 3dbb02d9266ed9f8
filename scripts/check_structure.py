#!/usr/bin/env python3
"""The layout's rules, checked by the test command (scripts/test.sh):

- no source file over 1,000 lines;
- nothing under src/engine/protocol/ names the client that runs the
  protocols (`engine::db`);
- no import circle between the engine's modules: the graph of which of
  `src/engine/*` names which (by `crate::engine::<module>` paths, and by
  `super::` paths inside a module's own files) has no cycle.

Prints what breaks a rule and exits 1, or prints nothing.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SRC = os.path.join(ROOT, "src")
MAX_LINES = 1000


def sources():
    for dirpath, _, files in os.walk(SRC):
        for f in sorted(files):
            if f.endswith(".rs"):
                yield os.path.join(dirpath, f)


def engine_module(path):
    """The top-level engine module a file belongs to, or None."""
    rel = os.path.relpath(path, os.path.join(SRC, "engine"))
    if rel.startswith(".."):
        return None
    head = rel.split(os.sep)[0]
    return head[:-3] if head.endswith(".rs") else head


def code(text):
    """The text without comments (doc comments name modules freely)."""
    return re.sub(r"//[^\n]*", "", text)


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


def main():
    problems = []
    graph = {}
    for path in sources():
        text = open(path, encoding="utf-8").read()
        rel = os.path.relpath(path, ROOT)
        lines = text.count("\n")
        if lines > MAX_LINES:
            problems.append(f"{rel}: {lines} lines (at most {MAX_LINES})")
        body = code(text)
        if rel.startswith(os.path.join("src", "engine", "protocol")) and re.search(r"\bengine::db\b", body):
            problems.append(f"{rel}: a protocol names engine::db")
        module = engine_module(path)
        if module is None or module == "mod":
            continue
        # Tests may reach anywhere: only what ships counts.
        if re.search(r"(^|_)tests?\.rs$", os.path.basename(path)) or f"{os.sep}sim{os.sep}" in path:
            continue
        body = without_test_modules(body)
        for used in re.findall(r"\bcrate::engine::(\w+)", body):
            if used != module:
                graph.setdefault(module, set()).add(used)
    # Cycles between top-level engine modules.
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycle = stack[stack.index(nxt):] + [nxt]
                problems.append("import circle: " + " -> ".join(cycle))
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
