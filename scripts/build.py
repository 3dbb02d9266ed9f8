#!/usr/bin/env python3
"""Builds the npm package into pkg/ and measures it.

    scripts/build.py                 # release build into pkg/
    scripts/build.py --bench         # ... and write target/bench/size.json
    scripts/build.py --check-budget  # ... and fail above the size ceiling

Settings come from wasm-pack.toml. Expects the tools of scripts/setup.sh.
"""

import argparse
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from wasm_order import SETTINGS, compression_order, function_bodies, imports, named_in_order

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".tools"


def run(cmd, **kw):
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT, **kw)


def crate_version():
    with open(ROOT / "Cargo.toml", "rb") as f:
        return tomllib.load(f)["package"]["version"]


def gzip9(data: bytes) -> int:
    # mtime=0 and no file name: the figure depends on the bytes only.
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def bundle(out_dir: Path):
    """Bundles the package entry (pkg-template's index.js) with
    wasm-bindgen's glue and the JS the crate brings (`src/web/edges.js`,
    which wasm-bindgen copies beside the glue) into one minified
    index.js, so the package is two files a CDN serves as they are: the
    entry and the .wasm. Only whitespace, names of locals and syntax
    shortcuts change, with no target lowering: the exports and
    `import.meta.url` stay as they are, and the glue's unused exports go.
    The classes' own names are given back by the entry (`--keep-names`
    would keep every function's, for 1 KB gzipped). One file instead of
    two is 0.6 KB gzipped less: the entry's few lines compress with the
    glue's. The glue's declarations stay in mps3.d.ts, which index.d.ts
    reads."""
    esbuild = TOOLS / "node" / "node_modules" / ".bin" / "esbuild"
    entry = out_dir / "index.js"
    tmp = out_dir / "index.min.js"
    run([esbuild, entry, "--bundle", "--minify", "--format=esm", "--legal-comments=none", "--log-level=warning", f"--outfile={tmp}"])
    tmp.replace(entry)
    (out_dir / "mps3.js").unlink()
    shutil.rmtree(out_dir / "snippets", ignore_errors=True)


def wasm_imports(wasm: bytes):
    """The (module, name) pairs of a module's import section."""
    return [(module, name) for module, name, _ in imports(wasm)]


def optimize_and_minify_names(out_dir: Path, wasm_opt: Path, flags: list):
    """Runs wasm-opt with `flags` (wasm-pack.toml), then gives the module's
    imports, exports and import module one- or two-letter names, and the
    glue the same, and runs `flags` once more. wasm-bindgen names each import
    after its JS function plus a 16-digit hash (`__wbg_status_cb85b6c8...`),
    written twice, in the .wasm and in mps3.js; the hashes do not compress.
    Binaryen renames the module and prints the mapping; the glue reaches
    exports only as `wasm.<name>` and imports only as keys of the one
    imports object, so the rewrite is by name, checked below: a glue
    this rewrite does not understand fails the build, not a page.
    2.4 KB gzipped in the .wasm (docs/size.md); the second run after the
    renaming finds 0.4 KB more (a third, nothing)."""
    wasm = out_dir / "mps3_bg.wasm"
    run([wasm_opt, *flags, wasm, "-o", wasm])
    (old_module,) = {m for m, _ in wasm_imports(wasm.read_bytes())}
    cmd = [wasm_opt, "--minify-imports-and-exports-and-modules", *flags, wasm, "-o", wasm]
    print("+", " ".join(str(c) for c in cmd), flush=True)
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"wasm-opt failed:\n{done.stderr}")
    out = done.stdout
    mapping = json.loads(out[out.index("{"):])
    imports = {old: new for _, old, new in mapping["imports"]}
    exports = dict(mapping["exports"])
    (module,) = {m for m, _ in wasm_imports(wasm.read_bytes())}
    word = lambda names: re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b")
    js = out_dir / "mps3.js"
    text = js.read_text()
    if text.count(f'"{old_module}":') != 1:
        sys.exit(f"mps3.js: no single imports object for {old_module!r}; update optimize_and_minify_names")
    text = text.replace(f'"{old_module}":', f"{json.dumps(module)}:")
    text = word(imports).sub(lambda m: imports[m[1]], text)
    text = re.sub(r"\bwasm\.(\w+)", lambda m: "wasm." + exports.get(m[1], m[1]), text)
    unknown = set(re.findall(r"\bwasm\.(\w+)", text)) - set(exports.values())
    if unknown:
        sys.exit(f"mps3.js reaches exports the module does not have: {sorted(unknown)}")
    missing = [n for n in imports.values() if not re.search(rf"(?<![\w$]){re.escape(n)}:", text)]
    if missing:
        sys.exit(f"mps3.js lacks imports the module needs: {missing}")
    js.write_text(text)
    # The declarations of the raw exports (InitOutput, mps3_bg.wasm.d.ts).
    decl = re.compile(r"\b(readonly|export const) (\w+):")
    for ts in out_dir.glob("*.d.ts"):
        ts.write_text(decl.sub(lambda m: f"{m[1]} {exports.get(m[2], m[2])}:", ts.read_text()))


