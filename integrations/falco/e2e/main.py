#!/usr/bin/env python3
"""Falco against Falco: stock Falco 0.44.1 and Falco on falco-outputs, built by ../build.

    main.py --stock PATH --patched PATH --plugin PATH --captures DIR [--only replay,live,...]

Each stage prints one 'ok' line per check with its figures, or fails with what differed."""

import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

STAGES = ["replay", "live", "messages", "extensions"]


class Context:
    pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stock", required=True)
    ap.add_argument("--patched", required=True)
    ap.add_argument("--plugin", required=True)
    ap.add_argument("--captures", required=True)
    ap.add_argument("--only", default=",".join(STAGES))
    ap.add_argument("--live-events", type=int, default=1_000_000)
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()

    for tool in ("logrotate", "unshare", "mount"):
        if harness.which(tool) is None:
            print("falco e2e: '%s' is missing: run scripts/deps" % tool, file=sys.stderr)
            return 1

    ctx = Context()
    ctx.stock, ctx.patched, ctx.plugin = args.stock, args.patched, args.plugin
    ctx.captures_dir = args.captures
    ctx.live_events = args.live_events
    ctx.rules = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rules.yaml")
    ctx.workdir = tempfile.mkdtemp(prefix="falco-e2e-")
    ctx.log = lambda line: print(line, flush=True)
    ctx.http = harness.HttpRecorder()
    ctx.syslog = harness.SyslogRecorder(ctx.workdir)
    failed = []
    try:
        for stage in args.only.split(","):
            check_stage = __import__(stage)
            start = time.monotonic()
            try:
                check_stage.run(ctx)
                ctx.log("---- %s: ok (%.0f s)" % (stage, time.monotonic() - start))
            except harness.Failure as e:
                ctx.log("FAIL %s: %s" % (stage, e))
                failed.append(stage)
    finally:
        ctx.http.close()
        ctx.syslog.close()
        if not args.keep and not failed:
            shutil.rmtree(ctx.workdir, ignore_errors=True)
        elif failed:
            ctx.log("work directory kept: %s" % ctx.workdir)
    if failed:
        ctx.log("falco e2e: FAILED: %s" % ", ".join(failed))
        return 1
    ctx.log("falco e2e: every stage passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
