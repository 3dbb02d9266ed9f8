"""The project's S3 test bed: moto with signatures verified, behind a layer
that plays the bucket's CORS rule, injects faults and counts requests.

    python tests/testbed/server.py --port 9300 --config-out target/testbed.json

Layers, outermost first:
  * control endpoint under /__testbed/ (stats, faults, release of held requests);
  * CORS: preflights answered here (moto fails them when auth is on) and the
    rule's headers added to every response, injected errors included;
  * counters by request kind and bytes;
  * faults chosen by seeded rules: HTTP 500/503, connection reset before or
    after moto applied the request, delay, hold until released;
  * one lock: moto races when one key is read and written concurrently.

The CORS rule played here is the one the README asks of real buckets:
AllowedOrigins *, AllowedMethods GET PUT POST DELETE HEAD, AllowedHeaders *
(echoed, as S3 does, so Authorization is covered), ExposeHeaders as below.
"""

import argparse
import gzip
import json
import os
import random
import re
import socket
import struct
import sys
import threading
import time
import urllib.request
import hashlib
import hmac
from datetime import datetime, timezone
from urllib.parse import parse_qs, parse_qsl, quote

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

EXPOSE = "ETag, Date, Last-Modified, x-amz-version-id, x-amz-delete-marker, Content-Type, Content-Length, x-amz-request-id"
KINDS = ("GET", "304", "PUT", "LIST", "DELETE", "HEAD", "POST", "OPTIONS")


def new_counters():
    counters = {k: 0 for k in KINDS}
    counters.update(bytes_in=0, bytes_out=0, faults=0, held=0)
    return counters


def bucket_of(path):
    """The bucket of a path-style request (the first path segment)."""
    return path.lstrip("/").split("/", 1)[0] or None


def cors_headers(environ):
    return [
        ("Access-Control-Allow-Origin", "*"),
        ("Access-Control-Expose-Headers", EXPOSE),
    ]


def s3_error(status, code, message):
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        "<RequestId>testbed</RequestId></Error>"
    ).encode()
    return status, [("Content-Type", "application/xml")], body


def reset_connection(environ):
    """Abort the TCP connection with an RST, as a crashed proxy would."""
    sock = environ.get("werkzeug.socket")
    if sock is None:
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    fd = sock.detach()
    os.close(fd)


def as_read(obj):
    """A stored object's body as a browser's fetch returns it: a gzipped
    one (`Content-Encoding: gzip`) decoded."""
    data = obj.value
    if obj.metadata.get("content-encoding") == "gzip":
        data = gzip.decompress(data)
    return data.decode("utf-8", "replace")


class Rule:
    """One fault rule. `action`: "500", "503", "expired" (400 ExpiredToken,
    as S3 answers temporary credentials past their time), "reset" (before moto sees
    the request), "drop" (moto applies it, the answer is lost), "delay",
    "hold" (wait for /__testbed/release, at most `hold_ms`), "block" (the CORS
    preflight of a request whose method is in `methods` is refused, as by a
    bucket whose CORS rule lacks that method: the browser never sends it)."""

    def __init__(self, spec):
        self.action = spec["action"]
        if self.action not in ("500", "503", "expired", "reset", "drop", "delay", "hold", "block"):
            raise ValueError(f"unknown action {self.action}")
        self.methods = [m.upper() for m in spec.get("methods", [])]
        self.path = re.compile(spec["path_regex"]) if spec.get("path_regex") else None
        self.rate = float(spec.get("rate", 1.0))
        self.times = spec.get("times")  # None: unlimited
        self.delay_ms = int(spec.get("delay_ms", 0))
        self.hold_ms = int(spec.get("hold_ms", 30000))

    def matches(self, method, target, rng):
        if self.times is not None and self.times <= 0:
            return False
        if self.methods and method not in self.methods:
            return False
        if self.path and not self.path.search(target):
            return False
        if rng.random() >= self.rate:
            return False
        if self.times is not None:
            self.times -= 1
        return True


def _sigv4_encode(text):
    return quote(text, safe="-_.~")


