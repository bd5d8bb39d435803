/* Four engine threads emit 250,000 alerts each (ids 0..999,999 in a NUMBER field) into a
 * keep_alive JSON file; in the middle the main thread renames the file and calls reopen, as
 * logrotate would. After close, the two files hold every id exactly once, each on a well-formed
 * JSON line; every alert a thread emitted after reopen had returned is in the new file.
 *
 * Usage: test_threads_rotate [alerts_per_thread]   (default 250000; valgrind runs use fewer) */
#include "falco_outputs.h"

#include <pthread.h>
#include <stdatomic.h>

#include "test_util.h"

#define THREADS 4

static falco_outputs *g_h;
static size_t g_per_thread;
static atomic_int g_rotated;            /* set by main after reopen returned */
static atomic_int g_at_half;            /* threads that reached half their alerts */
static unsigned char *g_after_reopen;   /* per id: emitted after reopen returned */
static atomic_ullong g_emit_errors;

static void *emitter(void *arg) {
  size_t t = (size_t)(uintptr_t)arg;
  char id_text[32];
  falco_field f[] = {{"id", id_text, FALCO_FIELD_NUMBER},
                     {"proc.name", "cat", FALCO_FIELD_STRING}};
  const char *tags[] = {"load"};
  falco_alert a;
  memset(&a, 0, sizeof a);
  a.time_ns = UINT64_C(1470327477881781397);
  a.priority = FALCO_PRIORITY_NOTICE;
  a.rule = "Load";
  a.message = "load test";
  a.fields = f;
  a.fields_len = 2;
  a.tags = tags;
  a.tags_len = 1;
  for (size_t i = 0; i < g_per_thread; i++) {
    if (i == g_per_thread / 2) {
      /* Hold at half way until the rotation happened, so both files get alerts. */
      atomic_fetch_add(&g_at_half, 1);
      while (!atomic_load(&g_rotated)) usleep(100);
    }
    size_t id = t * g_per_thread + i;
    int after = atomic_load(&g_rotated);
    snprintf(id_text, sizeof id_text, "%zu", id);
    if (falco_outputs_emit(g_h, &a) != FALCO_OUTPUTS_OK) atomic_fetch_add(&g_emit_errors, 1);
    g_after_reopen[id] = (unsigned char)after;
  }
  return NULL;
}

/* Checks one file's lines: well-formed, ids in range, marks seen[id] with file_no.
 * Returns the number of lines. */
static size_t scan_file(const char *path, unsigned char *seen, unsigned char file_no,
                        size_t total, size_t *bad, size_t *dups) {
  size_t len;
  char *buf = tu_read_file(path, &len);
  CHECK_MSG(buf != NULL, "cannot read %s", path);
  if (buf == NULL) return 0;
  CHECK_MSG(len == 0 || buf[len - 1] == '\n', "%s does not end with a newline", path);
  size_t lines = 0;
  char *p = buf, *end = buf + len;
  while (p < end) {
    char *nl = memchr(p, '\n', (size_t)(end - p));
    if (nl == NULL) nl = end;
    *nl = '\0';
    lines++;
    static const char head[] = "{\"hostname\":";
    static const char key[] = "\"id\":";
    char *k = strstr(p, key);
    if (strncmp(p, head, sizeof head - 1) != 0 || nl == p || nl[-1] != '}' || k == NULL) {
      if ((*bad)++ < 5) fprintf(stderr, "  malformed line in %s: %.200s\n", path, p);
    } else {
      k += sizeof key - 1;
      if (*k == '"') k++; /* tolerate a string id */
      char *num_end;
      unsigned long long id = strtoull(k, &num_end, 10);
      if (num_end == k || id >= total) {
        if ((*bad)++ < 5) fprintf(stderr, "  bad id in %s: %.200s\n", path, p);
      } else if (seen[id]) {
        if ((*dups)++ < 5) fprintf(stderr, "  id %llu written twice\n", id);
      } else {
        seen[id] = file_no;
      }
    }
    p = nl + 1;
  }
  free(buf);
  return lines;
}

