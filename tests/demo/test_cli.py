#!/usr/bin/env python3
"""The demo host as a user runs it: the bundled sample, replay input checking (malformed lines,
exit status), typed fields and time sources, configuration errors, --daemon.
Usage: test_cli.py [path/to/falco-outputs-demo]"""

import json
import os
import signal
import subprocess

from demo_util import (DEMO, DOC_JSON_OUTPUT, DOC_STDOUT_LINE, SAMPLE, check, check_sequence,
                       env, evt_nums, generated_count, main, read_bytes, run, stats_of, tempdir,
                       wait_until, write)


def sample_lines():
    with open(SAMPLE) as f:
        return [line for line in f if line.strip()]


def test_no_arguments_replays_the_sample_to_stdout():
    rc, out, err = run([])
    check(rc == 0, f"exit status {rc}: {err}")
    lines = out.decode().splitlines()
    n = len(sample_lines())
    check(len(lines) == n, f"{len(lines)} lines on stdout for {n} sample alerts:\n{out.decode()}")
    # The seed document's stdout example, byte for byte (TZ=UTC).
    check(lines[0] == DOC_STDOUT_LINE, f"first line {lines[0]!r}")
    check(f"replayed {n} lines from sample: {n} alerts emitted, 0 malformed" in err, err)
    stats = stats_of(err)
    check(stats["delivered"] == n and stats["dropped"] == 0, stats)
    # The document's JSON example was recorded at UTC-7: its output line comes back as written.
    rc, out, _ = run([], TZ="America/Los_Angeles")
    check(rc == 0 and out.decode().splitlines()[1] == DOC_JSON_OUTPUT,
          f"second line {out.decode().splitlines()[1]!r}")


def test_malformed_lines_are_reported_by_number_and_counted():
    good = ('{"output":"00:00:01.000000000: Notice ok %d","priority":"Notice","rule":"r",'
            '"time":"1970-01-01T00:00:01Z","output_fields":{"evt.num":%d}}')
    lines = [
        good % (1, 1),
        "not json at all",
        '{"rule":"r","time":"1970-01-01T00:00:01Z","output":"x"}',
        good % (2, 2),
        '{"rule":"r","priority":"Loud","time":"1970-01-01T00:00:01Z","output":"x"}',
        '{"rule":7,"priority":"Error","time":"1970-01-01T00:00:01Z","output":"x"}',
        '{"rule":"r","priority":"Error","time":"yesterday","output":"x"}',
        "",  # empty lines are not alerts and not errors
        '{"rule":"r","priority":"Error","time":"1970-01-01T00:00:01Z"}',
        '{"rule":"r","priority":"Error","time":"1970-01-01T00:00:01Z","output":"x"} trailing',
        good % (3, 3),  # the last line has no newline
    ]
    rc, out, err = run(["--replay", "-", "-o", "json_output=true"],
                       stdin="\n".join(lines).encode())
    check(rc == 7, f"exit status {rc}, want 7 (malformed lines):\n{err}")
    check(evt_nums(out) == [1, 2, 3], out.decode())
    for lineno, why in [(2, "invalid JSON: syntax error while parsing value - invalid literal; "
                            "last read: 'no' (at byte 2)"), (3, 'missing "priority"'),
                        (5, '"priority": unknown priority "Loud"'), (6, '"rule" is a number, not a string'),
                        (7, '"time": "yesterday" is not an RFC 3339 time'),
                        (9, 'neither "message" nor "output"'),
                        (10, "invalid JSON: syntax error while parsing value - invalid literal; "
                             "last read: '\"x\"} tra'; expected end of input")]:
        check(f"stdin:{lineno}: {why}" in err, f"no 'stdin:{lineno}: {why}' in:\n{err}")
    check("10 lines from stdin: 3 alerts emitted, 7 malformed" in err, err)


def test_exit_status_is_capped_at_125():
    rc, out, err = run(["--replay", "-"], stdin=b"x\n" * 130)
    check(rc == 125, f"exit status {rc}")
    check("130 malformed lines skipped" in err, err)


def test_fields_keep_their_json_types_and_number_literals():
    line = {
        "rule": "Typed", "priority": "informational", "source": "plugin",
        "time": "2024-02-29T23:59:59.000000001Z",
        "output": "23:59:59.000000001: Informational typed fields",
        "tags": ["b", "a", "b"],
    }
    fields = ('{"evt.time":1,"n.float":1.50e+10,"n.negzero":-0,"n.big":12345678901234567890,'
              '"n.small":0.0001,"s":"caf\\u00e9 \\ud83d\\ude00 \\"q\\" \\\\ \\t","b":false,'
              '"z":null,"o":{"z":1,"a":[true,null]},"a":["x"]}')
    text = json.dumps(line)[:-1] + ', "output_fields": ' + fields + "}"
    rc, out, err = run(["--replay", "-", "-o", "json_output=true", "--hostname", "h"],
                       stdin=text.encode())
    check(rc == 0, err)
    want = ('{"hostname":"h","output":"23:59:59.000000001: Informational typed fields",'
            '"output_fields":{"a":["x"],"b":false,"evt.time":1709251199000000001,'
            '"n.big":12345678901234567890,"n.float":1.50e+10,"n.negzero":-0,"n.small":0.0001,'
            '"o":{"a":[true,null],"z":1},"s":"café 😀 \\"q\\" \\\\ \\t","z":null},'
            '"priority":"Informational","rule":"Typed","source":"plugin","tags":["a","b"],'
            '"time":"2024-02-29T23:59:59.000000001Z"}\n')
    check(out.decode() == want, f"got:\n{out.decode()}want:\n{want}")