def verify_presigned(environ, access_key, secret):
    """Checks a query-signed (presigned) request the way S3 does, with an
    implementation of its own (hashlib/hmac). Returns an S3 error code, or
    None when the signature is valid and current."""
    params = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    given = dict(params)
    try:
        akid, day, region, service, _ = given["X-Amz-Credential"].split("/")
        amz_date = given["X-Amz-Date"]
        expires = int(given["X-Amz-Expires"])
        signature = given["X-Amz-Signature"]
    except (KeyError, ValueError):
        return "AuthorizationQueryParametersError"
    if akid != access_key:
        return "InvalidAccessKeyId"
    signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    age = (datetime.now(timezone.utc) - signed_at).total_seconds()
    if age > expires or age < -900:
        return "AccessDenied"
    raw_path = (environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ["PATH_INFO"]).split("?")[0]
    query = "&".join(
        f"{_sigv4_encode(k)}={_sigv4_encode(v)}"
        for k, v in sorted((k, v) for k, v in params if k != "X-Amz-Signature")
    )
    host = environ.get("HTTP_HOST", "")
    creq = "\n".join([environ["REQUEST_METHOD"], raw_path, query, f"host:{host}\n", "host", "UNSIGNED-PAYLOAD"])
    scope = f"{day}/{region}/{service}/aws4_request"
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()])
    key = f"AWS4{secret}".encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    return None if hmac.compare_digest(expected, signature) else "SignatureDoesNotMatch"


