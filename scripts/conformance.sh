#!/usr/bin/env bash
# Checks your own bucket from a real browser: which S3 features the vendor
# supports (conditional requests, versioning, CORS exposure, 304, gzip) and
# whether the database works there. Writes under a fresh prefix
# `mps3-conformance/…/` and deletes it again.
#
#   MPS3_ENDPOINT=https://<account>.r2.cloudflarestorage.com MPS3_REGION=auto \
#   MPS3_BUCKET=my-bucket AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... \
#   scripts/conformance.sh
#
# MPS3_ENDPOINT may be empty for AWS; AWS_SESSION_TOKEN is optional. The
# bucket needs the README's CORS rule for origin http://127.0.0.1:*.
# MPS3_ENDPOINT=local: checks the browser's own bucket: the engine's
# in-memory S3, which the simulation trusts too (any keys do).
# MPS3_CONFORMANCE_REQUIRE=all fails the run on any check not passed but
# those named (by their start) in MPS3_CONFORMANCE_NOT_OFFERED, `;`-separated.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${MPS3_BUCKET:?set MPS3_BUCKET}" "${AWS_ACCESS_KEY_ID:?set AWS_ACCESS_KEY_ID}" "${AWS_SECRET_ACCESS_KEY:?set AWS_SECRET_ACCESS_KEY}"
scripts/setup.sh >/dev/null
export PATH="$HOME/.cargo/bin:$PATH"
export MPS3_CONFORMANCE_ENDPOINT="${MPS3_ENDPOINT:-}" MPS3_CONFORMANCE_REGION="${MPS3_REGION:-us-east-1}" \
  MPS3_CONFORMANCE_BUCKET="$MPS3_BUCKET" MPS3_CONFORMANCE_ACCESS_KEY_ID="$AWS_ACCESS_KEY_ID" \
  MPS3_CONFORMANCE_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY" MPS3_CONFORMANCE_SESSION_TOKEN="${AWS_SESSION_TOKEN:-}"
mkdir -p target
set +e
WASM_BINDGEN_TEST_TIMEOUT=300 cargo test --target wasm32-unknown-unknown --test conformance_browser -- --nocapture \
  > target/conformance.log 2>&1
status=$?
set -e
python3 - <<'PY'
import json
rows, seen = [], set()
# A failed run prints its console output twice (as it runs, and in the
# failure report): one row per check.
for l in open("target/conformance.log"):
    if "MPS3_CONFORMANCE {" in l:
        row = json.loads(l.split("MPS3_CONFORMANCE ", 1)[1])
        if row["check"] not in seen:
            seen.add(row["check"])
            rows.append(row)
if not rows:
    print(open("target/conformance.log").read()[-3000:])
    raise SystemExit("no checks ran")
json.dump(rows, open("target/conformance.json", "w"), indent=2)
width = max(len(r["check"]) for r in rows)
for r in rows:
    print(f"{r['check']:<{width}}  {'yes' if r['ok'] else 'NO '}  {r['detail'][:100]}")
print("wrote target/conformance.json")
import os
if os.environ.get("MPS3_CONFORMANCE_REQUIRE") == "all":
    waived = [w for w in os.environ.get("MPS3_CONFORMANCE_NOT_OFFERED", "").split(";") if w]
    failed = [r["check"] for r in rows if not r["ok"] and not any(r["check"].startswith(w) for w in waived)]
    unused = [w for w in waived if not any(r["check"].startswith(w) and not r["ok"] for r in rows)]
    if failed:
        raise SystemExit(f"checks not passed: {failed}")
    if unused:
        raise SystemExit(f"waived but passed (or gone): {unused}")
PY
exit $status
