#!/usr/bin/env python3
"""Loopback stand-ins for three SIEM ingestion APIs, for the SIEM payload tests. Each request is
checked against the API's published request format and answered with the API's real bodies:

  --api splunk_hec          POST /services/collector/event (Splunk HTTP Event Collector:
                            "Format events for HTTP Event Collector", "HTTP Event Collector
                            status codes")
  --api elasticsearch_bulk  POST /_bulk (Elasticsearch "Bulk API": NDJSON action/document
                            pairs, per-item results; an index of _id -> document)
  --api loki                POST /loki/api/v1/push (Grafana Loki "Push log entries":
                            streams of labels and [timestamp-ns-string, line] values)

--script: comma-separated, one entry per request, then "ok" for the rest:
  ok                 accept (and store) everything valid
  NNN / NNN:S        answer status NNN (with "Retry-After: S"), the API's body for it
  invalid_token      HEC: 403 {"text":"Invalid token","code":4}
  invalid_event:N    HEC: store events 0..N-1, answer 400 with "invalid-event-number": N
  reject:I;J         bulk: items I, J refused (400 document_parsing_exception), others stored
  busy:I;J           bulk: items I, J refused with 429 es_rejected_execution_exception

Every request is one JSON line in --log: path, headers, body, the schema errors found, the
status answered and what was stored.
"""
import argparse
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

p = argparse.ArgumentParser()
p.add_argument("--api", required=True, choices=["splunk_hec", "elasticsearch_bulk", "loki"])
p.add_argument("--port-file", required=True)
p.add_argument("--log", required=True)
p.add_argument("--script", default="")
p.add_argument("--token", default="")
args = p.parse_args()

script = [s for s in args.script.split(",") if s]
lock = threading.Lock()
index = {}  # elasticsearch: _id -> document
seq = [0]

HEC_KEYS = {"time", "host", "source", "sourcetype", "index", "event", "fields"}
LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
BULK_OPS = {"index", "create", "update", "delete"}
BULK_META = {"_index", "_id", "routing", "pipeline", "require_alias", "if_seq_no",
             "if_primary_term", "version", "version_type", "dynamic_templates",
             "require_data_stream", "list_executed_pipelines"}


def next_action():
    with lock:
        return script.pop(0) if script else "ok"


def hec(headers, body, action):
    """(status, answer, stored events, schema errors)"""
    errors = []
    auth = headers.get("Authorization", "")
    if not auth:
        return 401, {"text": "Token is required", "code": 2}, [], errors
    if not auth.startswith("Splunk "):
        return 401, {"text": "Invalid authorization", "code": 3}, [], errors
    if action == "invalid_token" or auth[len("Splunk "):] != args.token:
        return 403, {"text": "Invalid token", "code": 4}, [], errors
    if action.split(":")[0].isdigit():
        code = int(action.split(":")[0])
        answers = {503: {"text": "Server is busy", "code": 9},
                   500: {"text": "Internal server error", "code": 8}}
        return code, answers.get(code, {"text": "error", "code": 8}), [], errors
    text = body.decode("utf-8")
    dec = json.JSONDecoder()
    pos, events = 0, []
    while True:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if pos == len(text):
            break
        try:
            ev, pos = dec.raw_decode(text, pos)
        except ValueError:
            errors.append(f"event {len(events)}: not JSON")
            return 400, {"text": "Invalid data format", "code": 6,
                         "invalid-event-number": len(events)}, [], errors
        events.append(ev)
    if not events:
        return 400, {"text": "No data", "code": 5}, [], errors
    for i, ev in enumerate(events):
        bad = []
        if not isinstance(ev, dict):
            bad.append("not an object")
        else:
            bad += [f"unknown key {k}" for k in ev if k not in HEC_KEYS]
            if "event" not in ev or ev["event"] in ("", None):
                bad.append("no event")
            if "time" in ev and not isinstance(ev["time"], (int, float)) and not (
                    isinstance(ev["time"], str) and re.match(r"^\d+(\.\d+)?$", ev["time"])):
                bad.append("time is not epoch seconds")
            for k in ("host", "source", "sourcetype", "index"):
                if k in ev and not isinstance(ev[k], str):
                    bad.append(f"{k} is not a string")
            if "fields" in ev and not isinstance(ev["fields"], dict):
                bad.append("fields is not an object")
        if bad:
            errors.append(f"event {i}: {bad}")
            return 400, {"text": "Invalid data format", "code": 6,
                         "invalid-event-number": i}, events[:i], errors
    if action.startswith("invalid_event:"):
        n = int(action.split(":")[1])
        return 400, {"text": "Invalid data format", "code": 6,
                     "invalid-event-number": n}, events[:n], errors
    return 200, {"text": "Success", "code": 0}, events, errors


