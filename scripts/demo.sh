#!/usr/bin/env bash
# The main job: build the package, start the local S3 test server (moto,
# signatures verified, with the README's CORS rule) with a demo bucket, and
# serve the demo board. Open the printed URL in two tabs. Ctrl-C stops it.
# `scripts/demo.sh --proxy`: the board behind the auth proxy (mps3-proxy,
# with its dev identity provider: sign in as Alice, Bob or a visitor).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
# The package is built again only when what it is made of changed (a build
# takes two minutes: wasm-opt twice and four function orders).
inputs() {
  find src pkg-template Cargo.toml Cargo.lock wasm-pack.toml .cargo scripts/build.py scripts/wasm_order.py \
    -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
}
if [ -f pkg/index.js ] && [ "$(cat target/demo/pkg-inputs 2>/dev/null)" = "$(inputs)" ]; then
  echo "package: up to date with its sources (pkg/)"
else
  scripts/build.py
  mkdir -p target/demo && inputs > target/demo/pkg-inputs
fi
mkdir -p target/demo
config=$(MPS3_TESTBED_PORT=${MPS3_TESTBED_PORT:-9300} scripts/testbed.sh --bucket demo-board)
rm -f target/proxy/pids
trap 'kill "$(cat target/testbed.pid)" $(cat target/proxy/pids 2>/dev/null) 2>/dev/null || true' EXIT
if [ "${1:-}" = "--proxy" ]; then
  urls=$(scripts/proxy.py "$config")
  proxy=$(python3 -c 'import json,sys;print(json.loads(sys.argv[1])["replicas"][0])' "$urls")
  echo "auth proxy: $proxy (its rules: target/proxy/replica-0.toml)"
  scripts/testbed-env.py "$config" --demo demo-board --proxy "$proxy" --idp "$proxy" > target/demo/config.json
else
  scripts/testbed-env.py "$config" --demo demo-board > target/demo/config.json
fi
echo "S3 test server: $(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["endpoint"])' "$config") (bucket demo-board)"
python3 scripts/serve.py
