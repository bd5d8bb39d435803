#!/usr/bin/env python3
"""The fleet relay of docs/otlp.md, for real: a "Falco" (a first demo instance) hands its JSON
alerts through program_output to `falco-outputs-demo --replay -`, whose otlp_output sends them
to a loopback receiver (tests/it/support/http_server.py --otlp) that parses every request with
the official OTLP schema. Every alert arrives once, in order, with its rule, priority, severity
and fields; the relay's /metrics says so too.
Usage (with scripts/pyenv's python): test_otlp_relay.py [path/to/falco-outputs-demo]"""

import json
import os
import subprocess
import sys
import time
import urllib.request

from demo_util import DEMO, REPO, check, main, run, tempdir, wait_until, write

SERVER = os.path.join(REPO, "tests/it/support/http_server.py")
SEVERITY = {"Emergency": "FATAL", "Alert": "ERROR3", "Critical": "ERROR2", "Error": "ERROR",
            "Warning": "WARN", "Notice": "INFO2", "Informational": "INFO", "Debug": "DEBUG"}


def receiver(d):
    log, port_file = os.path.join(d, "requests.jsonl"), os.path.join(d, "port")
    proc = subprocess.Popen([sys.executable, SERVER, "--otlp", "--port-file", port_file,
                             "--log", log], stdin=subprocess.DEVNULL)
    wait_until(lambda: os.path.exists(port_file), 20, "the OTLP receiver to start")
    with open(port_file) as f:
        return proc, int(f.read()), log


def test_program_output_relay_to_otlp():
    d = tempdir()
    srv, port, log = receiver(d)
    try:
        direct = os.path.join(d, "direct.jsonl")
        relay = write(os.path.join(d, "relay.yaml"), f"""\
json_output: true
stdout_output: {{enabled: false}}
otlp_output:
  enabled: true
  url: http://127.0.0.1:{port}
  batch_max_wait_ms: 50
  resource_attributes: {{k8s.cluster.name: eu-1}}
""")
        falco = write(os.path.join(d, "falco.yaml"), f"""\
json_output: true
stdout_output: {{enabled: false}}
file_output: {{enabled: true, keep_alive: true, filename: {direct}}}
program_output:
  enabled: true
  keep_alive: true
  program: "{DEMO} --replay - -c {relay}"
""")
        rc, _, err = run(["-c", falco, "--generate", "400"])
        check(rc == 0, err)
        check("replayed 400 lines from stdin: 400 alerts emitted" in err, err)
        reqs = [json.loads(l) for l in open(log)]
        check(all(r["schema_error"] is None for r in reqs), "a request the schema refused")
        check(1 < len(reqs) < 400, f"{len(reqs)} requests: batched")
        recs = []
        for r in reqs:
            rl = r["otlp"]["resourceLogs"][0]
            res = {a["key"]: a["value"]["stringValue"] for a in rl["resource"]["attributes"]}
            check(res["service.name"] == "falco" and res["k8s.cluster.name"] == "eu-1", res)
            recs += rl["scopeLogs"][0]["logRecords"]
        sent = [json.loads(l) for l in open(direct)]
        check(len(recs) == len(sent) == 400, f"{len(recs)} records for {len(sent)} alerts")
        for want, got in zip(sent, recs):
            attrs = {a["key"]: a["value"] for a in got["attributes"]}
            check(attrs["evt.num"] == {"intValue": str(want["output_fields"]["evt.num"])},
                  "in order, once each")
            check(attrs["rule"]["stringValue"] == want["rule"], want["rule"])
            check(got["severityText"] == want["priority"], got["severityText"])
            check(got["severityNumber"] == "SEVERITY_NUMBER_" + SEVERITY[want["priority"]],
                  got["severityNumber"])
            check(got["body"]["stringValue"] == want["output"], "the body is Falco's output")
    finally:
        srv.kill()
        srv.wait()


if __name__ == "__main__":
    main([test_program_output_relay_to_otlp])
