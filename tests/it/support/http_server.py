#!/usr/bin/env python3
"""A scriptable HTTP[S] test server for the http channel's tests (loopback only).

Every request is appended to --log as one JSON line: method, path, headers, body (gunzipped when
Content-Encoding is gzip), the client port, the time and what the server did. --script is a
comma-separated list of what to do with the next requests, then 200 for the rest:
  NNN      answer with that status
  429:S    answer 429 with "Retry-After: S"
  hang     read the request, never answer
  close    read the request, close the connection without answering
  partial:N:MSG  answer 200 with an OTLP partialSuccess rejecting N log records
With --otlp (run it with scripts/pyenv's python) every body is parsed with the official OTLP
schema (opentelemetry-proto's ExportLogsServiceRequest, protobuf's json_format, unknown fields
refused); the record gets "otlp" (protobuf's own JSON rendering of what it parsed) or
"schema_error", and a body that does not parse is answered 400.
"""
import argparse
import base64
import gzip
import json
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, default=0)
p.add_argument("--port-file", required=True)
p.add_argument("--log", required=True)
p.add_argument("--cert")
p.add_argument("--key")
p.add_argument("--client-ca", help="require a client certificate signed by this CA")
p.add_argument("--script", default="")
p.add_argument("--reply", default="ok", help="body of 2xx answers")
p.add_argument("--otlp", action="store_true", help="parse bodies as OTLP/HTTP JSON logs")
args = p.parse_args()

if args.otlp:
    from google.protobuf import json_format
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest


def parse_otlp(body):
    """(protobuf's JSON dict of the request, None) or (None, the parser's error)."""
    try:
        msg = json_format.Parse(body.decode("utf-8"), ExportLogsServiceRequest())
        return json_format.MessageToDict(msg), None
    except Exception as e:  # any refusal by the official parser is the finding
        return None, f"{type(e).__name__}: {e}"

script = [s for s in args.script.split(",") if s]
lock = threading.Lock()
log = open(args.log, "a", buffering=1)


def next_action():
    with lock:
        return script.pop(0) if script else "200"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def setup(self):
        super().setup()
        # Headers and body go out in two writes: without this, Nagle and the client's delayed
        # ACK add 40 ms to every kept-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = raw
        if (self.headers.get("Content-Encoding") or "").lower() == "gzip":
            body = gzip.decompress(raw)
        action = next_action()
        otlp, schema_error = parse_otlp(body) if args.otlp else (None, None)
        if schema_error:
            action = "400"
        rec = {
            "method": self.command,
            "path": self.path,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body": body.decode("utf-8", "replace"),
            "raw_b64": base64.b64encode(raw).decode(),
            "client_port": self.client_address[1],
            "t": time.time(),
            "action": action,
        }
        if args.otlp:
            rec["otlp"] = otlp
            rec["schema_error"] = schema_error
        with lock:
            log.write(json.dumps(rec) + "\n")
        if action == "hang":
            time.sleep(3600)
            return
        if action == "close":
            self.close_connection = True
            return
        headers = {}
        reply = None
        if action.startswith("partial:"):
            _, n, msg = action.split(":", 2)
            reply = json.dumps({"partialSuccess": {"rejectedLogRecords": n, "errorMessage": msg}})
            action = "200"
        if ":" in action:
            action, retry_after = action.split(":", 1)
            headers["Retry-After"] = retry_after
        status = int(action)
        if reply is None:
            reply = args.reply if 200 <= status < 300 else "status %d" % status
        reply = reply.encode()
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    do_POST = do_PUT = do_GET = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # TLS refusals and resets are what some tests expect


srv = Server(("127.0.0.1", args.port), Handler)
if args.cert:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    if args.client_ca:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(args.client_ca)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(args.port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os

os.rename(args.port_file + ".tmp", args.port_file)
srv.serve_forever()