def bulk(headers, body, action):
    errors = []
    if action.split(":")[0].isdigit():
        code = int(action.split(":")[0])
        return code, {"error": {"type": "es_rejected_execution_exception",
                                "reason": "rejected execution"}, "status": code}, [], errors
    ctype = headers.get("Content-Type", "")
    if not ctype.startswith("application/x-ndjson") and not ctype.startswith("application/json"):
        errors.append(f"Content-Type {ctype}")
    text = body.decode("utf-8")
    if not text.endswith("\n"):
        errors.append("the body does not end with a newline")
        return 400, {"error": {"type": "illegal_argument_exception",
                               "reason": "The bulk request must be terminated by a newline [\\n]"},
                     "status": 400}, [], errors
    lines = text[:-1].split("\n")
    pairs = []
    i = 0
    while i < len(lines):
        try:
            act = json.loads(lines[i])
        except ValueError:
            errors.append(f"line {i}: action not JSON")
            break
        if not isinstance(act, dict) or len(act) != 1 or next(iter(act)) not in BULK_OPS:
            errors.append(f"line {i}: not one of {BULK_OPS}")
            break
        op, meta = next(iter(act.items()))
        unknown = [k for k in meta if k not in BULK_META]
        if unknown:
            errors.append(f"line {i}: unknown metadata {unknown}")
        if op == "delete":
            pairs.append((op, meta, None))
            i += 1
            continue
        if i + 1 >= len(lines):
            errors.append(f"line {i}: no document")
            break
        try:
            doc = json.loads(lines[i + 1])
        except ValueError:
            errors.append(f"line {i + 1}: document not JSON")
            doc = None
        if not isinstance(doc, dict):
            errors.append(f"line {i + 1}: document not an object")
        pairs.append((op, meta, doc))
        i += 2
    if errors:
        return 400, {"error": {"type": "x_content_parse_exception", "reason": errors[0]},
                     "status": 400}, [], errors
    reject, busy = set(), set()
    if action.startswith("reject:"):
        reject = {int(x) for x in action.split(":")[1].split(";")}
    if action.startswith("busy:"):
        busy = {int(x) for x in action.split(":")[1].split(";")}
    items, stored, any_error = [], [], False
    for n, (op, meta, doc) in enumerate(pairs):
        idx, _id = meta.get("_index", "falco"), meta.get("_id")
        if n in busy:
            any_error = True
            items.append({op: {"_index": idx, "_id": _id, "status": 429, "error": {
                "type": "es_rejected_execution_exception",
                "reason": "rejected execution of coordinating operation"}}})
        elif n in reject:
            any_error = True
            items.append({op: {"_index": idx, "_id": _id, "status": 400, "error": {
                "type": "document_parsing_exception",
                "reason": "[1:2] failed to parse field [output_fields] of type [keyword]"}}})
        elif op == "create" and _id in index:
            any_error = True
            items.append({op: {"_index": idx, "_id": _id, "status": 409, "error": {
                "type": "version_conflict_engine_exception",
                "reason": f"[{_id}]: version conflict, document already exists"}}})
        else:
            with lock:
                seq[0] += 1
                index[_id] = doc
            stored.append(doc)
            items.append({op: {"_index": idx, "_id": _id, "_version": 1, "result": "created",
                               "_shards": {"total": 2, "successful": 1, "failed": 0},
                               "_seq_no": seq[0], "_primary_term": 1, "status": 201}})
    return 200, {"took": 3, "errors": any_error, "items": items}, stored, errors


def loki(headers, body, action):
    errors = []
    if action.split(":")[0].isdigit():
        code = int(action.split(":")[0])
        if code == 429:
            return 429, ("Ingestion rate limit exceeded for user fake (limit: 4194304 bytes/sec) "
                         "while attempting to ingest '1' lines totaling '100' bytes, reduce log "
                         "volume or contact your Loki administrator to see if the limit can be "
                         "increased"), [], errors
        return code, "error", [], errors
    if not headers.get("Content-Type", "").startswith("application/json"):
        errors.append("Content-Type is not application/json")
    try:
        req = json.loads(body)
    except ValueError:
        return 400, "error parsing push request: not JSON", [], ["not JSON"]
    if not isinstance(req, dict) or set(req) != {"streams"} or not isinstance(req["streams"], list):
        errors.append("the top level must be {\"streams\": [...]}")
    stored = []
    for s in req.get("streams", []) if isinstance(req, dict) else []:
        if not isinstance(s, dict) or not set(s) <= {"stream", "values"}:
            errors.append(f"stream keys {list(s)}")
            continue
        labels = s.get("stream", {})
        if not labels or not all(isinstance(k, str) and LABEL.match(k) and isinstance(v, str)
                                 for k, v in labels.items()):
            errors.append(f"labels {labels}")
        for v in s.get("values", []):
            ok = (isinstance(v, list) and len(v) in (2, 3) and isinstance(v[0], str)
                  and v[0].isdigit() and isinstance(v[1], str)
                  and (len(v) == 2 or isinstance(v[2], dict)))
            if not ok:
                errors.append(f"value {v}")
                continue
            stored.append({"labels": labels, "ts": v[0], "line": v[1]})
    if errors:
        return 400, f"error parsing push request: {errors[0]}", [], errors
    return 204, None, stored, errors


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        action = next_action()
        headers = {k: v for k, v in self.headers.items()}
        fn = {"splunk_hec": hec, "elasticsearch_bulk": bulk, "loki": loki}[args.api]
        status, answer, stored, errors = fn(self.headers, body, action)
        retry_after = action.split(":")[1] if action.count(":") == 1 and action.split(":")[0].isdigit() else None
        if isinstance(answer, (dict, list)):
            out, ctype = json.dumps(answer).encode(), "application/json"
        elif answer is None:
            out, ctype = b"", None
        else:
            out, ctype = answer.encode(), "text/plain; charset=utf-8"
        with lock:
            with open(args.log, "a") as f:
                f.write(json.dumps({"path": self.path, "headers": headers,
                                    "body": body.decode("utf-8", "replace"), "action": action,
                                    "status": status, "schema_errors": errors,
                                    "stored": stored}) + "\n")
        self.send_response(status)
        if retry_after:
            self.send_header("Retry-After", retry_after)
        if ctype:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(args.port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(args.port_file + ".tmp", args.port_file)
srv.serve_forever()
