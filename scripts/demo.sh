#!/usr/bin/env bash
# The main job: build the package, start the local S3 test server (moto,
# signatures verified, with the README's CORS rule) with a demo bucket, and
# serve the demo board. Open the printed URL in two tabs. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
scripts/build.py
mkdir -p target/demo
config=$(MPS3_TESTBED_PORT=${MPS3_TESTBED_PORT:-9300} scripts/testbed.sh --bucket demo-board)
trap 'kill "$(cat target/testbed.pid)" 2>/dev/null || true' EXIT
scripts/testbed-env.py "$config" --demo demo-board > target/demo/config.json
echo "S3 test server: $(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["endpoint"])' "$config") (bucket demo-board)"
python3 scripts/serve.py
