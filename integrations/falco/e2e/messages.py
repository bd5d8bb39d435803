"""Test 4, Falco's internal messages (handle_msg): what these runs carry is the metrics snapshot
(metrics.output_rule). Its values differ from run to run (memory, counters, times), so stock
and patched are compared by shape: the same JSON keys with the same types, the same rule,
priority, source and message; in text, the same line with the values masked. The documented
differences of emit_msg's text line (escaping, ISO time) cannot show with these values."""

import json
import os
import re

from harness import check, run_falco, write_config
from live import plugin_config, rules_file

TEXT_RE = re.compile(r"^\d\d:\d\d:\d\d\.\d{9}: Informational Falco metrics snapshot \((.*)\)$")
RULE = "Falco internal: metrics snapshot"


def snapshot_config(ctx, d, json_output):
    return plugin_config(ctx, 1_000_000, d, json_output=json_output, extra={
        "metrics": {"enabled": True, "interval": "1s", "output_rule": True,
                    "rules_counters_enabled": True, "resource_utilization_enabled": True,
                    "state_counters_enabled": False, "kernel_event_counters_enabled": False,
                    "libbpf_stats_enabled": False, "plugins_metrics_enabled": False,
                    "convert_memory_to_mb": True,
                    # every metric present even when 0 (a zero would otherwise drop a key)
                    "include_empty_values": True}})


def shape_json(line):
    obj = json.loads(line)
    fields = {k: type(v).__name__ for k, v in obj["output_fields"].items()}
    top = {k: obj[k] for k in ("output", "priority", "rule", "source", "hostname")}
    return sorted(obj), top, fields


def shape_text(line):
    m = TEXT_RE.match(line)
    check(m is not None, "a metrics snapshot line is not Falco's text form: %r" % line[:200])
    return re.findall(r"(?:^| )([\w.]+)=", m.group(1))


def snapshots(ctx, flavour, json_output):
    d = os.path.join(ctx.workdir, "messages-%s-%s" % (flavour, "json" if json_output else "text"))
    os.makedirs(d)
    write_config(os.path.join(d, "falco.yaml"), snapshot_config(ctx, d, json_output))
    run_falco(getattr(ctx, flavour), os.path.join(d, "falco.yaml"), [rules_file(d)],
              ["--disable-source", "syscall"])
    with open(os.path.join(d, "falco.log")) as f:
        lines = [l for l in f.read().splitlines() if "metrics snapshot" in l]
    check(lines, "%s Falco emitted no metrics snapshot" % flavour)
    return lines


def run(ctx):
    for json_output in (True, False):
        got = {f: snapshots(ctx, f, json_output) for f in ("stock", "patched")}
        shape = shape_json if json_output else shape_text
        s, p = shape(got["stock"][0]), shape(got["patched"][0])
        check(s == p, "metrics snapshot (%s) differs in shape:\n  stock   %r\n  patched %r"
              % ("json" if json_output else "text", s, p))
        if json_output:
            check(p[1]["rule"] == RULE and p[1]["source"] == "internal",
                  "not the snapshot's rule/source: %r" % (p[1],))
        ctx.log("ok   messages (%s): %d stock and %d patched metrics snapshots, same shape "
                "(%d fields)" % ("json" if json_output else "text", len(got["stock"]),
                                 len(got["patched"]), len(p[2]) if json_output else len(p)))
