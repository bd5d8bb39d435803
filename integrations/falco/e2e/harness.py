"""What the Falco tests share: running a Falco binary with a configuration, and recording what
each channel received (stdout, a file, a program's output, HTTP bodies, syslog datagrams).

Everything listens on loopback or on a unix socket; every wait is bounded.
"""

import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time

DEV_LOG = "/dev/log"


class Failure(Exception):
    """A check failed: the message says what a user would have seen."""


def check(cond, what):
    if not cond:
        raise Failure(what)


class HttpRecorder:
    """A loopback HTTP server that records each request's Content-Type and body, in order.

    `status` is what it answers (set 503 to simulate an outage)."""

    def __init__(self):
        self.requests = []
        self.status = 200
        self.lock = threading.Lock()
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                with recorder.lock:
                    status = recorder.status
                    if status < 300:
                        recorder.requests.append(
                            (self.headers.get("Content-Type"), self.path, body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_PUT = do_POST

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d/alerts" % self.server.server_address[1]

    def take(self):
        with self.lock:
            got, self.requests = self.requests, []
        return got

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class SyslogRecorder:
    """Datagrams sent to /dev/log by the Falco under test, in order.

    Stock Falco calls syslog(3), which always writes to /dev/log. Each Falco runs in a private
    mount namespace where the recorder's socket is bound over /dev/log (see `wrap`), so that
    nothing else on the machine writes into the recorder and nothing the test sends reaches a
    real syslog daemon. When the machine has no /dev/log, an empty file stands in for it as the
    mount point while the tests run (syslog(3) elsewhere fails on it as on a missing one)."""

    def __init__(self, workdir):
        self.placeholder = not os.path.lexists(DEV_LOG)
        if self.placeholder:
            open(DEV_LOG, "w").close()
        self.path = os.path.join(workdir, "log.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.datagrams = []
        self.marks = 0
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        self.sock.settimeout(0.2)
        while self.running:
            try:
                data = self.sock.recv(1 << 20)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.datagrams.append(data)

    def wrap(self, argv):
        script = 'mount --bind "$0" %s && exec "$@"' % DEV_LOG
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script,
                self.path] + argv

    def take(self, timeout=30):
        """Everything received so far: a marker sent now arrives after every datagram already
        queued (a unix datagram socket keeps order), so waiting for it leaves none behind."""
        self.marks += 1
        mark = b"--mark %d--" % self.marks
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.sendto(mark, self.path)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if mark in self.datagrams:
                    i = self.datagrams.index(mark)
                    got, self.datagrams = self.datagrams[:i], self.datagrams[i + 1:]
                    return got
            time.sleep(0.01)
        raise Failure("the syslog recorder did not see its own marker within %d s" % timeout)

    def close(self):
        self.running = False
        self.thread.join(2)
        self.sock.close()
        if self.placeholder and os.path.isfile(DEV_LOG) and os.path.getsize(DEV_LOG) == 0:
            os.unlink(DEV_LOG)


SYSLOG_RE = re.compile(rb"^<(\d+)>([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) (.*)$", re.S)


def split_syslog(datagram):
    """(priority, RFC 3164 timestamp, the rest: tag, pid and message)."""
    m = SYSLOG_RE.match(datagram)
    check(m is not None, "a syslog datagram is not RFC 3164: %r" % datagram[:200])
    return int(m.group(1)), m.group(2).decode(), m.group(3)


class Channels:
    """One Falco run's channels: a file, a program (cat >>), HTTP and syslog, plus stdout."""

    def __init__(self, workdir, http, syslog):
        self.dir = tempfile.mkdtemp(dir=workdir)
        self.file = os.path.join(self.dir, "file.txt")
        self.program_out = os.path.join(self.dir, "program.txt")
        self.http = http
        self.syslog = syslog

    def yaml(self, program_keep_alive=False, http=True, syslog=True):
        return {
            "stdout_output": {"enabled": True},
            "file_output": {"enabled": True, "keep_alive": False, "filename": self.file},
            "program_output": {"enabled": True, "keep_alive": program_keep_alive,
                               "program": "cat >> %s" % self.program_out},
            "http_output": {"enabled": http, "url": self.http.url},
            "syslog_output": {"enabled": syslog},
        }

    def collect(self, stdout):
        def read(path):
            try:
                with open(path, "rb") as f:
                    return f.read()
            except FileNotFoundError:
                return b""
        return {
            "stdout": stdout,
            "file": read(self.file),
            "program": read(self.program_out),
            "http": self.http.take(),
            "syslog": self.syslog.take(),
        }


def write_config(path, config):
    # JSON is YAML: no PyYAML needed, and every value is quoted as it should be.
    with open(path, "w") as f:
        json.dump(config, f, indent=1)


def run_falco(binary, config_path, rules, args=(), env=None, timeout=300, syslog=None,
              stdin=subprocess.DEVNULL):
    """Runs Falco to its end; returns (stdout bytes, stderr text). Fails on a non-zero exit."""
    argv = [binary, "-c", config_path]
    for r in rules:
        argv += ["-r", r]
    argv += list(args)
    if syslog is not None:
        argv = syslog.wrap(argv)
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e,
                       timeout=timeout, stdin=stdin)
    err = p.stderr.decode(errors="replace")
    check(p.returncode == 0, "%s exited with %d:\n%s" % (binary, p.returncode, err[-3000:]))
    return p.stdout, err


def base_config(rules_dir):
    """Settings every run shares: Falco's own logs to stderr only (never to /dev/log, which
    the syslog channel's recorder owns), no plugins, no web server, every syscall."""
    return {
        "log_stderr": True,
        "log_syslog": False,
        "log_level": "info",
        "load_plugins": [],
        "webserver": {"enabled": False},
        "watch_config_files": False,
        "rules_files": [],
        "json_output": False,
        "buffered_outputs": False,
        # read/write/sendto/recvfrom are "high volume" syscalls, off unless asked for
        "base_syscalls": {"all": True},
        # Stock Falco discards what its worker has not written within output_timeout of
        # shutdown (a program channel spawning `cat` per alert is slow on a loaded machine):
        # give both all the time they need, so that the comparison is of formats.
        "output_timeout": 120000,
    }


def which(tool):
    return shutil.which(tool)
