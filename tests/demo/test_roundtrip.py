#!/usr/bin/env python3
"""Round trip: replaying JSON lines that this library (or Falco) wrote, with the same hostname
and the same json_* flags, writes the same bytes again.
Usage: test_roundtrip.py [path/to/falco-outputs-demo]"""

import json
import os

from demo_util import (SAMPLE, check, main, read_bytes, run, tempdir, write)

FLAG_SETS = [
    {},
    {"time_format_iso_8601": "true"},
    {"json_include_message_property": "true"},
    {"json_include_output_property": "false", "json_include_message_property": "true"},
    {"json_include_tags_property": "false"},
    {"json_include_output_fields_property": "false"},
]


def first_difference(a, b):
    la, lb = a.splitlines(), b.splitlines()
    for i, (x, y) in enumerate(zip(la, lb)):
        if x != y:
            return f"line {i + 1}:\n  in : {x[:400]!r}\n  out: {y[:400]!r}"
    return f"{len(la)} lines in, {len(lb)} out"


def file_config(d, name, flags):
    path = os.path.join(d, name)
    text = "json_output: true\nstdout_output: {enabled: false}\n"
    text += f"file_output: {{enabled: true, keep_alive: true, filename: {path}.jsonl}}\n"
    text += "".join(f"{k}: {v}\n" for k, v in flags.items())
    return write(path + ".yaml", text), path + ".jsonl"


def test_sample_alerts_written_by_falco_come_back_byte_for_byte():
    sample = read_bytes(SAMPLE)
    rc, out, err = run(["--replay", SAMPLE, "-o", "json_output=true", "--hostname", "ubuntu"])
    check(rc == 0, err)
    ins, outs = sample.splitlines(), out.splitlines()
    check(len(ins) == len(outs), first_difference(sample, out))
    for i, (a, b) in enumerate(zip(ins, outs)):
        # Line 2 is the document's own example, from an older Falco: no hostname, source or
        # tags, a space after a comma. The others are in today's format.
        if i != 1:
            check(a == b, first_difference(a, b))
    # What the library wrote is a fixed point, the document's line included.
    rc, again, err = run(["--replay", "-", "-o", "json_output=true", "--hostname", "ubuntu"],
                         stdin=out)
    check(rc == 0 and again == out, first_difference(out, again))


def test_generated_files_round_trip_for_every_json_flag():
    d = tempdir()
    for k, flags in enumerate(FLAG_SETS):
        made_cfg, made = file_config(d, f"made{k}", flags)
        rc, _, err = run(["-c", made_cfg, "--generate", "2000", "--hostname", "falco-node-1"])
        check(rc == 0, err)
        replay_cfg, replayed = file_config(d, f"replayed{k}", flags)
        rc, _, err = run(["-c", replay_cfg, "--replay", made, "--hostname", "falco-node-1"])
        check(rc == 0 and "2000 alerts emitted" in err, err)
        a, b = read_bytes(made), read_bytes(replayed)
        n = a.count(b"\n")
        check(n == 2000, f"{flags}: {n} lines written")
        check(a == b, f"{flags}: {first_difference(a, b)}")


def test_hostname_from_falco_hostname_round_trips():
    rc, out, err = run(["--generate", "50", "-o", "json_output=true"], FALCO_HOSTNAME="edge-7")
    check(rc == 0 and out.count(b'"hostname":"edge-7"') == 50, err)
    rc, again, err = run(["--replay", "-", "-o", "json_output=true"], stdin=out,
                         FALCO_HOSTNAME="edge-7")
    check(rc == 0 and again == out, first_difference(out, again))


def test_escapes_unicode_and_invalid_utf8_round_trip():
    # Written by hand (not in the library's form); the library's rendering of it must then be
    # a fixed point.
    lines = [
        b'{"rule":"Esc \\"q\\" \\\\ \\/","priority":"Critical","source":"syscall",'
        b'"time":"2024-05-01T12:00:00.123Z","tags":["z","\\u00e9t\\u00e9"],'
        b'"output":"12:00:00.123000000: Critical line\\nbreak \\u001b[31mred\\t\\ud83d\\ude00",'
        b'"output_fields":{"proc.cmdline":"sh -c \\"echo \\\\\\"hi\\\\\\"\\"","fd.name":"/tmp/\xff\xfe",'
        b'"proc.args":"\xe2\x82","evt.arg.data":"\\u0000NUL","n":-12.5e-3}}',
        b'{"rule":"\xc3\xa9\xe2\x9c\x93","priority":"debug","time":"2024-05-01T12:00:00Z",'
        b'"message":"caf\xc3\xa9 \xf0\x9f\x94\xa5","output":"ignored"}',
    ]
    args = ["--replay", "-", "-o", "json_output=true", "-o", "json_include_message_property=true",
            "--hostname", "h\u00f4te"]
    rc, first, err = run(args, stdin=b"\n".join(lines))
    check(rc == 0 and first.count(b"\n") == 2, err)
    check("\ufffd".encode() in first, f"invalid UTF-8 was not repaired: {first!r}")
    check(b'\\nbreak \\u001b[31mred\\t\xf0\x9f\x98\x80' in first, first)
    rc, second, err = run(args, stdin=first)
    check(rc == 0 and second == first, first_difference(first, second))


def test_invalid_utf8_is_repaired_as_the_library_repairs_it():
    # nlohmann refuses invalid UTF-8, so the demo repairs a line before parsing it; the result
    # must be the library's own repair (one U+FFFD per maximal invalid subpart, as Python's
    # "replace" decoding does too), in every string: rule, message, field name and value, tag.
    bad = [b"\xe0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\xf0\x9f\x98",
           b"\xff", b"\xe2\x82", b"a\x80b", b"\xc3", b"\xe1\x80A", b"\xf1\x80\x80\xf1\x80\x80\x80"]
    lines = [b'{"rule":"r' + b + b'","priority":"Error","time":"2024-01-01T00:00:00Z",'
             b'"output":"00:00:00.000000000: Error m' + b + b'","output_fields":{"f' + b +
             b'":"v' + b + b'"},"tags":["t' + b + b'"]}' for b in bad]
    rc, out, err = run(["--replay", "-", "-o", "json_output=true", "--hostname", "h"],
                       stdin=b"\n".join(lines))
    check(rc == 0, err)
    got = [json.loads(line) for line in out.splitlines()]
    check(len(got) == len(bad), out)
    for b, alert in zip(bad, got):
        fixed = b.decode("utf-8", "replace")
        want = ("r" + fixed, "00:00:00.000000000: Error m" + fixed,
                {"evt.time": 1704067200000000000, "f" + fixed: "v" + fixed}, ["t" + fixed])
        have = (alert["rule"], alert["output"], alert["output_fields"], alert["tags"])
        check(have == want, f"{b!r}: {have!r}, want {want!r}")


if __name__ == "__main__":
    main([test_sample_alerts_written_by_falco_come_back_byte_for_byte,
          test_generated_files_round_trip_for_every_json_flag,
          test_hostname_from_falco_hostname_round_trips,
          test_escapes_unicode_and_invalid_utf8_round_trip,
          test_invalid_utf8_is_repaired_as_the_library_repairs_it])
