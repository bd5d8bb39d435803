"""Test 3, the library's extensions inside Falco (none of them exist in stock Falco):
extra_outputs routed by `match`, OTLP to a receiver that parses with the official schema, RELP
to a real rsyslogd (imrelp), and the HTTP spool across a kill -9 of Falco during an endpoint
outage and a restart."""

import http.server
import json
import os
import signal
import socket
import subprocess
import threading
import time

from harness import HttpRecorder, base_config, check, run_falco, write_config
from live import plugin_config, rules_file, values, wait_for_lines


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OtlpReceiver:
    """OTLP/HTTP logs receiver: each body parsed into ExportLogsServiceRequest (the official
    opentelemetry-proto schema, protobuf's JSON mapping); records kept in order."""

    def __init__(self):
        from google.protobuf import json_format
        from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
        self.records = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                req = logs_service_pb2.ExportLogsServiceRequest()
                json_format.Parse(body, req)  # raises on anything off-schema
                for rl in req.resource_logs:
                    for sl in rl.scope_logs:
                        receiver.records.extend(sl.log_records)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server.server_address[1]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Rsyslogd:
    """A real rsyslogd with imrelp on loopback, storing each message's text, one per line."""

    def __init__(self, d):
        self.dir, self.port = d, free_port()
        self.out = os.path.join(d, "relp.out")
        conf = os.path.join(d, "rsyslog.conf")
        with open(conf, "w") as f:
            f.write('global(workDirectory="%s" maxMessageSize="64k")\n'
                    'module(load="imrelp")\n'
                    'input(type="imrelp" address="127.0.0.1" port="%d" ruleset="relp")\n'
                    'template(name="m" type="string" string="%%msg:2:$%%\\n")\n'
                    'ruleset(name="relp" queue.type="Direct") {\n'
                    '  action(type="omfile" file="%s" template="m")\n}\n'
                    % (d, self.port, self.out))
        self.proc = subprocess.Popen(
            ["rsyslogd", "-n", "-f", conf, "-i", os.path.join(d, "rsyslogd.pid")],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, "rsyslogd.err"), "w"))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("rsyslogd did not listen on %d" % self.port)

    def lines(self):
        try:
            with open(self.out, "rb") as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def close(self):
        self.proc.terminate()
        self.proc.wait(10)


def routing_otlp_relp(ctx):
    d = os.path.join(ctx.workdir, "extensions")
    os.makedirs(d)
    otlp, rsyslog = OtlpReceiver(), Rsyslogd(d)
    try:
        main = os.path.join(d, "all.log")
        cfg = base_config(d)
        cfg.update({
            "engine": {"kind": "replay", "replay": {
                "capture_file": os.path.join(ctx.captures_dir, "curl_google.scap")}},
            "json_output": True,
            "stdout_output": {"enabled": False},
            "syslog_output": {"enabled": False},
            "file_output": {"enabled": True, "keep_alive": True, "filename": main},
            "extra_outputs": [
                {"name": "critical", "type": "file", "filename": os.path.join(d, "crit.log"),
                 "match": {"min_priority": "critical"}},
                {"name": "network", "type": "file", "filename": os.path.join(d, "net.log"),
                 "match": {"tags": ["network"], "rules": ["Outbound*", "Data*"]}},
                {"name": "collector", "type": "otlp", "url": otlp.url,
                 "batch_max_wait_ms": 20},
                {"name": "relp", "type": "syslog",
                 "address": "relp://127.0.0.1:%d" % rsyslog.port},
            ],
        })
        write_config(os.path.join(d, "falco.yaml"), cfg)
        run_falco(ctx.patched, os.path.join(d, "falco.yaml"), [ctx.rules])

        def read(name):
            with open(os.path.join(d, name), "rb") as f:
                return f.read().splitlines()
        every = read("all.log")
        alerts = [json.loads(l) for l in every]
        check(len(every) > 50, "only %d alerts" % len(every))
        critical = [l for l, a in zip(every, alerts)
                    if a["priority"] in ("Emergency", "Alert", "Critical")]
        network = [l for l, a in zip(every, alerts) if "network" in a["tags"]
                   and (a["rule"].startswith("Outbound") or a["rule"].startswith("Data"))]
        check(read("crit.log") == critical, "extra_outputs 'critical' does not hold exactly "
              "the %d Critical-or-worse alerts" % len(critical))
        check(read("net.log") == network, "extra_outputs 'network' does not hold exactly the "
              "%d matching alerts" % len(network))
        check(0 < len(critical) < len(every) and 0 < len(network) < len(every),
              "the match blocks must each take some alerts and leave some")
        bodies = [r.body.string_value for r in otlp.records]
        check(bodies == [a["output"] for a in alerts],
              "OTLP: %d records, %d alerts, or bodies differ" % (len(bodies), len(alerts)))
        rules = [next(kv.value.string_value for kv in r.attributes if kv.key == "rule")
                 for r in otlp.records]
        check(rules == [a["rule"] for a in alerts], "OTLP: rule attributes differ")
        deadline = time.monotonic() + 10
        while len(rsyslog.lines()) < len(every) and time.monotonic() < deadline:
            time.sleep(0.05)
        check(rsyslog.lines() == every, "RELP: rsyslogd stored %d messages for %d alerts"
              % (len(rsyslog.lines()), len(every)))
        ctx.log("ok   extensions: %d alerts; match: %d critical, %d network; OTLP %d records "
                "(schema-parsed); RELP %d stored by rsyslogd" % (
                    len(every), len(critical), len(network), len(bodies),
                    len(rsyslog.lines())))
    finally:
        otlp.close()
        rsyslog.close()


