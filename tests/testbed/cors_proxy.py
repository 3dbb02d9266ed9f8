#!/usr/bin/env python3
"""A bucket's CORS rule in front of an S3 server that has none (s3s-fs).

    cors_proxy.py --listen 127.0.0.1:0 --upstream 127.0.0.1:9000 [--port-file F]

Answers browser preflights (OPTIONS, never signed) as the README's CORS
rule does, forwards every other request to the upstream byte for byte, its
`Host` header included, since SigV4 signs the host the browser talked to,
and adds the rule's CORS headers to every answer, errors included. The
upstream then verifies signatures as it would behind a vendor's CORS.
`POST /__faults?rate=R&seed=S` makes a fraction of the requests fail
(see `Proxy.faults`), for tests of clients through faults.
"""

import argparse
import json
import random
import threading
import urllib.parse
import http.client
import http.server
import socketserver
import sys

EXPOSE_HEADERS = "ETag, Date, x-amz-version-id, x-amz-delete-marker, Last-Modified, Content-Encoding"
# Hop-by-hop headers are the proxy's own business, not the upstream's.
HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


def cors(origin):
    return [
        ("Access-Control-Allow-Origin", origin or "*"),
        ("Access-Control-Expose-Headers", EXPOSE_HEADERS),
        ("Vary", "Origin"),
    ]


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream = ("127.0.0.1", 9000)

    def log_message(self, *args):
        pass

    def do_OPTIONS(self):
        self.send_response(204)
        for k, v in cors(self.headers.get("Origin")):
            self.send_header(k, v)
        self.send_header("Access-Control-Allow-Methods", "GET, PUT, POST, DELETE, HEAD")
        # `AllowedHeaders: ["*"]`: S3 echoes the headers asked for.
        asked = self.headers.get("Access-Control-Request-Headers")
        if asked:
            self.send_header("Access-Control-Allow-Headers", asked)
        self.send_header("Access-Control-Max-Age", "600")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def faults(self):
        """`POST /__faults?rate=R&seed=S&serialize=1`: from now on a
        fraction R of the requests fail: half answered 503 SlowDown, a
        quarter reset unanswered, a quarter forwarded and their answer lost
        (the server applied them). `rate=0` stops it; the answer is how
        many failed. `serialize=1` forwards creates (`If-None-Match: *`)
        one at a time: s3s-fs checks the header without atomicity
        (concurrent creates of one key all succeed, as the conformance
        command reports), where S3 decides them one at a time."""
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        with Proxy.lock:
            Proxy.rate = float(q.get("rate", ["0"])[0])
            Proxy.rng = random.Random(int(q.get("seed", ["1"])[0]))
            Proxy.serialize = q.get("serialize", ["0"])[0] == "1"
            failed, Proxy.failed = Proxy.failed, 0
        data = json.dumps({"failed": failed}).encode()
        self.send_response(200)
        for k, v in cors(self.headers.get("Origin")):
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def forward(self):
        if self.path.startswith("/__faults"):
            return self.faults()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        with Proxy.lock:
            roll = Proxy.rng.random() if Proxy.rate else 1.0
            fault = None
            if roll < Proxy.rate * 0.5:
                fault = "503"
            elif roll < Proxy.rate * 0.75:
                fault = "reset"
            elif roll < Proxy.rate:
                fault = "drop"
            if fault:
                Proxy.failed += 1
        if fault == "503":
            data = b"<Error><Code>SlowDown</Code><Message>injected</Message></Error>"
            self.send_response(503)
            for k, v in cors(self.headers.get("Origin")):
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if fault == "reset":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        create = self.command == "PUT" and self.headers.get("If-None-Match") == "*"
        held = Proxy.creates if (create and Proxy.serialize) else None
        if held:
            held.acquire()
        conn = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            # skip_host: the browser's Host goes up as it was signed.
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for k, v in self.headers.items():
                if k.lower() not in HOP:
                    conn.putheader(k, v)
            conn.endheaders(body)
            resp = conn.getresponse()
            data = resp.read()
            if fault == "drop":
                self.close_connection = True
                self.connection.shutdown(2)
                return
            # The upstream's own `Date` only: two would reach the page
            # joined into one unreadable value.
            self.send_response_only(resp.status, resp.reason)
            for k, v in resp.getheaders():
                if k.lower() not in HOP and k.lower() != "content-length" and not k.lower().startswith("access-control-"):
                    self.send_header(k, v)
            for k, v in cors(self.headers.get("Origin")):
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        finally:
            conn.close()
            if held:
                held.release()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward

    # Injected faults (`/__faults`), off until asked for.
    lock = threading.Lock()
    rate = 0.0
    rng = random.Random(1)
    failed = 0
    serialize = False
    creates = threading.Lock()


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--port-file")
    a = ap.parse_args()
    host, port = a.listen.rsplit(":", 1)
    up_host, up_port = a.upstream.rsplit(":", 1)
    Proxy.upstream = (up_host, int(up_port))
    server = Server((host, int(port)), Proxy)
    if a.port_file:
        with open(a.port_file, "w") as f:
            f.write(str(server.server_address[1]))
    print(f"cors proxy on {host}:{server.server_address[1]} -> {a.upstream}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
