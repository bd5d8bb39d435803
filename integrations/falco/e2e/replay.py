"""Test 1, replay: libs' captures through stock Falco and Falco on falco-outputs, under a matrix
of output settings and time zones, every channel at once. The alerts must be byte-identical on
every channel, except for two documented differences (docs/differences.md), each checked to be
exactly that and nothing else:

- syslog's timestamp is the event's time, not the time of sending (docs/syslog.md);
- the text time prefix (HH:MM:SS) uses the zone's UTC offset at the event's time; libsinsp (stock
  Falco) uses today's. The captures are from August 2018: in America/Los_Angeles, stock Falco
  prints them an hour off (PST, today's offset, instead of PDT);
- a text line is escaped as the body of a JSON string, as Falco master does since falco#3942
  (docs/formats.md, "Which Falco"): Falco 0.44.1 prints `"` and `\` as they are, the library
  `\"` and `\\`. (Control characters cannot reach it here: libs 0.25.4 replaces them.) The
  append_output literal of APPEND[2] carries both.
"""

import datetime
import json
import os
import re
import zoneinfo

from harness import Channels, Failure, base_config, check, run_falco, split_syslog, write_config

CAPTURES = ["curl_google.scap", "single_ipv6_conn.scap", "test_ipv6_client.scap"]
ZONES = ["UTC", "Asia/Kolkata", "America/Los_Angeles"]

APPEND = [
    {"match": {"source": "syscall"}, "extra_output": "on CPU %evt.cpu",
     "extra_fields": [{"environment": "production"}, {"process_name": "%proc.name"},
                      "evt.num"]},
    {"match": {"tags": ["network"]}, "extra_fields": ["fd.sport", {"peer": "%fd.sip"}]},
    {"match": {"rule": "Outbound connection"}, "extra_output": "(static \"quoted\" text, back\\slash)"},
]

# name -> (falco.yaml settings, -o overrides, zones)
VARIANTS = {
    "text": ({}, [], ZONES),
    "text-iso8601": ({"time_format_iso_8601": True}, [], ZONES),
    "json": ({"json_output": True}, [], ZONES),
    "json-iso8601-message-no-output-no-tags": (
        {"json_output": True, "time_format_iso_8601": True,
         "json_include_output_property": False, "json_include_tags_property": False,
         "json_include_message_property": True}, [], ["UTC", "Asia/Kolkata"]),
    "json-no-output-fields": (
        {"json_output": True, "json_include_output_fields_property": False}, [], ["UTC"]),
    "json-append-output-via-o": (
        {"append_output": APPEND},
        ["-o", "json_output=true", "-o", "json_include_message_property=true",
         "-o", "priority=warning", "-o", "program_output.keep_alive=true"], ["UTC"]),
    "text-append-output-priority": (
        {"append_output": APPEND, "priority": "critical"}, [], ["America/Los_Angeles"]),
}


# Where Falco's text time prefix sits: at the start of a text line, in JSON's "output", and
# after the tag of a syslog message.
PREFIX_TIMES = [re.compile(rb"(?m)^()(\d\d):(\d\d):(\d\d)(?=\.\d{9}: )"),
                re.compile(rb'("output":")(\d\d):(\d\d):(\d\d)(?=\.\d{9}: )'),
                re.compile(rb"^(falco: )(\d\d):(\d\d):(\d\d)(?=\.\d{9}: )")]


def offset_shift(tz, event_utc):
    """Seconds between the zone's UTC offset at the event's time and today's (what the library
    prints minus what stock Falco prints), or 0."""
    zone = zoneinfo.ZoneInfo(tz)
    at_event = event_utc.astimezone(zone).utcoffset()
    now = datetime.datetime.now(datetime.timezone.utc).astimezone(zone).utcoffset()
    return int((at_event - now).total_seconds())