def order_functions(out_dir: Path, wasm_opt: Path, flags: list):
    """Lays the module's functions out in the order that compresses best
    (`wasm_order.py`): for each of its settings, named in that order,
    sorted by name by binaryen, which renumbers every reference to them,
    then shrunk once more with the names stripped; the smallest is kept.
    `flags`' features and settings apply; of their passes, one -Oz, which
    re-encodes the module as compactly as before (the full set after the
    ordering compresses 0.3 KB worse). 2.3 KB gzipped (docs/size.md)."""
    wasm = out_dir / "mps3_bg.wasm"
    data = wasm.read_bytes()
    settings = [f for f in flags if f.startswith(("--enable-", "--strip-", "--low-memory"))]
    print(f"+ ordering the module's functions for compression, {len(SETTINGS)} ways", flush=True)
    jobs = [(data, c, r, wasm.with_suffix(f".order{k}"), wasm_opt, settings) for k, (c, r) in enumerate(SETTINGS)]
    with ProcessPoolExecutor(min(len(jobs), os.cpu_count() or 1)) as pool:
        ordered = list(pool.map(ordered_module, jobs))
    sizes = [gzip9(m) for m in ordered]
    best = sizes.index(min(sizes))
    wasm.write_bytes(ordered[best])
    tried = ", ".join(f"{c}/{r}: {n}" for (c, r), n in zip(SETTINGS, sizes))
    print(f"  .wasm gzip -9: {gzip9(data)} B in the compiler's order, {sizes[best]} B ordered (candidates/recent: {tried})")


def ordered_module(job) -> bytes:
    """One of `order_functions`' orders, applied (a worker process's job)."""
    data, candidates, recent, path, wasm_opt, settings = job
    path.write_bytes(named_in_order(data, compression_order(function_bodies(data), candidates, recent)))
    cmd = [wasm_opt, "--reorder-functions-by-name", "-Oz", "--strip-debug", *settings, path, "-o", path]
    subprocess.run(cmd, check=True, cwd=ROOT)
    out = path.read_bytes()
    path.unlink()
    return out


def panic_strategy(panic: str):
    """The environment and cargo arguments for wasm-pack.toml's `[build]
    panic`. "immediate-abort" rebuilds core and alloc so that every panic
    site is a bare trap, with no message, location or formatting code
    behind it, and drops wasm reference types (10.5 KB gzipped less than
    "abort" in all). These are unstable cargo and rustc options, which the stable toolchain
    takes under RUSTC_BOOTSTRAP=1; they are tested with Rust 1.95, this
    machine kind's toolchain (docs/size.md). MPS3_PANIC=abort builds with
    stable options only, on a toolchain that refuses them."""
    panic = os.environ.get("MPS3_PANIC", panic)
    env = dict(os.environ)
    if panic == "abort":
        return env, []
    if panic != "immediate-abort":
        sys.exit(f"[build] panic must be \"abort\" or \"immediate-abort\", not {panic!r}")
    env["RUSTC_BOOTSTRAP"] = "1"
    with open(ROOT / ".cargo" / "config.toml", "rb") as f:
        flags = tomllib.load(f)["target"]["wasm32-unknown-unknown"]["rustflags"]
    flags = [
        *flags,
        # Legacy symbol names, as on stable: under RUSTC_BOOTSTRAP rustc
        # takes nightly's v0 default, whose longer names reach the JS
        # glue's imports.
        "-Zunstable-options", "-Cpanic=immediate-abort", "-Zlocation-detail=none", "-Csymbol-mangling-version=legacy",
        # Without the reference-types feature (on by default since Rust
        # 1.82), wasm-bindgen keeps JS values in an array of the glue
        # instead of a wasm externref table: the .wasm loses the table's
        # shims, 1.0 KB gzipped in all. Every browser with WebAssembly runs
        # either form. Only with core and alloc rebuilt to match: over the
        # prebuilt ones wasm-bindgen looks for the table and fails. (The
        # browser tests keep the default: wasm-bindgen-test needs it.)
        "-Ctarget-feature=-reference-types",
    ]
    # RUSTFLAGS replaces the config file's flags, so they are repeated here.
    env["CARGO_ENCODED_RUSTFLAGS"] = "\x1f".join(flags)
    env.pop("RUSTFLAGS", None)
    # core's own size-over-speed choices (integer formatting, float
    # parsing, char counting, escapes): 0.9 KB gzipped.
    return env, ["-Zbuild-std=core,alloc", "-Zbuild-std-features=optimize_for_size"]


