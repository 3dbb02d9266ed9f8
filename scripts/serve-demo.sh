# Sourced by scripts/test.sh and scripts/bench.sh: serves www/ and pkg/ on a
# free port with the demo config of the test bed in $1 (behind the auth
# proxy at $2, whose identity provider is at $3, when given), adds the
# server to the caller's `pids` (killed on exit) and exports MPS3_DEMO_URL.
serve_demo() {
  mkdir -p target/demo
  scripts/testbed-env.py "$1" --demo demo-board ${2:+--proxy "$2" --idp "$3"} > target/demo/config.json
  python3 scripts/serve.py --port 0 > target/demo/serve.log 2>&1 &
  pids+=("$!")
  for _ in $(seq 1 50); do grep -q "demo: http" target/demo/serve.log && break; sleep 0.1; done
  MPS3_DEMO_URL=$(sed -n 's/^demo: //p' target/demo/serve.log)
  export MPS3_DEMO_URL
}
