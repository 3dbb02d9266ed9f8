#!/usr/bin/env bash
# Runs every test: formatting and lints (host and wasm32), the native core
# tests (signing vectors, parsing, simulation), then the browser tests in
# headless Chromium against the S3 test bed started here on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
step() { printf '\n== test: %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check
step "clippy (host)"
cargo clippy --all-targets -- -D warnings
step "clippy (wasm32)"
cargo clippy --all-targets --target wasm32-unknown-unknown -- -D warnings

step "native tests"
cargo test

step "S3 test bed"
config=$(scripts/testbed.sh)
trap 'kill "$(cat target/testbed.pid)" 2>/dev/null || true' EXIT
eval "$(python3 - "$config" <<'PY'
import json, shlex, sys
c = json.load(open(sys.argv[1]))
for k, v in {
    "MPS3_TESTBED_ENDPOINT": c["endpoint"],
    "MPS3_TESTBED_REGION": c["region"],
    "MPS3_TESTBED_ACCESS_KEY": c["accessKeyId"],
    "MPS3_TESTBED_SECRET": c["secretAccessKey"],
}.items():
    print(f"export {k}={shlex.quote(v)}")
PY
)"
echo "test bed at $MPS3_TESTBED_ENDPOINT"

step "browser tests (headless Chromium)"
export WASM_BINDGEN_TEST_TIMEOUT=${WASM_BINDGEN_TEST_TIMEOUT:-180}
cargo test --target wasm32-unknown-unknown --test "*"

echo
echo "all tests passed in $(( $(date +%s) - started )) s"
