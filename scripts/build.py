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
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

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


def minify(js: Path):
    """Minifies wasm-bindgen's glue in place. Only whitespace, names of
    locals and syntax shortcuts change, with no target lowering: the exports,
    `import.meta.url` and the types in mps3.d.ts stay as they are. The
    class's own name is given back in index.js (`--keep-names` would keep
    every function's, for 1 KB gzipped)."""
    esbuild = TOOLS / "node" / "node_modules" / ".bin" / "esbuild"
    tmp = js.with_suffix(".min.js")
    run([esbuild, js, "--minify", "--format=esm", "--legal-comments=none", "--log-level=warning", f"--outfile={tmp}"])
    tmp.replace(js)


def panic_strategy(panic: str):
    """The environment and cargo arguments for wasm-pack.toml's `[build]
    panic`. "immediate-abort" rebuilds core and alloc so that every panic
    site is a bare trap, with no message, location or formatting code
    behind it (9.8 KB gzipped less than "abort", with the feature below).
    These are unstable cargo and rustc options, which the stable toolchain
    takes under RUSTC_BOOTSTRAP=1; they are tested with Rust 1.95, this
    machine kind's toolchain (README, "Size"). MPS3_PANIC=abort builds with
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
    # Legacy symbol names, as on stable: under RUSTC_BOOTSTRAP rustc takes
    # nightly's v0 default, whose longer names reach the JS glue's imports.
    flags = [*flags, "-Zunstable-options", "-Cpanic=immediate-abort", "-Zlocation-detail=none", "-Csymbol-mangling-version=legacy"]
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
    files = set(pkg_json.get("files", []))
    for f in sorted(template.iterdir()):
        if f.name == "package.json":
            continue
        shutil.copy(f, out_dir / f.name)
        files.add(f.name)
    files.update(p.name for p in out_dir.iterdir() if p.suffix in (".wasm", ".js", ".ts"))
    files.discard(".gitignore")
    pkg_json["files"] = sorted(files)
    (out_dir / "package.json").write_text(json.dumps(pkg_json, indent=2) + "\n")
    (out_dir / ".gitignore").unlink(missing_ok=True)


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
    run([wasm_opt, *cfg["wasm-opt"]["flags"], wasm, "-o", wasm])
    minify(out_dir / "mps3.js")
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
