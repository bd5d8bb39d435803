/* The host's SIGUSR1 handler calls falco_outputs_reopen (Falco's way of supporting logrotate).
 * One thread emits alerts while the main thread, several times, renames the file and sends
 * itself SIGUSR1. Afterwards: the handler ran once per signal, on a host thread (the library's
 * threads block the signal); the process lives; every alert is in exactly one file; an alert
 * emitted after a handler's reopen returned is in a file opened by that reopen or a later one.
 *
 * Usage: test_sigusr1 [alerts]   (default 100000; valgrind runs use fewer) */
#include "falco_outputs.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>

#include "test_util.h"

#define ROTATIONS 5

static falco_outputs *g_handle;
static atomic_int g_handled;       /* handler runs */
static atomic_long g_handler_tid;  /* the thread the handler last ran on */
static atomic_int g_gen;           /* rotations whose reopen has returned */
static atomic_int g_emitter_done;
static atomic_long g_emitter_tid;
static size_t g_alerts;
static unsigned char *g_gen_of;    /* per id: g_gen seen just before its emit */

static void on_sigusr1(int sig) {
  (void)sig;
  int saved = errno;
  falco_outputs_reopen(g_handle);
  atomic_store(&g_handler_tid, (long)syscall(SYS_gettid));
  atomic_fetch_add(&g_handled, 1);
  errno = saved;
}

static void *emitter(void *arg) {
  (void)arg;
  atomic_store(&g_emitter_tid, (long)syscall(SYS_gettid));
  char msg[64];
  falco_alert a;
  memset(&a, 0, sizeof a);
  a.time_ns = UINT64_C(1470327477881781397);
  a.priority = FALCO_PRIORITY_NOTICE;
  a.rule = "Tick";
  a.message = msg;
  /* The emitter runs while the main thread rotates, at most one rotation ahead of it; the last
   * stretch waits for the last rotation, so every file, the final one too, gets alerts. */
  size_t next_k = 1;
  const size_t last_stretch = g_alerts - g_alerts / (2 * (ROTATIONS + 1));
  for (size_t id = 0; id < g_alerts; id++) {
    if (next_k <= ROTATIONS && id == g_alerts * next_k / (ROTATIONS + 1)) {
      while (atomic_load(&g_gen) < (int)next_k - 1) usleep(50);
      next_k++;
    }
    if (id == last_stretch)
      while (atomic_load(&g_gen) < ROTATIONS) usleep(50);
    int gen = atomic_load(&g_gen);
    snprintf(msg, sizeof msg, "tick id=%zu", id);
    falco_outputs_result rc = falco_outputs_emit(g_handle, &a);
    if (rc != FALCO_OUTPUTS_OK) FATAL("emit: %s", falco_outputs_result_str(rc));
    g_gen_of[id] = (unsigned char)gen;
  }
  atomic_store(&g_emitter_done, 1);
  return NULL;
}

