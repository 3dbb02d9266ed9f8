#!/usr/bin/env python3
"""Prints `export MPS3_TESTBED_*=...` lines for a test bed config file, for
`eval "$(scripts/testbed-env.py target/testbed.json)"`: the browser tests
read them at compile time (the test runner forwards no environment)."""

import json
import shlex
import sys

c = json.load(open(sys.argv[1] if len(sys.argv) > 1 else "target/testbed.json"))
for k, v in {
    "MPS3_TESTBED_ENDPOINT": c["endpoint"],
    "MPS3_TESTBED_REGION": c["region"],
    "MPS3_TESTBED_ACCESS_KEY": c["accessKeyId"],
    "MPS3_TESTBED_SECRET": c["secretAccessKey"],
}.items():
    print(f"export {k}={shlex.quote(v)}")
