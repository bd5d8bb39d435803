"""Test 2, a live plugin source (dummy_c; every event an alert): stock and patched Falco write
the same alerts apart from their times; Falco's own SIGUSR1 with a real logrotate mid-run loses
and duplicates nothing across the rotated files; SIGTERM mid-run: every alert the engine
produced is in the file, or counted as discarded in the library's close report."""

import json
import os
import re
import signal
import subprocess
import time

from harness import base_config, check, run_falco, write_config

RULES = """
- rule: Dummy event
  desc: every dummy_c event (values 1, 2 and on, from start 0 without jitter)
  condition: dummy.value > 0
  output: Dummy event (value=%dummy.value str=%dummy.strvalue div3=%dummy.divisible[3])
  priority: WARNING
  source: dummy_c
  tags: [dummy]
"""


def plugin_config(ctx, events, workdir, json_output=True, keep_alive=True, extra=None):
    cfg = base_config(workdir)
    cfg.update({
        "plugins": [{"name": "dummy_c", "library_path": ctx.plugin,
                     "init_config": json.dumps({"jitter": 0}),
                     "open_params": json.dumps({"start": 0, "maxEvents": events})}],
        "load_plugins": ["dummy_c"],
        "json_output": json_output,
        "buffered_outputs": True,
        "stdout_output": {"enabled": False},
        "syslog_output": {"enabled": False},
        "file_output": {"enabled": True, "keep_alive": keep_alive,
                        "filename": os.path.join(workdir, "falco.log")},
    })
    cfg.update(extra or {})
    return cfg


def rules_file(workdir):
    path = os.path.join(workdir, "dummy_rules.yaml")
    with open(path, "w") as f:
        f.write(RULES)
    return path


TIME_RE = re.compile(rb'"time":"[^"]*"|"evt.time":\d+|"output":"\d\d:\d\d:\d\d\.\d{9}: ')


def without_times(data):
    return TIME_RE.sub(b"", data)


def values(lines):
    return [json.loads(l)["output_fields"]["dummy.value"] for l in lines]


def identical_apart_from_times(ctx, events):
    got = {}
    for flavour in ("stock", "patched"):
        d = os.path.join(ctx.workdir, "live-" + flavour)
        os.makedirs(d)
        cfg = plugin_config(ctx, events, d)
        write_config(os.path.join(d, "falco.yaml"), cfg)
        start = time.monotonic()
        run_falco(getattr(ctx, flavour), os.path.join(d, "falco.yaml"), [rules_file(d)],
                  ["--disable-source", "syscall"])
        with open(os.path.join(d, "falco.log"), "rb") as f:
            got[flavour] = f.read()
        ctx.log("     live %s: %d alerts in %.1f s" % (
            flavour, got[flavour].count(b"\n"), time.monotonic() - start))
    s, p = got["stock"].splitlines(), got["patched"].splitlines()
    check(len(s) == events, "stock Falco wrote %d alerts for %d events" % (len(s), events))
    check(len(p) == events, "Falco on the library wrote %d alerts for %d events"
          % (len(p), events))
    for i, (a, b) in enumerate(zip(s, p)):
        if without_times(a) != without_times(b):
            check(False, "live alert #%d differs apart from times:\n  stock   %r\n  patched %r"
                  % (i, a[:300], b[:300]))
    ctx.log("ok   live: %d alerts identical apart from times" % events)


def wait_for_lines(path, n, deadline):
    while time.monotonic() < deadline:
        try:
            if os.path.getsize(path) > 0:
                with open(path, "rb") as f:
                    if f.read().count(b"\n") >= n:
                        return True
        except FileNotFoundError:
            pass
        time.sleep(0.02)
    return False


def start_patched(ctx, events, name, stdout):
    """Falco on the library on the plugin source in a directory of its own, running."""
    d = os.path.join(ctx.workdir, name)
    os.makedirs(d)
    write_config(os.path.join(d, "falco.yaml"), plugin_config(ctx, events, d))
    falco = subprocess.Popen([ctx.patched, "-c", os.path.join(d, "falco.yaml"), "-r",
                              rules_file(d), "--disable-source", "syscall"],
                             stdout=stdout, stderr=subprocess.PIPE)
    return d, os.path.join(d, "falco.log"), falco


def logrotate_mid_run(ctx, events):
    d, log, falco = start_patched(ctx, events, "live-logrotate", subprocess.DEVNULL)
    conf = os.path.join(d, "logrotate.conf")
    with open(conf, "w") as f:
        f.write("%s {\n  rotate 20\n  missingok\n  nocompress\n  postrotate\n"
                "    kill -USR1 %d\n  endscript\n}\n" % (log, falco.pid))
    rotations = 0
    deadline = time.monotonic() + 300
    while falco.poll() is None and rotations < 4 and time.monotonic() < deadline:
        if wait_for_lines(log, 1, deadline):
            r = subprocess.run(["logrotate", "-f", "-s", os.path.join(d, "state"), conf],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            check(r.returncode == 0, "logrotate failed: %s" % r.stdout.decode())
            rotations += 1
            time.sleep(0.3)
    _, err = falco.communicate(timeout=300)
    check(falco.returncode == 0, "Falco exited with %d: %s" % (falco.returncode,
                                                               err.decode()[-2000:]))
    check(rotations >= 2, "only %d rotations happened before Falco finished" % rotations)
    files = sorted(f for f in os.listdir(d) if f.startswith("falco.log"))
    all_values = []
    for name in files:
        with open(os.path.join(d, name), "rb") as f:
            all_values += values(f.read().splitlines())
    check(sorted(all_values) == list(range(1, events + 1)),
          "across %s: %d alerts, %d distinct, for %d events" % (
              files, len(all_values), len(set(all_values)), events))
    ctx.log("ok   live logrotate: %d rotations (SIGUSR1 to Falco), %d files, %d alerts each "
            "exactly once" % (rotations, len(files), events))


def sigterm_mid_run(ctx, events):
    d, log, falco = start_patched(ctx, events, "live-sigterm", subprocess.PIPE)
    check(wait_for_lines(log, 1000, time.monotonic() + 120), "no alert reached the file")
    falco.send_signal(signal.SIGTERM)
    out, err = falco.communicate(timeout=120)
    check(falco.returncode == 0, "Falco exited with %d after SIGTERM" % falco.returncode)
    m = re.search(rb"Events detected: (\d+)", out)
    check(m is not None, "Falco printed no 'Events detected' line: %r" % out[-500:])
    detected = int(m.group(1))
    with open(log, "rb") as f:
        got = values(f.read().splitlines())
    discarded = 0
    for dm in re.finditer(r"(\d+) alerts? (?:were |was )?discarded", err.decode()):
        discarded += int(dm.group(1))
    check(got == list(range(1, len(got) + 1)), "the file's alerts are not 1..n in order")
    check(len(got) + discarded == detected,
          "SIGTERM: the engine detected %d, the file has %d, %d discarded" % (
              detected, len(got), discarded))
    check(detected < events, "SIGTERM came after the last event (%d of %d)" % (detected, events))
    ctx.log("ok   live SIGTERM: engine detected %d of %d events; %d in the file, %d discarded"
            % (detected, events, len(got), discarded))


def run(ctx):
    identical_apart_from_times(ctx, ctx.live_events)
    logrotate_mid_run(ctx, ctx.live_events)
    sigterm_mid_run(ctx, ctx.live_events)
