#!/usr/bin/env python3
"""A storm of SIGUSR1 (tens of thousands, from another process) at the demo host while it
emits: no deadlock, no alert lost or duplicated, and the host's own signal handling unchanged
(its handlers still installed and unblocked; SIGTERM still ends in a clean close with every
alert written).
Usage: test_sigusr1_storm.py [path/to/falco-outputs-demo]"""

import os
import re
import signal
import subprocess
import sys
import time

from demo_util import (check, check_sequence, evt_nums, generated_count, main, read_bytes, run,
                       signal_masks, start, stats_of, tempdir, wait, wait_until, write)

HOST_SIGNALS = {signal.SIGUSR1, signal.SIGINT, signal.SIGTERM}
STORM = 20000


def storm(pid, n=STORM):
    """Another process sending n SIGUSR1 as fast as it can."""
    return subprocess.Popen([sys.executable, "-c", (
        "import os, signal, sys\n"
        "pid, n = int(sys.argv[1]), int(sys.argv[2])\n"
        "for _ in range(n):\n    os.kill(pid, signal.SIGUSR1)\n    os.sched_yield()\n"), str(pid), str(n)])


def file_config(d, events):
    return write(os.path.join(d, "falco.yaml"),
                 "json_output: true\nstdout_output: {enabled: false}\n"
                 f"file_output: {{enabled: true, keep_alive: true, filename: {events}}}\n")


def check_host_signals(pid, when):
    caught, blocked = signal_masks(pid)
    check(HOST_SIGNALS <= caught, f"{when}: handlers for {HOST_SIGNALS - caught} are gone")
    check(not (HOST_SIGNALS & blocked), f"{when}: the main thread blocks {HOST_SIGNALS & blocked}")


def handled(err):
    m = re.search(r"SIGUSR1 handled (\d+) times", err)
    check(m, err)
    return int(m.group(1))


def test_storm_while_generating_then_sigterm_closes_cleanly():
    d = tempdir()
    events = os.path.join(d, "events.jsonl")
    demo = start(["-c", file_config(d, events), "--generate", "0", "--rate", "20000"])
    try:
        wait_until(lambda: os.path.exists(events) and os.path.getsize(events) > 0, 10,
                   "the first alerts")
        check_host_signals(demo.pid, "before the storm")
        before = os.path.getsize(events)
        sender = storm(demo.pid)
        sender.wait(timeout=60)
        check(sender.returncode == 0, "the storm's sender failed")
        check(demo.poll() is None, f"the demo died in the storm (status {demo.poll()})")
        check(os.path.getsize(events) > before, "no alert was written during the storm")
        check_host_signals(demo.pid, "after the storm")
        time.sleep(0.2)  # alerts keep flowing after the storm too
        demo.send_signal(signal.SIGTERM)
        rc, err = wait(demo, timeout=20)
    finally:
        if demo.poll() is None:
            demo.kill()
    check(rc == 0, f"exit status {rc}:\n{err}")
    check("stopped by SIGTERM" in err, err)
    n = generated_count(err)
    check(1 <= handled(err) <= STORM, err)
    print(f"      {STORM} SIGUSR1 sent, {handled(err)} handled (the kernel merges pending ones), "
          f"{n} alerts written once each")
    check_sequence(evt_nums(read_bytes(events)), n, "after the storm and SIGTERM")
    stats = stats_of(err)
    check(stats["delivered"] == n and stats["dropped"] == 0 and stats["failed"] == 0, stats)


def test_storm_while_replaying_a_pipe():
    d = tempdir()
    made = os.path.join(d, "made.jsonl")
    rc, _, err = run_generate(d, made, 30000)
    check(rc == 0, err)
    lines = read_bytes(made).splitlines(keepends=True)
    events = os.path.join(d, "events.jsonl")
    demo = start(["-c", file_config(d, events), "--replay", "-"], stdin=subprocess.PIPE)
    try:
        demo.stdin.write(b"".join(lines[:1000]))
        demo.stdin.flush()
        wait_until(lambda: os.path.exists(events) and os.path.getsize(events) > 0, 10,
                   "the first alerts")
        sender = storm(demo.pid)
        # Keep feeding while the storm runs: read(2) of stdin is interrupted again and again.
        for k in range(1000, len(lines), 1000):
            demo.stdin.write(b"".join(lines[k:k + 1000]))
            demo.stdin.flush()
            time.sleep(0.01)
        sender.wait(timeout=60)
        check_host_signals(demo.pid, "after the storm")
        demo.stdin.close()
        rc, err = wait(demo, timeout=20)
    finally:
        if demo.poll() is None:
            demo.kill()
    check(rc == 0, f"exit status {rc}:\n{err}")
    check(f"{len(lines)} alerts emitted, 0 malformed" in err, err)
    check(1 <= handled(err) <= STORM, err)
    print(f"      {STORM} SIGUSR1 sent, {handled(err)} handled, {len(lines)} lines replayed")
    check(read_bytes(events) == read_bytes(made), "the replayed file differs from its input")


def run_generate(d, path, n):
    cfg = write(os.path.join(d, "made.yaml"),
                "json_output: true\nstdout_output: {enabled: false}\n"
                f"file_output: {{enabled: true, keep_alive: true, filename: {path}}}\n")
    return run(["-c", cfg, "--generate", str(n)])


if __name__ == "__main__":
    main([test_storm_while_generating_then_sigterm_closes_cleanly,
          test_storm_while_replaying_a_pipe])
