"""The Falco rows of bench/run: stock Falco 0.44.1 and Falco on falco-outputs (both built by
integrations/falco/build), on the dummy_c plugin source, every event an alert, back to back in
each repetition. Per run: alerts/s (alerts / process wall time, start-up included), CPU per
alert ((user + sys) / alerts, every thread of the process), peak RSS. Ratios are patched /
stock within a repetition, then the median over repetitions.

Rows: JSON to a buffered keep_alive file; five channels at once (that file, stdout on
/dev/null, program `cat >/dev/null`, HTTP to a loopback sink with keep_alive, syslog to a
drained /dev/log); the same four without HTTP (whose round trip per alert paces both Falcos). The alerts each peer received are checked: every run delivers all N.
"""

import json
import os
import resource
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RULES = """
- rule: Dummy event
  desc: every dummy_c event
  condition: dummy.value > 0
  output: Dummy event (value=%dummy.value str=%dummy.strvalue div3=%dummy.divisible[3])
  priority: WARNING
  source: dummy_c
  tags: [dummy, bench]
"""


def falco_build():
    """Paths of the two Falcos and the plugin (warm: seconds; cold: see docs/falco.md)."""
    p = subprocess.run([os.path.join(ROOT, "integrations", "falco", "build")],
                       stdout=subprocess.PIPE, text=True, check=True)
    got = {}
    for line in p.stdout.splitlines():
        for kv in line.split():
            k, _, v = kv.partition("=")
            got[k] = v
    return got["stock"], got["patched"], got["dummy_c"]


def config(workdir, plugin, n, five, http_port, http=True):
    cfg = {
        "plugins": [{"name": "dummy_c", "library_path": plugin, "init_config": "",
                     "open_params": json.dumps({"start": 1, "maxEvents": n})}],
        "load_plugins": ["dummy_c"],
        "log_stderr": True, "log_syslog": False, "log_level": "warning",
        "webserver": {"enabled": False}, "watch_config_files": False,
        "json_output": True, "buffered_outputs": True,
        # Both run to completion: stock Falco would otherwise discard what its worker has not
        # written 2 s after the last event (its default output_timeout).
        "output_timeout": 600000,
        "file_output": {"enabled": True, "keep_alive": True,
                        "filename": os.path.join(workdir, "falco.json")},
        "stdout_output": {"enabled": five},
        "syslog_output": {"enabled": five},
        "program_output": {"enabled": five, "keep_alive": True, "program": "cat >/dev/null"},
        "http_output": {"enabled": five and http, "keep_alive": True,
                        "url": "http://127.0.0.1:%d/" % http_port},
    }
    path = os.path.join(workdir, "falco.yaml")
    with open(path, "w") as f:
        json.dump(cfg, f)
    return path


def one_run(falco, cfg, rules, wrap):
    """(wall seconds, cpu seconds, peak RSS MiB) of one Falco process run to its end."""
    argv = wrap([falco, "-c", cfg, "-r", rules, "--disable-source", "syscall"])
    start = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - start
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError("%s exited %d: %s" % (falco, os.waitstatus_to_exitcode(status),
                                                  err[-2000:]))
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024


class Sinks:
    """bench/sinks: the HTTP sink and the drained syslog socket; counts what they got."""

    def __init__(self, build_dir, workdir):
        self.own_dev_log = not os.path.exists("/dev/log")
        self.path = "/dev/log" if self.own_dev_log else os.path.join(workdir, "log.sock")
        self.p = subprocess.Popen([os.path.join(build_dir, "sinks"), self.path],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.port = int(self.p.stdout.readline().split("=")[1])

    def wrap(self, argv):
        if self.own_dev_log:
            return argv
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                'mount --bind "$0" /dev/log && exec "$@"', self.path] + argv

    def counts(self):
        self.p.stdin.close()
        line = self.p.stdout.readline()
        self.p.wait(10)
        return {k: int(v) for k, v in (kv.split("=") for kv in line.split())}


def lines(path):
    with open(path, "rb") as f:
        return sum(1 for _ in f)


HEADER = ("| row | Falco on falco-outputs | stock Falco | alerts/s ratio | CPU/alert ratio | "
          "peak RSS | target |\n| --- | --- | --- | --- | --- | --- | --- |")


def rows(table, build_dir, runs, n_file, n_five, fmt_rate, med):
    """Appends the two rows to `table` (a list of cell tuples, printed under HEADER)."""
    stock, patched, plugin = falco_build()
    results = {}
    # The third row is the second without HTTP: at one request per alert, HTTP's round trip
    # paces both Falcos; this row shows what the other four channels cost.
    for five, http, n in ((False, False, n_file), (True, True, n_five), (True, False, n_five)):
        per = {"stock": [], "patched": []}
        for _ in range(runs):
            for flavour, falco in (("stock", stock), ("patched", patched)):
                with tempfile.TemporaryDirectory(prefix="falco-bench-") as d:
                    rules = os.path.join(d, "rules.yaml")
                    with open(rules, "w") as f:
                        f.write(RULES)
                    sinks = Sinks(build_dir, d)
                    try:
                        cfg = config(d, plugin, n, five, sinks.port, http)
                        wall, cpu, rss = one_run(falco, cfg, rules, sinks.wrap)
                    finally:
                        got = sinks.counts()
                    if lines(os.path.join(d, "falco.json")) != n:
                        raise RuntimeError("%s wrote %d alerts of %d" % (
                            flavour, lines(os.path.join(d, "falco.json")), n))
                    if five and (got["http_alerts"] != (n if http else 0) or got["syslog"] != n):
                        raise RuntimeError("%s: the sinks got %s of %d" % (flavour, got, n))
                    per[flavour].append((n / wall, wall, cpu / n * 1e6, rss))
        ratio = [p[0] / s[0] for s, p in zip(per["stock"], per["patched"])]
        cpu_ratio = [p[2] / s[2] for s, p in zip(per["stock"], per["patched"])]
        rss_delta = [p[3] - s[3] for s, p in zip(per["stock"], per["patched"])]
        m = {f: [med([r[i] for r in per[f]]) for i in range(4)] for f in per}
        what = ("five channels" if http else "four channels (the five without HTTP)") if five \
            else "JSON, buffered file"
        cell = lambda v: "%s, %.2f s, %.2f us CPU/alert, %.0f MB" % (  # noqa: E731
            fmt_rate(v[0]), v[1], v[2], v[3])
        table.append(("Falco on dummy_c, %s, %s alerts" % (what, format(n, ",")),
                      cell(m["patched"]), cell(m["stock"]), "%.2fx" % med(ratio),
                      "%.2fx" % med(cpu_ratio), "%+.0f MB" % med(rss_delta),
                      (">= 3x, <= 0.3x, <= +20 MB" if http else "-") if five
                      else ">= 4x, <= 0.3x, <= +20 MB"))
        results[what] = (per, ratio, cpu_ratio, rss_delta)
    return results