def shift_prefix_times(data, seconds):
    """stock's bytes with each text time prefix moved by `seconds` (the documented difference)."""
    def move(m):
        t = (int(m.group(2)) * 3600 + int(m.group(3)) * 60 + int(m.group(4)) + seconds) % 86400
        return m.group(1) + b"%02d:%02d:%02d" % (t // 3600, t // 60 % 60, t % 60)
    for pattern in PREFIX_TIMES:
        data = pattern.sub(move, data)
    return data


ALERT_LINE = re.compile(rb"(?m)^((?:falco: )?(?:\d{4}-\d\d-\d\dT)?\d\d:\d\d:\d\d\.\d{9}[^\n]*: .*)$")


def escape_text_lines(data):
    """stock's text alert lines escaped as the library (and Falco master) writes them."""
    return ALERT_LINE.sub(
        lambda m: m.group(1).replace(b"\\", b"\\\\").replace(b'"', b'\\"'), data)


def documented(stock, seconds, text):
    """What the library must write, given what stock Falco wrote: text time prefixes moved by
    `seconds`, and text lines escaped."""
    def fix(data):
        data = shift_prefix_times(data, seconds)
        return escape_text_lines(data) if text else data
    want = {k: fix(stock[k]) for k in ("stdout", "file", "program")}
    want["http"] = [(c, p, fix(b)) for c, p, b in stock["http"]]
    want["syslog"] = []
    for d in stock["syslog"]:
        pri, ts, rest = split_syslog(d)
        want["syslog"].append(b"<%d>%s %s" % (pri, ts.encode(), fix(rest)))
    return want


def capture_time(ctx, capture):
    """The UTC time of a capture's first alert (a JSON run of the patched Falco)."""
    ch = Channels(ctx.workdir, ctx.http, ctx.syslog)
    cfg = base_config(ctx.workdir)
    cfg.update(ch.yaml(http=False, syslog=False))
    cfg["engine"] = {"kind": "replay", "replay": {
        "capture_file": os.path.join(ctx.captures_dir, capture)}}
    cfg["json_output"] = True
    path = os.path.join(ch.dir, "falco.yaml")
    write_config(path, cfg)
    run_falco(ctx.patched, path, [ctx.rules])
    ch.collect(b"")
    with open(ch.file) as f:
        t = json.loads(f.readline())["time"]
    return datetime.datetime.strptime(t[:19], "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.timezone.utc)


def alert_local_time(line, tz, json_mode):
    """The alert's event time in `tz` as an RFC 3164 timestamp ('Aug 17 10:35:48'), or only
    'HH:MM:SS' when the line says no more (text without ISO time)."""
    zone = zoneinfo.ZoneInfo(tz)
    if json_mode:
        t = json.loads(line)["time"]  # 2018-08-17T17:35:48.514632619Z
        dt = datetime.datetime.strptime(t[:19], "%Y-%m-%dT%H:%M:%S").replace(
            tzinfo=datetime.timezone.utc)
        return dt.astimezone(zone).strftime("%b %e %H:%M:%S")
    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.\d{9}([+-]\d{4}): ", line)
    if m:  # ISO time in the text line
        dt = datetime.datetime.strptime(m.group(1) + m.group(2), "%Y-%m-%dT%H:%M:%S%z")
        return dt.astimezone(zone).strftime("%b %e %H:%M:%S")
    m = re.match(r"^(\d\d:\d\d:\d\d)\.\d{9}: ", line)
    check(m is not None, "a text alert does not start with its time: %r" % line[:80])
    return m.group(1)


def compare_syslog(stock, patched, file_lines, tz, json_mode, where):
    check(len(stock) == len(patched),
          "%s: syslog got %d datagrams from stock Falco, %d from Falco on the library; "
          "first and last of each:\n  %r\n  %r\n  %r\n  %r"
          % (where, len(stock), len(patched), stock[:1], stock[-1:], patched[:1], patched[-1:]))
    check(len(patched) == len(file_lines),
          "%s: %d syslog datagrams for %d alerts" % (where, len(patched), len(file_lines)))
    for i, (s, p) in enumerate(zip(stock, patched)):
        s_pri, _, s_rest = split_syslog(s)
        p_pri, p_ts, p_rest = split_syslog(p)
        check(s_pri == p_pri, "%s: syslog #%d priority <%d> vs <%d>" % (where, i, s_pri, p_pri))
        check(s_rest == p_rest, "%s: syslog #%d differs after the timestamp:\n  stock   %r\n"
              "  patched %r" % (where, i, s_rest[:300], p_rest[:300]))
        # The documented difference: the library's timestamp is the event's time.
        want = alert_local_time(file_lines[i], tz, json_mode)
        got = p_ts if len(want) > 8 else p_ts[-8:]
        check(got == want, "%s: syslog #%d timestamp %r is not the event's time %r"
              % (where, i, p_ts, want))


def compare(stock, patched, tz, json_mode, where):
    """Every channel identical; syslog apart from its timestamp. Returns the alert count."""
    for channel in ("stdout", "file", "program"):
        a, b = stock[channel], patched[channel]
        if a != b:
            al, bl = a.splitlines(), b.splitlines()
            first = next((i for i, (x, y) in enumerate(zip(al, bl)) if x != y),
                         min(len(al), len(bl)))
            raise Failure("%s: %s differs (stock %d bytes/%d lines, patched %d/%d); first at "
                          "line %d:\n  stock   %r\n  patched %r" % (
                              where, channel, len(a), len(al), len(b), len(bl), first,
                              al[first][:400] if first < len(al) else None,
                              bl[first][:400] if first < len(bl) else None))
    check(len(stock["http"]) == len(patched["http"]),
          "%s: HTTP got %d requests from stock, %d from patched"
          % (where, len(stock["http"]), len(patched["http"])))
    for i, (s, p) in enumerate(zip(stock["http"], patched["http"])):
        check(s == p, "%s: HTTP request #%d differs:\n  stock   %r\n  patched %r"
              % (where, i, s, p))
    lines = patched["file"].decode().splitlines()
    compare_syslog(stock["syslog"], patched["syslog"], lines, tz, json_mode, where)
    return len(lines)


def run(ctx):
    """ctx: stock, patched, captures_dir, rules, workdir, http, syslog, log."""
    totals = {}
    priorities = set()
    shifted, escaped = [], []
    when = {c: capture_time(ctx, c) for c in CAPTURES}
    for variant, (settings, overrides, zones) in VARIANTS.items():
        json_mode = settings.get("json_output") or "json_output=true" in overrides
        for capture in CAPTURES:
            for tz in zones:
                where = "replay %s %s TZ=%s" % (variant, capture, tz)
                got = {}
                for flavour in ("stock", "patched"):
                    ch = Channels(ctx.workdir, ctx.http, ctx.syslog)
                    cfg = base_config(ctx.workdir)
                    cfg.update(ch.yaml())
                    cfg["engine"] = {"kind": "replay", "replay": {
                        "capture_file": os.path.join(ctx.captures_dir, capture)}}
                    cfg.update(settings)
                    path = os.path.join(ch.dir, "falco.yaml")
                    write_config(path, cfg)
                    out, _ = run_falco(getattr(ctx, flavour), path, [ctx.rules], overrides,
                                       env={"TZ": tz}, syslog=ctx.syslog)
                    got[flavour] = ch.collect(out)
                iso = settings.get("time_format_iso_8601", False)  # ISO prefixes are UTC
                seconds = 0 if iso else offset_shift(tz, when[capture])
                want = documented(got["stock"], seconds, not json_mode)
                if seconds:
                    # Exactly the documented difference: without it the two would be equal.
                    check(documented(got["stock"], seconds, False) != got["stock"],
                          "%s: the time shift changed nothing" % where)
                    shifted.append((where, seconds))
                if want != documented(got["stock"], seconds, False):
                    escaped.append(where)
                n = compare(want, got["patched"], tz, json_mode, where)
                check(n > 0, "%s: no alert at all (the rules must fire)" % where)
                if json_mode and settings.get("json_include_output_property", True):
                    for line in got["patched"]["file"].decode().splitlines():
                        priorities.add(json.loads(line)["priority"])
                totals[where] = n
                ctx.log("ok   %s: %d alerts identical on stdout, file, program, HTTP, syslog%s"
                        % (where, n, ("" if not seconds else
                           " (text time at the event's UTC offset: %+d s vs stock)" % seconds) +
                           (" (text escaped as in Falco master)" if escaped[-1:] == [where]
                            else "")))
    check(len(priorities) == 8, "the captures fired only %s" % sorted(priorities))
    check(escaped, "no text run carried a quote or a backslash (APPEND[2] should)")
    return totals, sorted(priorities)
