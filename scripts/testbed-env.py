#!/usr/bin/env python3
"""Prints `export MPS3_TESTBED_*=...` lines for a test bed config file, for
`eval "$(scripts/testbed-env.py target/testbed.json)"`: the browser tests
read them at compile time (the test runner forwards no environment).

With `--demo BUCKET` it prints instead the demo page's config.json for that
bucket on the test bed (scripts/demo.sh, scripts/test.sh); with `--proxy URL
--idp URL` too, the board is behind the auth proxy at URL (scripts/proxy.py)
and signs in at its identity provider."""

import json
import shlex
import sys

args = sys.argv[1:]
def option(name):
    if name not in args:
        return None
    i = args.index(name)
    value = args[i + 1]
    del args[i : i + 2]
    return value


demo = option("--demo")
proxy = option("--proxy")
idp = option("--idp")
c = json.load(open(args[0] if args else "target/testbed.json"))
if demo:
    out = {"bucket": demo, "endpoint": c["endpoint"], "region": c["region"],
           "accessKeyId": c["accessKeyId"], "secretAccessKey": c["secretAccessKey"]}
    if proxy:
        # Behind the proxy the page holds no key to the bucket.
        out = {"bucket": demo, "region": c["region"], "proxy": {"url": proxy, "idp": idp}}
    print(json.dumps(out))
    sys.exit(0)
for k, v in {
    "MPS3_TESTBED_ENDPOINT": c["endpoint"],
    "MPS3_TESTBED_REGION": c["region"],
    "MPS3_TESTBED_ACCESS_KEY": c["accessKeyId"],
    "MPS3_TESTBED_SECRET": c["secretAccessKey"],
}.items():
    print(f"export {k}={shlex.quote(v)}")
