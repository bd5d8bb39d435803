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
    """Datagrams sent to /dev/log, in order.

    Stock Falco calls syslog(3), which always writes to /dev/log. When this machine has no
    /dev/log the recorder binds it (and removes it at the end); when a syslog daemon owns it,
    each Falco runs in a private mount namespace where the recorder's socket is bound over it
    (see `wrap`)."""

    def __init__(self, workdir):
        self.own_dev_log = not os.path.exists(DEV_LOG)
        self.path = DEV_LOG if self.own_dev_log else os.path.join(workdir, "log.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.datagrams = []
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
        if self.own_dev_log:
            return argv
        script = 'mount --bind "$0" %s && exec "$@"' % DEV_LOG
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script,
                self.path] + argv

    def take(self, settle=0.3):
        time.sleep(settle)
        with self.lock:
            got, self.datagrams = self.datagrams, []
        return got

    def close(self):
        self.running = False
        self.thread.join(2)
        self.sock.close()
        if self.own_dev_log:
            try:
                os.unlink(DEV_LOG)
            except FileNotFoundError:
                pass


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
    the syslog channel's recorder owns), no plugins, no web server or metrics."""
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
    }


def which(tool):
    return shutil.which(tool)
