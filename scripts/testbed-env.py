#!/usr/bin/env python3
"""Prints `export MPS3_TESTBED_*=...` lines for a test bed config file, for
`eval "$(scripts/testbed-env.py target/testbed.json)"`: the browser tests
read them at compile time (the test runner forwards no environment).

With `--demo BUCKET` it prints instead the demo page's config.json for that
bucket on the test bed (scripts/demo.sh, scripts/test.sh)."""

import json
import shlex
import sys

args = sys.argv[1:]
demo = None
if "--demo" in args:
    i = args.index("--demo")
    demo = args[i + 1]
    del args[i : i + 2]
c = json.load(open(args[0] if args else "target/testbed.json"))
if demo:
    print(json.dumps({"bucket": demo, "endpoint": c["endpoint"], "region": c["region"],
                      "accessKeyId": c["accessKeyId"], "secretAccessKey": c["secretAccessKey"]}))
    sys.exit(0)
for k, v in {
    "MPS3_TESTBED_ENDPOINT": c["endpoint"],
    "MPS3_TESTBED_REGION": c["region"],
    "MPS3_TESTBED_ACCESS_KEY": c["accessKeyId"],
    "MPS3_TESTBED_SECRET": c["secretAccessKey"],
}.items():
    print(f"export {k}={shlex.quote(v)}")
