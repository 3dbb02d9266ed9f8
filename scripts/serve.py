#!/usr/bin/env python3
"""Serves the demo: www/ at /, the built package at /pkg/, and the demo's
bucket config at /config.json (written by scripts/demo.sh)."""

import argparse
import http.server
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".wasm": "application/wasm", ".js": "text/javascript"}

    def translate_path(self, path):
        path = path.split("?", 1)[0].split("#", 1)[0]
        if path.startswith("/pkg/"):
            return str(ROOT / "pkg" / path[len("/pkg/"):])
        if path == "/config.json":
            return str(ROOT / "target" / "demo" / "config.json")
        rel = path.lstrip("/") or "index.html"
        return str(ROOT / "www" / rel)

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, *args):
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=int(os.environ.get("MPS3_DEMO_PORT", "8080")))
    args = ap.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"demo: http://127.0.0.1:{server.server_port}/", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
