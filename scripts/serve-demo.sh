# Sourced by scripts/test.sh and scripts/bench.sh: serves www/ and pkg/ on a
# free port with the demo config of the test bed in $1, adds the server to
# the caller's `pids` (killed on exit) and exports MPS3_DEMO_URL.
serve_demo() {
  mkdir -p target/demo
  scripts/testbed-env.py "$1" --demo demo-board > target/demo/config.json
  python3 scripts/serve.py --port 0 > target/demo/serve.log 2>&1 &
  pids+=("$!")
  for _ in $(seq 1 50); do grep -q "demo: http" target/demo/serve.log && break; sleep 0.1; done
  MPS3_DEMO_URL=$(sed -n 's/^demo: //p' target/demo/serve.log)
  export MPS3_DEMO_URL
}
