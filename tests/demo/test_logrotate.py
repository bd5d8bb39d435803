#!/usr/bin/env python3
"""Debian's real logrotate against the demo host writing a keep_alive file at a steady rate:
`create` + `postrotate kill -USR1 <pid>`, forced six times while alerts flow. Afterwards the
rotated files plus the live file hold every alert exactly once, in order.
Usage: test_logrotate.py [path/to/falco-outputs-demo]"""

import glob
import os
import shutil
import subprocess
import time

from demo_util import (check, check_sequence, evt_nums, generated_count, main, read_bytes,
                       skip, start, stats_of, tempdir, wait, write)

LOGROTATE = shutil.which("logrotate") or "/usr/sbin/logrotate"
ROTATIONS = 6
COUNT, RATE = 4000, 1000  # four seconds of alerts


def test_logrotate_create_and_sigusr1_lose_and_duplicate_nothing():
    d = tempdir()
    events = os.path.join(d, "events.jsonl")
    config = write(os.path.join(d, "falco.yaml"),
                   "json_output: true\nstdout_output: {enabled: false}\n"
                   f"file_output: {{enabled: true, keep_alive: true, filename: {events}}}\n")
    demo = start(["-c", config, "--generate", str(COUNT), "--rate", str(RATE)])
    try:
        # demo/README.md's logrotate example, with this run's pid.
        rotate_conf = write(os.path.join(d, "logrotate.conf"), f"""\
{events} {{
    rotate 20
    missingok
    notifempty
    create 0640 root root
    postrotate
        kill -USR1 {demo.pid}
    endscript
}}
""")
        state = os.path.join(d, "logrotate.state")
        start_t = time.monotonic()
        for k in range(ROTATIONS):
            # Spread the rotations over the run (0.5 s apart).
            time.sleep(max(0.0, start_t + 0.5 * (k + 1) - time.monotonic()))
            p = subprocess.run([LOGROTATE, "-f", "-s", state, rotate_conf], capture_output=True,
                               timeout=20)
            check(p.returncode == 0, f"logrotate: {p.stderr.decode()}")
            check(demo.poll() is None, f"the demo ended during rotation {k + 1}")
        rc, err = wait(demo, timeout=30)
    finally:
        if demo.poll() is None:
            demo.kill()
    check(rc == 0, f"exit status {rc}:\n{err}")
    n = generated_count(err)
    check(n == COUNT, err)
    check(f"SIGUSR1 handled {ROTATIONS} times" in err, err)
    stats = stats_of(err)
    check(stats["delivered"] == COUNT and stats["dropped"] == 0 and stats["failed"] == 0, stats)

    # Oldest first: events.jsonl.6 ... events.jsonl.1, then the live file.
    rotated = sorted(glob.glob(events + ".*"), key=lambda p: -int(p.rsplit(".", 1)[1]))
    check(len(rotated) == ROTATIONS, f"rotated files: {rotated}")
    nums = []
    for path in rotated + [events]:
        part = evt_nums(read_bytes(path))
        check(part, f"{path} is empty: alerts did not flow between rotations")
        nums += part
    check_sequence(nums, COUNT, "rotated files + live file")
    check(oct(os.stat(events).st_mode & 0o777) == "0o640", "logrotate's `create 0640`")


if __name__ == "__main__":
    if not os.access(LOGROTATE, os.X_OK):
        skip(f"{LOGROTATE} not found: install Debian's logrotate (scripts/deps does)")
    main([test_logrotate_create_and_sigusr1_lose_and_duplicate_nothing])
