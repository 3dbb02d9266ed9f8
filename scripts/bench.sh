#!/usr/bin/env bash
# Benchmarks: package size (target/bench/size.json); protocols v1 and v2
# on the simulated bucket (target/bench/protocols.json); against the test
# bed's request counters, requests per operation and put → notify latency
# (target/bench/ops.json); page load → first value with 1000 keys stored,
# offline and online (target/bench/offline.json); the auth proxy against
# direct, and its validated creates per second (target/bench/proxy.json).
# Prints a short table of each.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
export PATH="$HOME/.cargo/bin:$PATH"
scripts/build.py --bench

# Protocols v1 and v2 side by side on the simulated bucket: bytes per put
# and per catch-up by manifest size, cold reads, storage after collection
# (target/bench/protocols.json).
cargo test --release --lib bench_protocols -- --ignored --nocapture 2>&1 | sed -n '/^keys/,/^wrote/p'

config=$(scripts/testbed.sh --bucket demo-board)
pids=("$(cat target/testbed.pid)")
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
eval "$(scripts/testbed-env.py "$config")"
WASM_BINDGEN_TEST_TIMEOUT=300 cargo test --release --target wasm32-unknown-unknown --test bench_browser
python3 - "$config" <<'PY'
import json, sys, urllib.request
c = json.load(open(sys.argv[1]))
figures = json.load(urllib.request.urlopen(c["control"] + "/report"))
assert figures, "the benchmark reported nothing"
with open("target/bench/ops.json", "w") as f:
    json.dump(figures, f, indent=2)
kinds = ["GET", "304", "PUT", "LIST", "DELETE", "OPTIONS", "bytes_in", "bytes_out"]
print(f"\n{'operation':<20}" + "".join(f"{k:>10}" for k in kinds))
for op in ["put_cold", "put_warm", "put_after_other", "get_cold", "get_warm", "put_large", "put_large_plain",
           "put_many_keys", "put_many_keys_plain"]:
    print(f"{op:<20}" + "".join(f"{figures[op].get(k, 0):>10}" for k in kinds))
idle = figures["idle_polls"]
n = max(idle["polls"], 1)
print(f"{'idle poll':<20}" + "".join(f"{idle['requests'].get(k, 0) / n:>10.2f}" for k in kinds) + f"   ({n} polls)")
print(f"(put_large: a {figures['large_value_bytes']} B value, gzipped by default; put_large_plain: the same with gzip: false;")
print(f" put_many_keys: one key of a manifest of {figures['many_keys']}, whose entry carries them all; _plain: gzip: false)")
print(f"\nput (median): {figures['put_ms_median']:.0f} ms; put → other client notified (median, poll 100 ms): {figures['notify_ms_median']:.0f} ms")
v2 = figures["v2"]
print("\nprotocol v2 (same test bed):")
for op in ["put_cold", "put_warm", "get_cold", "get_warm"]:
    print(f"{op:<20}" + "".join(f"{v2[op].get(k, 0):>10}" for k in kinds))
polls = v2["idle_polls"]["requests"]
print(f"{'idle polls (5 s)':<20}" + "".join(f"{polls.get(k, 0):>10}" for k in kinds))
print(f"put (median): {v2['put_ms_median']:.0f} ms; put → other client notified (median, poll 100 ms): {v2['notify_ms_median']:.0f} ms (v1: {figures['notify_ms_median']:.0f} ms)")
c = v2["contention"]
print(f"contention: {c['clients']} clients × {int(c['writes']) // c['clients']} writes to one key: {c['writes_per_second']:.0f} writes/s, {c['retries_per_write']:.2f} retries per write ({c['ms'] / 1000:.1f} s)")
a = figures["api"]
t = a["transaction_alone"]
print(f"\ntransaction (an increment), alone: median {t['ms_median']:.0f} ms, requests {t['requests_last']}")
t = a["transaction_contended"]
print(f"transactions, {t['clients']} clients × 25 on one key: {t['ms_per_transaction']:.0f} ms each, "
      f"{t['puts_per_transaction']:.2f} PUTs and {t['gets_per_transaction']:.2f} GETs per transaction, none lost")
l = a["list"]
print(f"list of {l['keys']} keys: {l['cold_ms']:.0f} ms cold (a new client), {l['warm_ms']:.0f} ms warm")
f = figures["flaky"]
print("\nputs on a network resetting 1 request in 5 (v2, awaited):")
for name in ["one_failure_disconnects", "default_rule"]:
    r = f[name]
    print(f"{name:<26} median {r['ms']['median']:.0f} ms, p90 {r['ms']['p90']:.0f} ms, "
          f"{r['requests_per_put']:.2f} requests per put, {r['committed']}/{r['puts']} answered committed")
e = figures["encryption"]
print("\nput and get, in clear and encrypted (v2; a passphrase, PBKDF2 600,000 rounds):")
print(f"{'':<10}{'first put':>10}{'put small':>16}{'bytes':>8}{'put 8 KB':>16}{'bytes':>8}{'first get':>10}{'get':>14}")
for name in ["plain", "encrypted"]:
    r = e[name]
    ms = lambda m: f"{m['median']:.0f}/{m['p90']:.0f} ms"
    print(f"{name:<10}{r['first_put_ms']:>8.0f}ms{ms(r['put_small_ms']):>16}{r['put_small_bytes']:>8}"
          f"{ms(r['put_large_ms']):>16}{r['put_large_bytes']:>8}{r['first_get_ms']:>8.0f}ms{ms(r['get_ms']):>14}")
print("(median/p90; bytes: sent to the bucket per put; first put makes the key ring, first get of a new client stretches the passphrase)")
print("wrote target/bench/ops.json")
PY

# Page load → first value, in Chromium with the package served.
. scripts/serve-demo.sh
serve_demo "$config"
(cd tests/e2e && node bench-offline.mjs)

# The auth proxy's cost: a put and an idle poll by an engine client through
# mps3-proxy against the same client direct to the test bed, and validated
# creates per second with four writers (target/bench/proxy.json).
eval "$(scripts/testbed-env.py "$config")"
cargo test -p mps3-proxy --test bench -- --ignored --nocapture 2>&1 | sed -n '/^through the proxy/,/^wrote/p'
