#!/usr/bin/env bash
# Starts the S3 test bed on a free 127.0.0.1 port, waits until it serves,
# and prints its config file (endpoint, keys, control URL). Arguments go to
# the server (e.g. --bucket NAME). The caller stops it with:
# kill "$(cat target/testbed.pid)".
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target
config=target/testbed.json
rm -f "$config"
port=${MPS3_TESTBED_PORT:-0}
.tools/venv/bin/python tests/testbed/server.py --port "$port" --config-out "$config" "$@" \
  > target/testbed.log 2>&1 &
echo $! > target/testbed.pid
for _ in $(seq 1 150); do
  [ -f "$config" ] && { echo "$config"; exit 0; }
  kill -0 "$(cat target/testbed.pid)" 2>/dev/null || break
  sleep 0.2
done
echo "test bed did not start:" >&2
cat target/testbed.log >&2
exit 1
