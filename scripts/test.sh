#!/usr/bin/env bash
# Runs every test: formatting and lints (host and wasm32), the native core
# tests (signing vectors, parsing, simulation), then the browser tests in
# headless Chromium against the S3 test bed started here on 127.0.0.1, the
# conformance checks against s3s-fs, the package build and the end-to-end
# tests.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
scripts/setup.sh --with-s3s-fs
export PATH="$HOME/.cargo/bin:$PATH"
step() { printf '\n== test: %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check
step "the layout's rules (scripts/check_structure.py): files at most 1,000 lines, protocols not naming the client, the client naming protocol versions only in db/log.rs, no import circle between the engine's modules at any depth"
scripts/check_structure.py
step "clippy (host)"
cargo clippy --all-targets -- -D warnings
step "clippy (wasm32)"
cargo clippy --all-targets --target wasm32-unknown-unknown -- -D warnings
step "clippy (wasm32, no_std as released)"
cargo clippy --lib --target wasm32-unknown-unknown --no-default-features -- -D warnings

step "clippy (the auth proxy)"
cargo clippy -p mps3-proxy --all-targets -- -D warnings

step "native tests"
cargo test
step "the auth proxy's native tests (rules, derived credentials, signatures, validators)"
cargo test -p mps3-proxy

step "S3 test bed"
config=$(scripts/testbed.sh --bucket demo-board)
pids=("$(cat target/testbed.pid)")
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
eval "$(scripts/testbed-env.py "$config")"
export MPS3_TESTBED_CONFIG="$PWD/$config"
echo "test bed at $MPS3_TESTBED_ENDPOINT"

step "the auth proxy in front of the test bed: each refusal tried, the bucket unchanged after it"
cargo test -p mps3-proxy --test against_bucket -- --ignored --test-threads=1

step "browser tests (headless Chromium)"
export WASM_BINDGEN_TEST_TIMEOUT=${WASM_BINDGEN_TEST_TIMEOUT:-180}
cargo test --target wasm32-unknown-unknown --test s3_browser --test db_browser --test offline_browser --test v2_browser --test atomic_browser --test faults_browser --test encryption_browser

step "the same conformance checks against the in-memory S3 (the browser's own bucket, which the simulation trusts too): all pass but what it does not offer"
MPS3_ENDPOINT="local:" MPS3_BUCKET=conformance AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local \
  MPS3_CONFORMANCE_REQUIRE=all \
  MPS3_CONFORMANCE_NOT_OFFERED="gzip content read back decoded;versioning" scripts/conformance.sh

step "conformance checks against s3s-fs (SigV4 verified to the body hash and date), behind a CORS proxy"
s3s_env=$(scripts/s3s-fs.sh)
pids+=($(cat target/s3s-fs.pids))
(eval "$s3s_env" && scripts/conformance.sh)
step "protocol v2 against s3s-fs, through faults the CORS proxy injects"
(eval "$s3s_env" && MPS3_CONFORMANCE_ENDPOINT="$MPS3_ENDPOINT" MPS3_CONFORMANCE_REGION="$MPS3_REGION" \
  MPS3_CONFORMANCE_BUCKET="$MPS3_BUCKET" MPS3_CONFORMANCE_ACCESS_KEY_ID="$AWS_ACCESS_KEY_ID" \
  MPS3_CONFORMANCE_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY" \
  cargo test --target wasm32-unknown-unknown --test s3s_v2_browser)

step "package build and size ceiling, its TypeScript types (tsc --noEmit on tests/types/usage.ts)"
scripts/build.py --check-budget
tests/e2e/node_modules/.bin/tsc -p tests/types/tsconfig.json

step "end to end in Chromium (playwright-core): the demo, also behind two auth proxy replicas; the package from Vite, esbuild and a CDN URL"
proxy_urls=$(scripts/proxy.py "$config" --replicas 2)
pids+=($(cat target/proxy/pids))
MPS3_PROXY_REPLICAS=$(python3 -c 'import json,sys;print(" ".join(json.loads(sys.argv[1])["replicas"]))' "$proxy_urls")
MPS3_PROXY_IDP=$(python3 -c 'import json,sys;print(json.loads(sys.argv[1])["idp"])' "$proxy_urls")
export MPS3_PROXY_REPLICAS MPS3_PROXY_IDP
. scripts/serve-demo.sh
serve_demo "$config"
(cd tests/e2e && node --test)

echo
echo "all tests passed in $(( $(date +%s) - started )) s"
