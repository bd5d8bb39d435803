#!/usr/bin/env python3
"""The demo host's --metrics-listen: GET /metrics is scraped while alerts flow and parsed with
the official Prometheus text parser (PyPI prometheus-client, from scripts/pyenv); the samples
must equal what the channels did. A file channel delivers the Warning-or-worse alerts and
filters the rest; an HTTP channel whose endpoint refuses connections retries and holds them.
Usage: test_metrics.py [path/to/falco-outputs-demo]"""

import os
import select
import subprocess
import sys
import time
import urllib.error
import urllib.request

from demo_util import (SAMPLE, Failure, check, json_lines, main, read_bytes, start, tempdir,
                       wait, wait_until, write)

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    raise SystemExit("prometheus_client is missing: run this test with scripts/pyenv's python")

P = "falcosecurity_falco_outputs_"


def read_port(proc, timeout=10):
    """The port from the 'serving metrics on http://127.0.0.1:PORT/metrics' stderr line."""
    deadline = time.monotonic() + timeout
    seen = b""
    while time.monotonic() < deadline:
        r, _, _ = select.select([proc.stderr], [], [], 0.1)
        if r:
            chunk = os.read(proc.stderr.fileno(), 4096)
            if not chunk:
                break
            seen += chunk
            for line in seen.decode("utf-8", "replace").splitlines():
                if "serving metrics on http://127.0.0.1:" in line:
                    return int(line.rsplit(":", 1)[1].split("/")[0])
    raise Failure(f"no 'serving metrics on' line; stderr so far: {seen!r}")


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        check(r.status == 200, f"status {r.status}")
        check(r.headers["Content-Type"].startswith("text/plain; version=0.0.4"),
              r.headers["Content-Type"])
        return r.read().decode("utf-8")


def samples(text):
    """{(name, frozenset(labels)): value} through the official parser."""
    out, types = {}, {}
    for fam in text_string_to_metric_families(text):
        types[fam.name] = fam.type
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out, types


def test_scrape_while_running():
    d = tempdir()
    alerts = os.path.join(d, "alerts.jsonl")
    cfg = write(os.path.join(d, "falco.yaml"), f"""\
json_output: true
output_timeout: 300
file_output: {{enabled: true, filename: {alerts}, min_priority: warning}}
http_output: {{enabled: true, url: "http://127.0.0.1:1/", retry_max_backoff_ms: 200}}
""")
    lines = [l for l in read_bytes(SAMPLE).splitlines() if l.strip()]
    severe = [o for o in json_lines(read_bytes(SAMPLE))
              if o["priority"] in ("Emergency", "Alert", "Critical", "Error", "Warning")]
    t0 = time.time()
    proc = start(["--replay", "-", "-c", cfg, "--metrics-listen", "127.0.0.1:0"],
                 stdin=subprocess.PIPE)
    try:
        port = read_port(proc)
        proc.stdin.write(b"\n".join(lines) + b"\n")
        proc.stdin.flush()

        def settled():
            s, _ = samples(scrape(port))
            return (s.get((P + "alerts_total", frozenset({("channel", "file"),
                                                          ("status", "delivered")}))) ==
                    len(severe) and
                    s.get((P + "retries_total", frozenset({("channel", "http")})), 0) >= 2)
        wait_until(settled, 20, "the file channel's deliveries and the http retries")
        s, types = samples(scrape(port))

        def v(name, **labels):
            key = (P + name, frozenset(labels.items()))
            check(key in s, f"no sample {key}")
            return s[key]

        check(types[P + "alerts"] == "counter", types)  # the parser strips _total
        check(types[P + "spool_bytes"] == "gauge", types)
        check(v("alerts_accepted_total") == len(lines), s)
        check(v("alerts_total", channel="file", status="filtered") == len(lines) - len(severe), s)
        for st in ("failed", "dropped", "discarded"):
            check(v("alerts_total", channel="file", status=st) == 0, s)
        check(v("alerts_pending", channel="file") == 0, s)
        last = v("last_success_timestamp_seconds", channel="file")
        check(t0 - 1 <= last <= time.time() + 1, f"last success {last}, started {t0}")
        # The refused endpoint: nothing delivered, everything held and retried.
        check(v("alerts_total", channel="http", status="delivered") == 0, s)
        check(v("alerts_pending", channel="http") == len(lines), s)
        check(v("spool_bytes", channel="http") >= sum(len(l) for l in lines), s)
        check(v("write_errors_total", channel="http") >= v("retries_total", channel="http"), s)
        check(v("last_success_timestamp_seconds", channel="http") == 0, s)
        check(v("queue_depth", channel="http") == 0, s)
        check(any(k[0] == P + "version_info" and val == 1 for k, val in s.items()), s)
        # The accounting identity, per channel, as a scraper can check it.
        for ch in ("file", "http"):
            total = sum(v("alerts_total", channel=ch, status=st)
                        for st in ("delivered", "failed", "dropped", "discarded", "filtered",
                                   "suppressed"))
            check(total + v("alerts_pending", channel=ch)
                  == v("alerts_accepted_total") + v("storm_summaries_total", channel=ch),
                  f"{ch}: statuses + pending != accepted + storm summaries")

        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/other", timeout=5)
            raise Failure("GET /other answered 2xx")
        except urllib.error.HTTPError as e:
            check(e.code == 404, f"GET /other: {e.code}")
    finally:
        proc.stdin.close()
    rc, err = wait(proc, timeout=30)
    # The http alerts could not be delivered by the close deadline: discarded, exit 126.
    check(rc == 126, f"exit {rc}: {err}")
    check(len(json_lines(read_bytes(alerts))) == len(severe), "the file's alerts")


def test_bad_listen_address():
    for bad in ("nonsense", "127.0.0.1:", "127.0.0.1:70000", "localhost:9376"):
        proc = start(["--metrics-listen", bad])
        rc, err = wait(proc, timeout=10)
        check(rc == 126 and "--metrics-listen" in err, f"{bad}: exit {rc}: {err}")


if __name__ == "__main__":
    main([test_scrape_while_running, test_bad_listen_address])
