#!/usr/bin/env python3
"""Relay use: a Falco that cannot be relinked gains this library's channels by feeding its JSON
alerts to `falco-outputs-demo --replay - -c relay.yaml`, through program_output (keep_alive) or
a pipe. What the relay's channels write is checked against what the producer had.
Usage: test_relay.py [path/to/falco-outputs-demo]"""

import os
import signal
import subprocess
import time

from demo_util import (DEMO, check, check_sequence, env, evt_nums, main, read_bytes, run,
                       start, tempdir, wait, wait_until, write)


def relay_config(d, name="relay", json=True):
    out = os.path.join(d, name + ".out")
    cfg = write(os.path.join(d, name + ".yaml"),
                f"json_output: {'true' if json else 'false'}\nstdout_output: {{enabled: false}}\n"
                f"file_output: {{enabled: true, keep_alive: false, filename: {out}}}\n")
    return cfg, out


def producer_config(d, relay_cfg):
    """A 'Falco' (here: a first demo instance) with a file and the relay as its program."""
    direct = os.path.join(d, "direct.jsonl")
    cfg = write(os.path.join(d, "falco.yaml"), f"""\
json_output: true
stdout_output: {{enabled: false}}
file_output: {{enabled: true, keep_alive: true, filename: {direct}}}
program_output:
  enabled: true
  keep_alive: true
  program: "{DEMO} --replay - -c {relay_cfg} --hostname falco-node-1"
""")
    return cfg, direct


def test_program_output_relay_delivers_what_falco_wrote():
    d = tempdir()
    relay_cfg, relayed = relay_config(d)
    cfg, direct = producer_config(d, relay_cfg)
    # stderr is shared with the relay: run() returns once the relay has exited too.
    rc, _, err = run(["-c", cfg, "--generate", "500", "--hostname", "falco-node-1"])
    check(rc == 0, err)
    check("replayed 500 lines from stdin: 500 alerts emitted, 0 malformed" in err, err)
    a, b = read_bytes(direct), read_bytes(relayed)
    check(a.count(b"\n") == 500 and a == b, "the relay's file differs from Falco's own file")


def test_program_relay_survives_sigusr1_respawns():
    d = tempdir()
    relay_cfg, relayed = relay_config(d)
    cfg, direct = producer_config(d, relay_cfg)
    producer = start(["-c", cfg, "--generate", "1500", "--rate", "1000",
                      "--hostname", "falco-node-1"])
    try:
        for _ in range(3):  # each SIGUSR1 respawns the relay (the program output reopens)
            time.sleep(0.35)
            producer.send_signal(signal.SIGUSR1)
        rc, err = wait(producer, timeout=30)
    finally:
        if producer.poll() is None:
            producer.kill()
    check(rc == 0, err)
    check(err.count("replayed ") == 4, f"want 4 relay runs:\n{err}")
    nums = evt_nums(read_bytes(relayed))
    # Consecutive relays may overlap for an instant: each alert once, order aside.
    check_sequence(sorted(nums), 1500, "the relays' file")
    check(sorted(read_bytes(relayed).splitlines()) == sorted(read_bytes(direct).splitlines()),
          "the relays' lines differ from Falco's own")


def test_shell_loop_piped_into_the_relay():
    d = tempdir()
    relay_cfg, relayed = relay_config(d, json=False)
    loop = (
        'for i in $(seq 1 200); do '
        'printf \'{"hostname":"h","output":"10:00:00.000000000: Warning Shell read %s","output_fields":'
        '{"evt.num":%s,"evt.time":1700000000000000000},"priority":"Warning",'
        '"rule":"Read sensitive file untrusted","source":"syscall","tags":["filesystem"],'
        '"time":"2023-11-14T22:13:20.000000000Z"}\\n\' "$i" "$i"; done | '
        f'"{DEMO}" --replay - -c "{relay_cfg}"')
    p = subprocess.run(["bash", "-c", loop], capture_output=True, timeout=30, env=env())
    check(p.returncode == 0, p.stderr.decode())
    want = [f"22:13:20.000000000: Warning Shell read {i}" for i in range(1, 201)]
    check(read_bytes(relayed).decode().splitlines() == want, read_bytes(relayed)[:300])


def test_sigterm_lets_the_relay_finish_reading_its_writer():
    d = tempdir()
    relay_cfg, relayed = relay_config(d)
    rc, made, err = run(["--generate", "300", "-o", "json_output=true"])
    check(rc == 0, err)
    lines = made.splitlines(keepends=True)
    relay = start(["--replay", "-", "-c", relay_cfg], stdin=subprocess.PIPE)
    try:
        relay.stdin.write(b"".join(lines[:100]))
        relay.stdin.flush()
        wait_until(lambda: os.path.exists(relayed) and read_bytes(relayed).count(b"\n") == 100,
                   10, "the first 100 alerts")
        # Falco and its program share a process group: both get SIGTERM, and Falco still
        # writes what it had queued. The relay reads on until its writer closes (up to 2 s).
        relay.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        relay.stdin.write(b"".join(lines[100:]))
        relay.stdin.close()
        rc, err = wait(relay, timeout=10)
    finally:
        if relay.poll() is None:
            relay.kill()
    check(rc == 0 and "stopped by SIGTERM" in err, err)
    check_sequence(evt_nums(read_bytes(relayed)), 300, "the relay's file after SIGTERM")

    # A writer that never closes: the relay still stops, 2 s after SIGTERM; a second SIGTERM
    # (or SIGINT) stops it at once.
    for second_signal, lo, hi in [(None, 1.5, 5), (signal.SIGINT, 0, 1.5)]:
        r, w = os.pipe()  # the test holds the write end open throughout
        relay = start(["--replay", "-", "-c", relay_cfg], stdin=r)
        os.close(r)
        try:
            time.sleep(0.2)
            t0 = time.monotonic()
            relay.send_signal(signal.SIGTERM)
            if second_signal:
                time.sleep(0.1)
                relay.send_signal(second_signal)
            rc, err = wait(relay, timeout=10)
            took = time.monotonic() - t0
        finally:
            os.close(w)
            if relay.poll() is None:
                relay.kill()
        check(rc == 0 and lo < took < hi,
              f"second signal {second_signal}: exit status {rc} after {took:.1f}s: {err}")

if __name__ == "__main__":
    main([test_program_output_relay_delivers_what_falco_wrote,
          test_program_relay_survives_sigusr1_respawns,
          test_shell_loop_piped_into_the_relay,
          test_sigterm_lets_the_relay_finish_reading_its_writer])
