#!/usr/bin/env bash
# Installs what the demo and the tests need, skipping what is already there:
# the wasm32 target, wasm-pack, wasm-bindgen-cli at the version in
# Cargo.lock, Chromium + chromedriver (Debian), wasm-opt (npm binaryen, the
# version in wasm-pack.toml), esbuild (npm, likewise), the test bed's Python packages (.tools/venv)
# and the end-to-end tests' npm packages; with `--with-s3s-fs` (the test
# command) also s3s-fs, the conformance checks' second server. Safe to run
# again: quick when all is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
tools="$root/.tools"
mkdir -p "$tools"
step() { printf '\n== setup: %s\n' "$*"; }

export PATH="$HOME/.cargo/bin:$PATH"

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi
# rust-src: the release build compiles core and alloc itself (wasm-pack.toml,
# [build] panic).
for c in clippy rustfmt rust-src; do
  rustup component list --installed | grep -q "^$c" || rustup component add "$c"
done

if ! command -v wasm-pack >/dev/null; then
  step "wasm-pack"
  cargo install wasm-pack --locked
fi

# wasm-bindgen-cli must equal the wasm-bindgen in Cargo.lock (pinned with
# `=` in Cargo.toml), or wasm-pack tries to download one and fails.
[ -f Cargo.lock ] || cargo generate-lockfile
wb_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$wb_version" ]; then
  step "wasm-bindgen-cli $wb_version"
  # Not --locked: its lock names a webpki-roots release the registry lacks.
  cargo install wasm-bindgen-cli --version "$wb_version" --force
fi

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  step "chromium and chromium-driver (Debian)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium chromium-driver >/dev/null
fi

binaryen=$(python3 -c 'import tomllib;print(tomllib.load(open("wasm-pack.toml","rb"))["wasm-opt"]["binaryen"])')
installed=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["version"])' "$tools/node/node_modules/binaryen/package.json" 2>/dev/null || true)
if [ "$installed" != "$binaryen" ]; then
  step "wasm-opt (npm binaryen@$binaryen)"
  npm install --silent --no-audit --no-fund --prefix "$tools/node" "binaryen@$binaryen"
fi

esbuild=$(python3 -c 'import tomllib;print(tomllib.load(open("wasm-pack.toml","rb"))["js"]["esbuild"])')
installed=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["version"])' "$tools/node/node_modules/esbuild/package.json" 2>/dev/null || true)
if [ "$installed" != "$esbuild" ]; then
  step "JS minifier (npm esbuild@$esbuild)"
  npm install --silent --no-audit --no-fund --prefix "$tools/node" "esbuild@$esbuild"
fi

req=tests/testbed/requirements.txt
if ! cmp -s "$req" "$tools/venv/.installed" 2>/dev/null; then
  step "test bed (moto) in .tools/venv"
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  cp "$req" "$tools/venv/.installed"
fi

# A second S3 server for the conformance checks, stricter than moto: it
# verifies SigV4 to the body hash and the date. 0.14.1 is the newest that
# builds with this machine's rustc (toolchain.md).
# Only the test command asks for it (`--with-s3s-fs`).
s3s=0.14.1
if [ "${1:-}" = --with-s3s-fs ] && [ "$("$tools/s3s/bin/s3s-fs" --version 2>/dev/null | awk '{print $2}')" != "$s3s" ]; then
  step "s3s-fs $s3s in .tools/s3s (about 3 minutes)"
  # A debug build: half the compile time, and fast enough for a few hundred requests.
  cargo install s3s-fs --version "$s3s" --features binary --locked --debug --root "$tools/s3s"
fi

if ! cmp -s tests/e2e/package-lock.json tests/e2e/node_modules/.mps3-installed 2>/dev/null; then
  step "end-to-end test packages (tests/e2e: playwright-core, no browser download)"
  (cd tests/e2e && npm ci --silent --no-audit --no-fund)
  cp tests/e2e/package-lock.json tests/e2e/node_modules/.mps3-installed
fi
echo "setup: ok"
