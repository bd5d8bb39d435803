"""Helpers shared by the demo host tests: run the real falco-outputs-demo binary, read what
its channels wrote, and keep every wait bounded."""

import atexit
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO = os.path.abspath(
    sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "build/demo/falco-outputs-demo"))
SAMPLE = os.path.join(REPO, "demo/sample-alerts.jsonl")

# The seed document's stdout example, and its JSON example's output (recorded at UTC-7).
DOC_STDOUT_LINE = ("10:20:05.408091526: Warning Sensitive file opened for reading by "
                   "non-trusted program (user=root command=cat /etc/shadow file=/etc/shadow)")
DOC_JSON_OUTPUT = ("16:31:56.746609046: Error File below a known binary directory opened for "
                   "writing (user=root command=touch /bin/hack file=/bin/hack)")


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def skip(why):
    print(f"SKIP: {why}", flush=True)
    sys.exit(77)


def env(**extra):
    e = dict(os.environ)
    e.setdefault("TZ", "UTC")
    e.pop("FALCO_HOSTNAME", None)
    e.update({k: str(v) for k, v in extra.items()})
    return e


def run(args, stdin=None, timeout=60, **envs):
    """Runs the demo to completion; returns (exit status, stdout bytes, stderr text)."""
    p = subprocess.run([DEMO] + args, input=stdin, capture_output=True, timeout=timeout,
                       env=env(**envs))
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def start(args, stdin=None, stdout=subprocess.DEVNULL, **envs):
    return subprocess.Popen([DEMO] + args, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE,
                            env=env(**envs))


def wait(proc, timeout):
    """Waits for a started demo; kills it and fails if it does not exit in time."""
    if proc.stdin is not None and proc.stdin.closed:
        proc.stdin = None  # communicate() would flush it
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise Failure(f"the demo did not exit within {timeout}s (deadlock?)")
    return proc.returncode, err.decode("utf-8", "replace")


def wait_until(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise Failure(f"timed out after {timeout}s waiting for {what}")


_dirs = []


@atexit.register
def _remove_dirs():
    if os.environ.get("FO_KEEP_TEST_DIRS") != "1":
        for d in _dirs:
            shutil.rmtree(d, ignore_errors=True)


def tempdir():
    """A private directory, removed at exit (kept with FO_KEEP_TEST_DIRS=1)."""
    d = tempfile.mkdtemp(prefix="fo-demo-test-")
    _dirs.append(d)
    return d


def write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def json_lines(data):
    return [json.loads(line) for line in data.decode("utf-8").splitlines() if line]


def evt_nums(data):
    return [obj["output_fields"]["evt.num"] for obj in json_lines(data)]


def check_sequence(nums, n, what):
    """Every alert 1..n exactly once, in order."""
    if nums == list(range(1, n + 1)):
        return
    seen = set()
    dups = sorted({x for x in nums if x in seen or seen.add(x)})
    missing = sorted(set(range(1, n + 1)) - set(nums))
    raise Failure(f"{what}: {len(nums)} alerts for 1..{n}; missing {missing[:10]} "
                  f"({len(missing)}), duplicated {dups[:10]} ({len(dups)}), "
                  f"in order: {nums == sorted(nums)}")


def stats_of(stderr):
    m = re.search(r"^falco-outputs-demo: stats (\{.*\})$", stderr, re.M)
    check(m, f"no stats line on stderr:\n{stderr}")
    return json.loads(m.group(1))


def generated_count(stderr):
    m = re.search(r"generated (\d+) alerts", stderr)
    check(m, f"no 'generated N alerts' on stderr:\n{stderr}")
    return int(m.group(1))


def signal_masks(pid, tid=None):
    """(caught, blocked) signal sets of a process's main thread, from /proc."""
    path = f"/proc/{pid}/task/{tid or pid}/status"
    with open(path) as f:
        status = f.read()
    def bits(key):
        v = int(re.search(rf"^{key}:\s*([0-9a-f]+)$", status, re.M).group(1), 16)
        return {s for s in range(1, 65) if v & (1 << (s - 1))}
    return bits("SigCgt"), bits("SigBlk")


def main(tests):
    """Runs each test function; prints ok/FAIL lines; exits 1 if any failed."""
    check(os.access(DEMO, os.X_OK), f"{DEMO} is not an executable (build it first)")
    failed = 0
    for t in tests:
        t0 = time.monotonic()
        try:
            t()
            print(f"ok    {t.__name__} ({time.monotonic() - t0:.1f}s)", flush=True)
        except Exception as e:  # a Failure, or anything unexpected: report and go on
            failed += 1
            print(f"FAIL  {t.__name__}: {type(e).__name__}: {e}", flush=True)
    sys.exit(1 if failed else 0)