def resign_for_moto(environ, access_key, secret, region):
    """moto's IAM check reads only the Authorization header: hand it the
    same request signed in headers, the query's auth parameters removed."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    params = [
        (k, v)
        for k, v in parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        if not k.startswith("X-Amz-")
    ]
    query = "&".join(f"{_sigv4_encode(k)}={_sigv4_encode(v)}" for k, v in params)
    raw_path = (environ.get("RAW_URI") or environ["PATH_INFO"]).split("?")[0]
    url = f"http://{environ['HTTP_HOST']}{raw_path}" + (f"?{query}" if query else "")
    req = AWSRequest(method=environ["REQUEST_METHOD"], url=url, data=b"")
    S3SigV4Auth(Credentials(access_key, secret), "s3", region).add_auth(req)
    environ["QUERY_STRING"] = query
    environ["RAW_URI"] = environ["REQUEST_URI"] = raw_path + (f"?{query}" if query else "")
    for name, value in req.headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value


class Testbed:
    def __init__(self, app):
        self.app = app
        self.moto_lock = threading.Lock()
        self.state_lock = threading.Lock()
        self.rules = []
        self.rng = random.Random(0)
        self.release = threading.Event()
        self.credentials = None  # (access key, secret, region), once auth is on
        # MPS3_TESTBED_TRACE=<file>: one line per S3 request answered
        # (time, method, target, status, If-Match), for reading a schedule.
        self.trace = os.environ.get("MPS3_TESTBED_TRACE")
        self.reset_stats()

    def reset_stats(self):
        with self.state_lock:
            self.stats = {}

    def bump(self, key, n=1, bucket=None):
        """Counts into the totals and into the bucket's own counters, so
        that tests running concurrently each read their own figures."""
        with self.state_lock:
            for scope in ("*", bucket) if bucket else ("*",):
                counters = self.stats.setdefault(scope, new_counters())
                counters[key] = counters.get(key, 0) + n

    # ---- control endpoint -------------------------------------------------
    def control(self, environ):
        path = environ["PATH_INFO"][len("/__testbed") :]
        method = environ["REQUEST_METHOD"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        if path == "/stats" and method == "GET":
            scope = parse_qs(environ.get("QUERY_STRING", "")).get("bucket", ["*"])[0]
            with self.state_lock:
                out = dict(self.stats.get(scope, new_counters()))
            return 200, out
        if path == "/stats/reset" and method == "POST":
            self.reset_stats()
            return 200, {"ok": True}
        if path == "/faults" and method == "POST":
            spec = json.loads(body or b"{}")
            with self.state_lock:
                self.rules = [Rule(r) for r in spec.get("rules", [])]
                self.rng = random.Random(spec.get("seed", 0))
                self.release.clear()
            return 200, {"ok": True, "rules": len(self.rules)}
        if path == "/faults" and method == "DELETE":
            with self.state_lock:
                self.rules = []
            self.release.set()
            return 200, {"ok": True}
        if path == "/release" and method == "POST":
            self.release.set()
            return 200, {"ok": True}
        if path == "/report" and method == "POST":
            with self.state_lock:
                self.report = json.loads(body or b"null")
            return 200, {"ok": True}
        if path == "/report" and method == "GET":
            with self.state_lock:
                return 200, getattr(self, "report", None)
        if path == "/objects" and method == "GET":
            # Keys under a prefix, read from moto's memory (no signature):
            # for end-to-end tests in Node that count manifest entries.
            from moto.core import DEFAULT_ACCOUNT_ID
            from moto.s3.models import s3_backends

            q = parse_qs(environ.get("QUERY_STRING", ""))
            name, prefix = q.get("bucket", [""])[0], q.get("prefix", [""])[0]
            with self.moto_lock:
                bucket = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].buckets.get(name)
                objects = []
                for k in sorted(bucket.keys.keys()) if bucket else []:
                    if k.startswith(prefix):
                        obj = bucket.keys[k]
                        objects.append({
                            "key": k,
                            # As ListObjectsV2 shows it, which is how readers judge entries.
                            "lastModified": obj.last_modified_ISO8601,
                            # As a browser reads it: gzipped objects decoded.
                            "body": as_read(obj),
                            # Stored bytes and encoding: compressed content.
                            "size": obj.size,
                            "contentEncoding": obj.metadata.get("content-encoding"),
                            # Versions kept, delete markers included.
                            "versions": len(bucket.keys.getlist(k, [])),
                        })
            return 200, {"objects": objects}
        if path == "/health":
            return 200, {"ok": True}
        return 404, {"error": f"no control {method} {path}"}

    # ---- the S3 path -------------------------------------------------------
    def kind(self, method, query):
        if method == "GET" and "list-type=" in query:
            return "LIST"
        return method

    def pick_fault(self, method, target):
        with self.state_lock:
            for rule in self.rules:
                # (A blocked request never gets past its preflight.)
                if rule.action != "block" and rule.matches(method, target, self.rng):
                    return rule
        return None

    def call_moto(self, environ):
        captured = {}

        def start_response(status, headers, exc_info=None):
            captured["status"] = status
            captured["headers"] = headers

        with self.moto_lock:
            chunks = self.app(environ, start_response)
            try:
                body = b"".join(chunks)
            finally:
                if hasattr(chunks, "close"):
                    chunks.close()
        status = int(captured["status"].split()[0])
        return status, list(captured["headers"]), body

    def __call__(self, environ, start_response):
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        query = environ.get("QUERY_STRING", "")
        if method == "OPTIONS":
            if not path.startswith("/__testbed/"):
                self.bump("OPTIONS", bucket=bucket_of(path))
                asked = environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD", "").upper()
                target = environ.get("RAW_URI") or (path + ("?" + query if query else ""))
                with self.state_lock:
                    blocked = any(
                        r.action == "block" and (not r.methods or asked in r.methods)
                        and (not r.path or r.path.search(target))
                        for r in self.rules
                    )
                if blocked:
                    # As S3 refuses a preflight its CORS rule does not allow.
                    body = b"<Error><Code>AccessForbidden</Code><Message>CORSResponse: This CORS request is not allowed.</Message></Error>"
                    start_response("403 Forbidden", [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
                    return [body]
            requested = environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS", "")
            headers = cors_headers(environ) + [
                ("Access-Control-Allow-Methods", "GET, PUT, POST, DELETE, HEAD"),
                ("Access-Control-Allow-Headers", requested or "*"),
                ("Access-Control-Max-Age", "600"),
                ("Content-Length", "0"),
            ]
            start_response("200 OK", headers)
            return [b""]

        if path.startswith("/__testbed/"):
            status, payload = self.control(environ)
            body = json.dumps(payload).encode()
            start_response(
                f"{status} X",
                [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
                + cors_headers(environ),
            )
            return [body]

        kind = self.kind(method, query)
        bucket = bucket_of(path)

        def bump(key, n=1):
            self.bump(key, n, bucket)

        presigned = "X-Amz-Signature=" in query and "HTTP_AUTHORIZATION" not in environ
        if presigned and self.credentials:
            access_key, secret, region = self.credentials
            problem = verify_presigned(environ, access_key, secret)
            if problem:
                bump(kind)
                return self.respond(start_response, environ, *s3_error(403, problem, "presigned request refused"), bucket)
            resign_for_moto(environ, access_key, secret, region)
            query = environ.get("QUERY_STRING", "")
        signed = "HTTP_AUTHORIZATION" in environ
        if not signed and not path.startswith("/moto-api/"):
            # moto answers unsigned requests with 500; S3 says 403.
            bump(kind)
            status, headers, body = s3_error(403, "AccessDenied", "Anonymous access denied")
            return self.respond(start_response, environ, status, headers, body, bucket)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        bump("bytes_in", length)
        target = environ.get("RAW_URI") or (path + ("?" + query if query else ""))
        rule = self.pick_fault(method, target)
        if rule is not None:
            bump("faults")
        drop_after = False
        if rule is not None:
            if rule.action in ("500", "503", "expired"):
                bump(kind)
                status, headers, body = {
                    "503": lambda: s3_error(503, "SlowDown", "Please reduce your request rate. (injected)"),
                    "500": lambda: s3_error(500, "InternalError", "We encountered an internal error. (injected)"),
                    "expired": lambda: s3_error(400, "ExpiredToken", "The provided token has expired. (injected)"),
                }[rule.action]()
                return self.respond(start_response, environ, status, headers, body, bucket)
            if rule.action == "reset":
                bump(kind)
                reset_connection(environ)
                return [b""]
            if rule.action == "delay":
                time.sleep(rule.delay_ms / 1000)
            if rule.action == "hold":
                bump("held")
                self.release.wait(rule.hold_ms / 1000)
            drop_after = rule.action == "drop"

        status, headers, body = self.call_moto(environ)
        if self.trace:
            with self.state_lock, open(self.trace, "a") as f:
                f.write(f"{time.time():.3f} {method} {target} {status} {environ.get('HTTP_IF_MATCH', '')}\n")
        if kind == "GET" and status == 304:
            kind = "304"
        bump(kind)
        if drop_after:
            reset_connection(environ)
            return [b""]
        return self.respond(start_response, environ, status, headers, body, bucket)

    def respond(self, start_response, environ, status, headers, body, bucket=None):
        names = {k.lower() for k, _ in headers}
        headers = [h for h in headers if not h[0].lower().startswith("access-control-")]
        # The HTTP server adds Date (the clock-skew tests read it).
        if "content-length" not in names and environ["REQUEST_METHOD"] != "HEAD":
            headers.append(("Content-Length", str(len(body))))
        headers += cors_headers(environ)
        self.bump("bytes_out", len(body), bucket)
        start_response(f"{status} {'OK' if status < 400 else 'Error'}", headers)
        return [body] if environ["REQUEST_METHOD"] != "HEAD" else [b""]


class QuietHandler(MotoRequestHandler):
    def log_request(self, *args, **kwargs):
        pass

    def log_error(self, *args, **kwargs):
        pass


def enable_auth(endpoint, region):
    """Create an IAM user allowed s3:*, then switch moto's auth on: from now
    on every request must carry a valid signature of that user's key."""
    import boto3

    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="bootstrap",
        aws_secret_access_key="bootstrap",
    )
    iam.create_user(UserName="mps3-tests")
    policy = iam.create_policy(
        PolicyName="mps3-s3-all",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
            }
        ),
    )
    iam.attach_user_policy(UserName="mps3-tests", PolicyArn=policy["Policy"]["Arn"])
    key = iam.create_access_key(UserName="mps3-tests")["AccessKey"]
    req = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth",
        data=b"0",
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    urllib.request.urlopen(req).read()
    return key["AccessKeyId"], key["SecretAccessKey"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0, help="0: any free port")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--config-out", help="write endpoint and keys here as JSON")
    ap.add_argument("--bucket", action="append", default=[], help="create this bucket at start")
    args = ap.parse_args()

    testbed = Testbed(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", args.port, testbed, threaded=True, request_handler=QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_port}"
    access_key, secret = enable_auth(endpoint, args.region)
    testbed.credentials = (access_key, secret, args.region)
    if args.bucket:
        import boto3

        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=args.region,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret,
        )
        for name in args.bucket:
            s3.create_bucket(Bucket=name)
    config = {
        "endpoint": endpoint,
        "region": args.region,
        "accessKeyId": access_key,
        "secretAccessKey": secret,
        "control": f"{endpoint}/__testbed",
    }
    if args.config_out:
        tmp = args.config_out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(config, f, indent=2)
        os.replace(tmp, args.config_out)
    print(f"testbed ready on {endpoint}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.shutdown()


if __name__ == "__main__":
    sys.exit(main())