int main(int argc, char **argv) {
  g_per_thread = argc > 1 ? strtoul(argv[1], NULL, 10) : 250000;
  if (g_per_thread < 2) FATAL("alerts_per_thread must be at least 2");
  const size_t total = g_per_thread * THREADS;
  setenv("TZ", "UTC", 1);

  char *dir = tu_tmpdir("rotate");
  char *path = tu_path(dir, "events.json");
  char *rotated = tu_path(dir, "events.json.1");
  char *yaml = NULL;
  if (asprintf(&yaml,
               "stdout_output: {enabled: false}\n"
               "syslog_output: {enabled: false}\n"
               "json_output: true\n"
               "outputs_queue: {capacity: 0}\n"
               "file_output: {enabled: true, keep_alive: true, filename: '%s'}\n",
               path) < 0)
    FATAL("asprintf");
  falco_outputs_options opts;
  memset(&opts, 0, sizeof opts);
  opts.config_yaml = yaml;
  opts.hostname = "load-host";
  char err[512] = "";
  falco_outputs_result rc = falco_outputs_init(&opts, &g_h, err, sizeof err);
  if (rc != FALCO_OUTPUTS_OK) FATAL("init: %s: %s", falco_outputs_result_str(rc), err);

  g_after_reopen = calloc(total, 1);
  pthread_t th[THREADS];
  for (size_t t = 0; t < THREADS; t++)
    if (pthread_create(&th[t], NULL, emitter, (void *)(uintptr_t)t) != 0) FATAL("pthread_create");

  /* Rotate while the threads are emitting: wait until at least one thread is half way (the
   * others are still going) and some lines reached the file, then rename + reopen. */
  for (;;) {
    falco_outputs_stats now;
    if (falco_outputs_get_stats(g_h, &now) != FALCO_OUTPUTS_OK) FATAL("get_stats");
    if (atomic_load(&g_at_half) > 0 && now.delivered > 0) break;
    usleep(100);
  }
  CHECK_MSG(rename(path, rotated) == 0, "rename: %s", strerror(errno));
  falco_outputs_reopen(g_h);
  atomic_store(&g_rotated, 1);

  for (size_t t = 0; t < THREADS; t++) pthread_join(th[t], NULL);
  CHECK_MSG(atomic_load(&g_emit_errors) == 0, "%llu emits failed",
            (unsigned long long)atomic_load(&g_emit_errors));

  CHECK_RC(falco_outputs_flush(g_h, 60000), FALCO_OUTPUTS_OK);
  falco_outputs_stats st;
  CHECK_RC(falco_outputs_get_stats(g_h, &st), FALCO_OUTPUTS_OK);
  CHECK_MSG(st.accepted == total, "accepted %" PRIu64 ", want %zu", st.accepted, total);
  CHECK_MSG(st.delivered == total, "delivered %" PRIu64 ", want %zu", st.delivered, total);
  CHECK_MSG(st.dropped == 0, "dropped %" PRIu64, st.dropped);
  CHECK_MSG(st.failed == 0, "failed %" PRIu64, st.failed);
  CHECK_RC(falco_outputs_close(g_h, 60000), FALCO_OUTPUTS_OK);

  /* seen[id]: 0 = missing, 1 = in the rotated file, 2 = in the new file. */
  unsigned char *seen = calloc(total, 1);
  size_t bad = 0, dups = 0;
  size_t n_old = scan_file(rotated, seen, 1, total, &bad, &dups);
  size_t n_new = scan_file(path, seen, 2, total, &bad, &dups);
  size_t missing = 0, misplaced = 0, after = 0;
  for (size_t id = 0; id < total; id++) {
    if (seen[id] == 0 && missing++ < 5) fprintf(stderr, "  id %zu missing\n", id);
    if (g_after_reopen[id]) {
      after++;
      if (seen[id] == 1 && misplaced++ < 5)
        fprintf(stderr, "  id %zu emitted after reopen returned, found in the rotated file\n", id);
    }
  }
  fprintf(stderr, "rotated file: %zu lines, new file: %zu lines, %zu emitted after reopen\n",
          n_old, n_new, after);
  CHECK_MSG(n_old + n_new == total, "%zu lines in all, want %zu", n_old + n_new, total);
  CHECK_MSG(bad == 0, "%zu malformed lines", bad);
  CHECK_MSG(dups == 0, "%zu duplicated ids", dups);
  CHECK_MSG(missing == 0, "%zu ids missing", missing);
  CHECK_MSG(misplaced == 0, "%zu post-reopen alerts in the rotated file", misplaced);
  CHECK_MSG(n_old > 0, "the rotated file is empty");
  CHECK_MSG(after >= total / 2, "only %zu alerts emitted after the reopen", after);

  free(seen);
  free(g_after_reopen);
  tu_rmdir(dir);
  free(yaml);
  free(rotated);
  free(path);
  free(dir);
  return tu_finish("test_threads_rotate");
}