int main(int argc, char **argv) {
  g_alerts = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
  if (g_alerts < 10) FATAL("alerts must be at least 10");
  setenv("TZ", "UTC", 1);
  char *dir = tu_tmpdir("sigusr1");
  char *path = tu_path(dir, "events.txt");
  char *yaml = NULL;
  if (asprintf(&yaml,
               "stdout_output: {enabled: false}\n"
               "syslog_output: {enabled: false}\n"
               "time_format_iso_8601: true\n"
               "outputs_queue: {capacity: 0}\n"
               "file_output: {enabled: true, keep_alive: true, filename: '%s'}\n",
               path) < 0)
    FATAL("asprintf");
  falco_outputs_options opts;
  memset(&opts, 0, sizeof opts);
  opts.config_yaml = yaml;
  char err[512] = "";
  falco_outputs_result rc = falco_outputs_init(&opts, &g_handle, err, sizeof err);
  if (rc != FALCO_OUTPUTS_OK) FATAL("init: %s: %s", falco_outputs_result_str(rc), err);

  /* Installed after init, as Falco does: the library's threads already exist. */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigusr1;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  if (sigaction(SIGUSR1, &sa, NULL) != 0) FATAL("sigaction");

  g_gen_of = calloc(g_alerts, 1);
  pthread_t th;
  if (pthread_create(&th, NULL, emitter, NULL) != 0) FATAL("pthread_create");

  const long main_tid = (long)syscall(SYS_gettid);
  int rotations = 0;
  uint64_t accepted_at_reopen = 0;
  for (int k = 1; k <= ROTATIONS; k++) {
    /* Let the emitter get further (at least one alert after the last reopen: the reopened file
     * is created by its first alert), then make sure the current file has its lines. */
    size_t target = g_alerts * (size_t)k / (ROTATIONS + 1);
    for (;;) {
      falco_outputs_stats st;
      falco_outputs_get_stats(g_handle, &st);
      if ((st.accepted >= target && st.accepted > accepted_at_reopen) ||
          atomic_load(&g_emitter_done))
        break;
      usleep(200);
    }
    CHECK_RC(falco_outputs_flush(g_handle, 30000), FALCO_OUTPUTS_OK);
    char *to = NULL;
    if (asprintf(&to, "%s.%d", path, k) < 0) FATAL("asprintf");
    CHECK_MSG(rename(path, to) == 0, "rename %s: %s", to, strerror(errno));
    free(to);
    int before = atomic_load(&g_handled);
    CHECK(kill(getpid(), SIGUSR1) == 0);
    while (atomic_load(&g_handled) == before) usleep(50);
    long tid = atomic_load(&g_handler_tid);
    CHECK_MSG(tid == main_tid || tid == atomic_load(&g_emitter_tid),
              "SIGUSR1 handler ran on thread %ld, a library thread (main %ld)", tid, main_tid);
    atomic_store(&g_gen, k);
    falco_outputs_stats st;
    falco_outputs_get_stats(g_handle, &st);
    accepted_at_reopen = st.accepted;
    rotations++;
  }
  pthread_join(th, NULL);
  CHECK_RC(falco_outputs_close(g_handle, 30000), FALCO_OUTPUTS_OK);
  CHECK_MSG(atomic_load(&g_handled) == ROTATIONS, "handler ran %d times, want %d",
            atomic_load(&g_handled), ROTATIONS);

  /* File index: events.txt.k holds what was written before reopen k (index k-1); events.txt
   * what came after the last one (index ROTATIONS). */
  unsigned char *where = malloc(g_alerts);
  memset(where, 0xFF, g_alerts);
  size_t bad = 0, dups = 0, misplaced = 0, missing = 0, total_lines = 0;
  for (int idx = 0; idx <= rotations; idx++) {
    char *file = NULL;
    if (idx < rotations) {
      if (asprintf(&file, "%s.%d", path, idx + 1) < 0) FATAL("asprintf");
    } else {
      file = strdup(path);
    }
    size_t len;
    char *buf = tu_read_file(file, &len);
    CHECK_MSG(buf != NULL, "cannot read %s", file);
    if (buf == NULL) {
      free(file);
      continue;
    }
    char **lines;
    int unterminated;
    size_t n = tu_split_lines(buf, len, &lines, &unterminated);
    CHECK_MSG(!unterminated, "%s: last line cut", file);
    if (idx < rotations) CHECK_MSG(n > 0, "%s is empty", file);
    fprintf(stderr, "%s: %zu lines\n", file, n);
    total_lines += n;
    static const char prefix[] = "2016-08-04T16:17:57.881781397+0000: Notice tick id=";
    for (size_t i = 0; i < n; i++) {
      char *end = NULL;
      unsigned long long id = 0;
      if (strncmp(lines[i], prefix, sizeof prefix - 1) == 0)
        id = strtoull(lines[i] + sizeof prefix - 1, &end, 10);
      if (end == NULL || *end != '\0' || id >= g_alerts) {
        if (bad++ < 5) fprintf(stderr, "  malformed line in %s: %.200s\n", file, lines[i]);
        continue;
      }
      if (where[id] != 0xFF) {
        if (dups++ < 5) fprintf(stderr, "  id %llu written twice\n", id);
        continue;
      }
      where[id] = (unsigned char)idx;
      if (idx < g_gen_of[id] && misplaced++ < 5)
        fprintf(stderr, "  id %llu emitted after reopen %d returned, found in %s\n", id,
                g_gen_of[id], file);
    }
    free(lines);
    free(buf);
    free(file);
  }
  for (size_t id = 0; id < g_alerts; id++)
    if (where[id] == 0xFF && missing++ < 5) fprintf(stderr, "  id %zu missing\n", id);
  CHECK_MSG(total_lines == g_alerts, "%zu lines in all, want %zu", total_lines, g_alerts);
  CHECK_MSG(bad == 0, "%zu malformed lines", bad);
  CHECK_MSG(dups == 0, "%zu duplicates", dups);
  CHECK_MSG(missing == 0, "%zu missing", missing);
  CHECK_MSG(misplaced == 0, "%zu alerts in a file older than their reopen", misplaced);

  free(where);
  free(g_gen_of);
  tu_rmdir(dir);
  free(yaml);
  free(path);
  free(dir);
  return tu_finish("test_sigusr1");
}