def test_time_and_message_sources():
    lines = [
        # no "time": output_fields' evt.time (ns), iso prefix in output
        '{"rule":"r","priority":"Error","output":"2024-01-01T01:00:00.000000005+0100: Error m1",'
        '"output_fields":{"evt.time":1704067200000000005}}',
        # evt.time.iso8601 as an RFC 3339 string with an offset
        '{"rule":"r","priority":"Error","output":"00:00:00.000000000: Error m2",'
        '"output_fields":{"evt.time.iso8601":"2024-01-01T02:00:00.5+02:00"}}',
        # "message" wins over "output"
        '{"rule":"r","priority":"Error","time":"2024-01-01T00:00:00Z","message":"m3",'
        '"output":"00:00:00.000000000: Error something else"}',
        # an output without the "<time>: <Priority> " prefix is delivered whole, with a warning
        '{"rule":"r","priority":"Error","time":"2024-01-01T00:00:00Z","output":"m4: as is"}',
    ]
    rc, out, err = run(["--replay", "-", "-o", "time_format_iso_8601=true"],
                       stdin="\n".join(lines).encode())
    check(rc == 0, err)
    want = ["2024-01-01T00:00:00.000000005+0000: Error m1",
            "2024-01-01T00:00:00.500000000+0000: Error m2",
            "2024-01-01T00:00:00.000000000+0000: Error m3",
            "2024-01-01T00:00:00.000000000+0000: Error m4: as is"]
    check(out.decode().splitlines() == want, out.decode())
    check('stdin:4: "output" has no "<time>: <Priority> " prefix' in err, err)


def test_bad_command_lines_and_configurations_exit_126():
    for args, says in [
        (["-o", "file_output.enabled=true"], "file_output.filename"),
        (["-c", "/nonexistent/falco.yaml"], "/nonexistent/falco.yaml"),
        (["--replay", "/nonexistent/alerts.jsonl"], "/nonexistent/alerts.jsonl: No such file"),
        (["--bogus"], "unknown option --bogus"),
        (["--generate", "ten"], "--generate: not a count: ten"),
        (["--rate", "5"], "--rate goes with --generate"),
        (["--replay", "-", "--generate", "1"], "exclude each other"),
        (["-o", "json_output"], "-o json_output: expected KEY=VALUE"),
    ]:
        rc, out, err = run(args, stdin=b"")
        check(rc == 126 and says in err and out == b"",
              f"{args}: exit status {rc}, stdout {out!r}, stderr:\n{err}")
    rc, out, _ = run(["--help"])
    check(rc == 0 and b"--replay FILE|-" in out, out)


def test_daemon_discards_stdout_and_stops_on_sigterm():
    d = tempdir()
    events = os.path.join(d, "events.jsonl")
    pidfile = os.path.join(d, "demo.pid")
    config = write(os.path.join(d, "falco.yaml"),
                   "json_output: true\nstdout_output: {enabled: true}\n"
                   f"file_output: {{enabled: true, keep_alive: true, filename: {events}}}\n")
    # The daemon keeps stderr (its statistics at exit): a file here, not a pipe to wait on.
    with open(os.path.join(d, "stderr"), "wb") as errf:
        p = subprocess.run([DEMO, "-d", "--pidfile", pidfile, "-c", config, "--generate", "0",
                            "--rate", "200"], stdout=subprocess.PIPE, stderr=errf, timeout=10,
                           env=env())
    # The parent returns at once; the daemon runs on, in its own session.
    check(p.returncode == 0 and p.stdout == b"",
          f"parent: exit status {p.returncode}, stdout {p.stdout!r}")
    wait_until(lambda: os.path.exists(pidfile) and os.path.getsize(pidfile) > 0, 5, "the pid file")
    pid = int(open(pidfile).read())
    try:
        check(os.getsid(pid) == pid, "the daemon is not a session leader")
        check(os.readlink(f"/proc/{pid}/fd/1") == "/dev/null", "the daemon's stdout")
        wait_until(lambda: os.path.exists(events) and os.path.getsize(events) > 4000, 10,
                   "alerts in the file")
    finally:
        os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not os.path.exists(f"/proc/{pid}"), 10, "the daemon to exit")
    err = read_bytes(os.path.join(d, "stderr")).decode()
    n = generated_count(err)
    check("stopped by SIGTERM" in err, err)
    check_sequence(evt_nums(read_bytes(events)), n, "the daemon's file")
    check(stats_of(err)["channels"]["stdout"]["delivered"] == n, err)


if __name__ == "__main__":
    main([test_no_arguments_replays_the_sample_to_stdout,
          test_malformed_lines_are_reported_by_number_and_counted,
          test_exit_status_is_capped_at_125,
          test_fields_keep_their_json_types_and_number_literals,
          test_time_and_message_sources,
          test_bad_command_lines_and_configurations_exit_126,
          test_daemon_discards_stdout_and_stops_on_sigterm])
