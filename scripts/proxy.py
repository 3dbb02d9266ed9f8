#!/usr/bin/env python3
"""Starts the auth proxy (mps3-proxy) in front of the S3 test bed, for the
demo and the end-to-end tests, and prints its URLs as JSON:
`{"idp": URL, "replicas": [URL, ...]}`.

    scripts/proxy.py TESTBED_CONFIG [--replicas N]

The first replica also runs the dev identity provider (local runs only:
anyone may sign in as anyone); the others verify its tokens by discovery,
as they would a real issuer's. All share one session key, so credentials
from one work on every replica. The rules are the demo board's
(docs/auth-proxy.md explains them): everyone signed in reads the board;
members add notes under their own name and edit or remove only theirs,
and like any note; a visitor (no role) reads only; each person signed in
keeps private notes in a manifest only they read and write (encrypted in
their browser). Stop them with:
kill $(cat target/proxy/pids)."""

import argparse
import base64
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "target" / "proxy"

RULES = """
[[manifest]]
key = "proxy-board.json"
read = "authenticated"
writes_per_minute = 600
rules = [
  { keys = "note/{sub}/**", allow = ["set", "delete"], roles = ["member"], max_value_bytes = 65536 },
  { keys = "likes/{any}/{any}", allow = ["set"], roles = ["member"] },
  { keys = "likes/{sub}/**", allow = ["delete"], roles = ["member"] },
  { keys = "image/{sub}/**", allow = ["set", "delete"], roles = ["member"], content_types = ["image/*"] },
]

[[manifest]]
key = "private/{sub}/manifest.json"
read = "owner"
rules = [{ keys = "private/{sub}/note/**", allow = ["set", "delete"], max_value_bytes = 65536 }]
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("testbed")
    ap.add_argument("--replicas", type=int, default=1)
    args = ap.parse_args()
    bed = json.load(open(args.testbed))
    OUT.mkdir(parents=True, exist_ok=True)
    build = subprocess.run(["cargo", "build", "-q", "-p", "mps3-proxy"], cwd=ROOT)
    if build.returncode:
        sys.exit("mps3-proxy did not build")
    binary = ROOT / "target" / "debug" / "mps3-proxy"
    env = dict(os.environ)
    env["MPS3_PROXY_KEYS"] = "demo=" + base64.b64encode(os.urandom(32)).decode()
    env["MPS3_UPSTREAM_ACCESS_KEY_ID"] = bed["accessKeyId"]
    env["MPS3_UPSTREAM_SECRET_ACCESS_KEY"] = bed["secretAccessKey"]
    urls, pids = [], []
    idp = None
    for i in range(args.replicas):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        auth = '[dev_idp]\nenabled = true\n[auth]\naudience = "mps3-demo"\n' if i == 0 else \
            f'[auth]\nissuer = "{idp}/__dev/idp"\naudience = "mps3-demo"\n'
        config = OUT / f"replica-{i}.toml"
        config.write_text(
            f'listen = "127.0.0.1:{port}"\n{auth}'
            f'[upstream]\nendpoint = "{bed["endpoint"]}"\nregion = "{bed["region"]}"\nbucket = "demo-board"\n'
            f"{RULES}"
        )
        log = open(OUT / f"replica-{i}.log", "w")
        p = subprocess.Popen([str(binary), "serve", str(config)], env=env, stdout=log, stderr=log)
        pids.append(p.pid)
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{url}/__mps3/health", timeout=1)
            except urllib.error.HTTPError:
                break  # it answers
            except OSError:
                if p.poll() is not None:
                    sys.exit(f"mps3-proxy replica {i} exited:\n" + (OUT / f"replica-{i}.log").read_text())
                time.sleep(0.1)
        if i == 0:
            idp = url
        urls.append(url)
    (OUT / "pids").write_text(" ".join(map(str, pids)))
    print(json.dumps({"idp": idp, "replicas": urls}))


if __name__ == "__main__":
    main()