def spool_across_kill(ctx, events=20_000):
    d = os.path.join(ctx.workdir, "spool-kill")
    os.makedirs(d)
    http = HttpRecorder()
    http.status = 503  # the endpoint is down
    try:
        spool = os.path.join(d, "spool")

        def config(start, n):
            cfg = plugin_config(ctx, n, d, extra={
                "output_timeout": 60000,
                "http_output": {"enabled": True, "url": http.url, "spool_dir": spool,
                                "retry_max_backoff_ms": 200},
            })
            cfg["plugins"][0]["open_params"] = json.dumps({"start": start, "maxEvents": n})
            return cfg

        cfg = config(0, events)  # values 1..events
        write_config(os.path.join(d, "falco.yaml"), cfg)
        falco = subprocess.Popen([ctx.patched, "-c", os.path.join(d, "falco.yaml"), "-r",
                                  rules_file(d), "--disable-source", "syscall"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # Every event is an alert in the file; the HTTP channel spools it meanwhile. Falco then
        # waits in close (output_timeout 60 s) for the endpoint: kill -9 it there.
        check(wait_for_lines(os.path.join(d, "falco.log"), events, time.monotonic() + 120),
              "the alerts did not all reach the file")
        time.sleep(1.0)
        check(falco.poll() is None, "Falco exited before the kill")
        falco.send_signal(signal.SIGKILL)
        falco.wait(10)
        check(http.take() == [], "the endpoint was down, yet took requests")

        # Restart with the endpoint up: one more event (value 1000001), then close drains.
        http.status = 200
        cfg = config(1_000_000, 1)  # the value 1000001
        write_config(os.path.join(d, "falco.yaml"), cfg)
        run_falco(ctx.patched, os.path.join(d, "falco.yaml"), [rules_file(d)],
                  ["--disable-source", "syscall"])
        got = values(body for _, _, body in http.take())
        want = list(range(1, events + 1)) + [1_000_001]
        check(sorted(set(got)) == want, "after kill -9 and restart the endpoint got %d "
              "distinct alerts of %d (missing e.g. %s)" % (
                  len(set(got)), len(want), sorted(set(want) - set(got))[:5]))
        ctx.log("ok   spool: %d alerts spooled during the outage, Falco killed -9, restarted: "
                "all %d delivered (%d requests, %d duplicates)" % (
                    events, len(want), len(got), len(got) - len(set(got))))
    finally:
        http.close()


def run(ctx):
    routing_otlp_relp(ctx)
    spool_across_kill(ctx)
