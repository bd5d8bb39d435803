/* The syslog channel through the C header: a host that never called openlog() gets syslog(3)'s
 * bytes on the socket it configured, one datagram per alert, severity = priority, the facility
 * from a -o override, its own program name as the tag; and an absent daemon is counted, never
 * fatal. The receiving socket is a datagram socket this test binds, so the exact bytes are
 * checked (the Rust tests check what a real rsyslogd stores). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "falco_outputs.h"

#include "test_util.h"

static int warnings = 0;
static void on_log(void *userdata, int32_t level, const char *message) {
  (void)userdata;
  if (level <= 4) __atomic_add_fetch(&warnings, 1, __ATOMIC_RELAXED);
  fprintf(stderr, "log[%d]: %s\n", level, message);
}

static const char *names[8] = {"Emergency", "Alert", "Critical", "Error",
                               "Warning", "Notice", "Informational", "Debug"};

/* 2017-10-09T23:31:56.746609046Z */
static const uint64_t T = 1507591916746609046ULL;

static struct falco_outputs *open_with(const char *address, const char *facility_override) {
  char yaml[512];
  snprintf(yaml, sizeof yaml,
           "stdout_output: {enabled: false}\n"
           "syslog_output: {enabled: true, address: \"unix://%s\"}\n",
           address);
  const char *overrides[1] = {facility_override};
  struct falco_outputs_options opts;
  memset(&opts, 0, sizeof opts);
  opts.config_yaml = yaml;
  opts.overrides = overrides;
  opts.overrides_len = facility_override ? 1 : 0;
  opts.log_fn = on_log;
  struct falco_outputs *out = NULL;
  char err[256] = "";
  falco_outputs_result r = falco_outputs_init(&opts, &out, err, sizeof err);
  CHECK_MSG(r == FALCO_OUTPUTS_OK && out != NULL, "init: %d %s", (int)r, err);
  return out;
}

static void emit_each_priority(struct falco_outputs *out) {
  for (int p = 0; p < 8; p++) {
    char msg[64];
    snprintf(msg, sizeof msg, "c test #%d (user=root)", p);
    struct falco_alert a;
    memset(&a, 0, sizeof a);
    a.time_ns = T;
    a.priority = p;
    a.rule = "C test";
    a.source = "syscall";
    a.message = msg;
    falco_outputs_result r = falco_outputs_emit(out, &a);
    CHECK_MSG(r == FALCO_OUTPUTS_OK, "emit %d: %d", p, (int)r);
  }
}

static void test_bytes_on_the_socket(const char *dir) {
  char path[256];
  snprintf(path, sizeof path, "%s/log.sock", dir);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  CHECK_MSG(strlen(path) < sizeof sa.sun_path, "socket path too long: %s", path);
  memcpy(sa.sun_path, path, strlen(path) + 1);
  CHECK_MSG(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "bind %s: %s", path, strerror(errno));
  struct timeval tv = {5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

  /* local3 = 19 */
  struct falco_outputs *out = open_with(path, "syslog_output.facility=local3");
  if (!out) return;
  emit_each_priority(out);
  CHECK_MSG(falco_outputs_flush(out, 5000) == FALCO_OUTPUTS_OK, "flush");

  for (int p = 0; p < 8; p++) {
    char buf[1024];
    ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
    CHECK_MSG(n > 0, "recv #%d: %s", p, strerror(errno));
    if (n <= 0) break;
    buf[n] = '\0';
    char want[512];
    /* glibc's syslog(3) without openlog: "<PRI>Mmm dd hh:mm:ss TAG: MSG", TAG = the program's
     * short name, no [pid], no newline; MSG = Falco's text line. */
    snprintf(want, sizeof want, "<%d>Oct  9 23:31:56 %s: 23:31:56.746609046: %s c test #%d (user=root)",
             19 * 8 + p, program_invocation_short_name, names[p], p);
    CHECK_MSG(strcmp(buf, want) == 0, "\n got: %s\nwant: %s", buf, want);
  }

  struct falco_outputs_stats st;
  CHECK_MSG(falco_outputs_get_stats(out, &st) == FALCO_OUTPUTS_OK, "stats");
  CHECK_MSG(st.delivered == 8 && st.failed == 0, "delivered %llu failed %llu",
        (unsigned long long)st.delivered, (unsigned long long)st.failed);
  CHECK_MSG(falco_outputs_close(out, 2000) == FALCO_OUTPUTS_OK, "close");
  close(fd);
  unlink(path);
}

static void test_absent_daemon_is_counted(const char *dir) {
  char path[256];
  snprintf(path, sizeof path, "%s/nobody-here.sock", dir);
  warnings = 0;
  struct falco_outputs *out = open_with(path, NULL);
  if (!out) return;
  emit_each_priority(out);
  CHECK_MSG(falco_outputs_flush(out, 5000) == FALCO_OUTPUTS_OK, "flush");
  struct falco_outputs_stats st;
  CHECK_MSG(falco_outputs_get_stats(out, &st) == FALCO_OUTPUTS_OK, "stats");
  CHECK_MSG(st.delivered == 0 && st.failed == 8, "delivered %llu failed %llu",
        (unsigned long long)st.delivered, (unsigned long long)st.failed);
  /* One warning at init (no socket there), one error for the outage: not one per alert. */
  int seen = __atomic_load_n(&warnings, __ATOMIC_RELAXED);
  CHECK_MSG(seen == 2, "warnings: %d", seen);
  CHECK_MSG(falco_outputs_close(out, 2000) == FALCO_OUTPUTS_OK, "close");
}

int main(void) {
  setenv("TZ", "UTC", 1);
  char dir[] = "/tmp/fo-c-syslog-XXXXXX";
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  test_bytes_on_the_socket(dir);
  test_absent_daemon_is_counted(dir);
  rmdir(dir);
  if (tu_failures) {
    fprintf(stderr, "test_syslog: %d failure(s)\n", tu_failures);
    return 1;
  }
  printf("test_syslog: ok\n");
  return 0;
}