def assemble(out_dir: Path):
    """Overlay pkg-template/ on wasm-pack's output: package.json fields
    (the version always from Cargo.toml) and the files users read."""
    template = ROOT / "pkg-template"
    pkg_json = json.loads((out_dir / "package.json").read_text())
    overlay = json.loads((template / "package.json").read_text())
    pkg_json.update(overlay)
    pkg_json["version"] = crate_version()
    for f in sorted(template.iterdir()):
        if f.name == "package.json":
            continue
        shutil.copy(f, out_dir / f.name)
    bundle(out_dir)
    pkg_json["files"] = sorted(p.name for p in out_dir.iterdir() if p.suffix in (".wasm", ".js", ".ts", ".md"))
    (out_dir / "package.json").write_text(json.dumps(pkg_json, indent=2) + "\n")
    (out_dir / ".gitignore").unlink(missing_ok=True)
    package_readme(out_dir)


def package_readme(out_dir: Path):
    """The package's README, which npm shows: pkg-template's introduction,
    then the project README's "Use" section (quick start, the API, the
    options, the bucket's CORS rule), so that users meet the API where they
    install the package, kept in one place."""
    project = (ROOT / "README.md").read_text()
    start = project.index("\n## Use\n")
    end = project.index("\n## ", start + 1)
    intro = (ROOT / "pkg-template" / "README.md").read_text().rstrip()
    (out_dir / "README.md").write_text(intro + "\n" + project[start:end].rstrip() + "\n")


def measure(out_dir: Path, budget: int, ceiling: int):
    sizes = {}
    total_gz = 0
    for f in sorted(out_dir.iterdir()):
        if f.suffix in (".wasm", ".js"):
            data = f.read_bytes()
            sizes[f.name] = {"raw": len(data), "gzip9": gzip9(data)}
            total_gz += sizes[f.name]["gzip9"]
    report = {
        "files": sizes,
        "total_raw": sum(s["raw"] for s in sizes.values()),
        "total_gzip9": total_gz,
        "budget_gzip9": budget,
        "ceiling_gzip9": ceiling,
    }
    bench = ROOT / "target" / "bench"
    bench.mkdir(parents=True, exist_ok=True)
    (bench / "size.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n{'file':<28}{'raw':>10}{'gzip -9':>10}")
    for name, s in sizes.items():
        print(f"{name:<28}{s['raw']:>10}{s['gzip9']:>10}")
    print(f"{'total':<28}{report['total_raw']:>10}{total_gz:>10}   goal {budget}, ceiling {ceiling}")
    print(f"wrote {bench / 'size.json'}")
    return report


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", action="store_true")
    ap.add_argument("--check-budget", action="store_true")
    args = ap.parse_args()
    with open(ROOT / "wasm-pack.toml", "rb") as f:
        cfg = tomllib.load(f)
    out_dir = ROOT / cfg["build"]["out_dir"]
    # scripts/demo.sh skips a build while this names the sources of the
    # package in pkg/; any other build makes it stale.
    (ROOT / "target" / "demo" / "pkg-inputs").unlink(missing_ok=True)
    env, cargo_args = panic_strategy(cfg["build"]["panic"])
    for target in cfg["build"]["targets"]:
        run(
            [
                "wasm-pack", "build", "--mode", "no-install", "--" + cfg["build"]["profile"],
                "--target", target, "--out-dir", out_dir, "--out-name", "mps3",
                # no_std: panics trap without formatting (Cargo.toml, [features]).
                "--no-default-features",
                "--", *cargo_args,
            ],
            env=env,
        )
    wasm = out_dir / "mps3_bg.wasm"
    wasm_opt = TOOLS / "node" / "node_modules" / ".bin" / "wasm-opt"
    optimize_and_minify_names(out_dir, wasm_opt, cfg["wasm-opt"]["flags"])
    order_functions(out_dir, wasm_opt, cfg["wasm-opt"]["flags"])
    assemble(out_dir)
    budget = cfg["budget"]
    report = (
        measure(out_dir, budget["gzip_bytes"], budget["ceiling_gzip_bytes"])
        if (args.bench or args.check_budget)
        else None
    )
    if args.check_budget and report["total_gzip9"] > budget["ceiling_gzip_bytes"]:
        print(f"the package grew past its ceiling: {report['total_gzip9']} > {budget['ceiling_gzip_bytes']} bytes gzipped")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
