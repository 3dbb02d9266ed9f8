#!/usr/bin/env bash
# Starts a second, stricter S3 server for the conformance checks: s3s-fs
# (objects in a directory; SigV4 verified to the body hash and the date)
# on 127.0.0.1, behind tests/testbed/cors_proxy.py, which applies the
# README's CORS rule that s3s-fs lacks. One bucket, `conformance`.
#
#   eval "$(scripts/s3s-fs.sh)"   # sets MPS3_ENDPOINT, MPS3_REGION, MPS3_BUCKET and the keys
#
# The pids go to target/s3s-fs.pids; the caller stops them. Installed by
# scripts/setup.sh into .tools/s3s.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target
# The store: a directory per bucket, made afresh each run.
root=target/s3s-fs-root
bucket=conformance
rm -rf "$root"
mkdir -p "$root/$bucket"
key=AKIDMPS3CONFORMANCE
# A throwaway secret for a server that lives as long as this test run.
secret=$(python3 -c 'import secrets; print(secrets.token_hex(20))')
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
.tools/s3s/bin/s3s-fs --host 127.0.0.1 --port "$port" --access-key "$key" --secret-key "$secret" "$root" \
  > target/s3s-fs.log 2>&1 &
server=$!
rm -f target/s3s-proxy.port
python3 tests/testbed/cors_proxy.py --upstream "127.0.0.1:$port" --port-file target/s3s-proxy.port \
  > target/s3s-proxy.log 2>&1 &
proxy=$!
echo "$server $proxy" > target/s3s-fs.pids
for _ in $(seq 100); do
  if [ -s target/s3s-proxy.port ] && python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null; then
    echo "export MPS3_ENDPOINT=http://127.0.0.1:$(cat target/s3s-proxy.port) MPS3_REGION=us-east-1 MPS3_BUCKET=$bucket"
    echo "export AWS_ACCESS_KEY_ID=$key AWS_SECRET_ACCESS_KEY=$secret"
    exit 0
  fi
  sleep 0.1
done
echo "s3s-fs did not start: $(tail -5 target/s3s-fs.log)" >&2
kill $server $proxy 2>/dev/null || true
exit 1
