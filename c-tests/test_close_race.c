/* falco_outputs_close racing the other calls (issue 9, point 6).
 *
 * Each round opens a JSON file channel; four threads call the library in a loop (two emit, one
 * flush, one reopen + get_stats + stats_json) while the main thread closes the handle after a
 * short, varying pause (every fourth round with a 1 ms deadline, so that close also discards).
 * A thread stops once one of its calls returned FALCO_OUTPUTS_ERR_CLOSED, then calls once more
 * (racing close's return, or after it). After close returned, every call on the closed handle
 * must answer ERR_CLOSED (stats_json 0, close ERR_CLOSED again).
 *
 * Checked per round: alerts emit returned OK for = lines in the round's file + alerts close
 * reported as discarded (its log line). When close's deadline passes while a worker is inside
 * a write (seen under valgrind), close leaves it behind and reports how many alerts it holds;
 * those are written if the write completes, so then lines + discarded <= OK <= lines +
 * discarded + held. Each round has its own file, read three rounds later (a worker left
 * behind may still be finishing its write). No call may return anything but OK / ERR_CLOSED
 * (flush: also ERR_TIMEOUT). Under valgrind: no invalid read or write (the bug was close
 * copying the handle off the heap while emit kept using, then iterating, freed memory).
 *
 * Usage: test_close_race [rounds]   (default 1000) */
#include "falco_outputs.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "test_util.h"

static falco_outputs *g_h;
static atomic_ullong g_ok;            /* emits that returned OK, this round */
static atomic_ullong g_discarded;     /* alerts close's log line reported as discarded */
static atomic_ullong g_held;          /* alerts a worker left behind by close still held */
static atomic_ullong g_unexpected;    /* calls that returned something they must not */
static atomic_int g_closed_calls;     /* threads that saw ERR_CLOSED */

/* The decimal number that ends just before `end`. */
static unsigned long long number_before(const char *start, const char *end) {
  const char *q = end;
  while (q > start && q[-1] >= '0' && q[-1] <= '9') q--;
  return strtoull(q, NULL, 10);
}

static void log_fn(void *ud, int32_t level, const char *msg) {
  (void)ud;
  (void)level;
  /* "... deadline of 1 ms passed; N alerts discarded[; the worker ... holding M alerts]" */
  const char *p = strstr(msg, " alerts discarded");
  if (p != NULL) atomic_fetch_add(&g_discarded, number_before(msg, p));
  const char *h = strstr(msg, "holding ");
  if (h != NULL && (p = strstr(h, " alerts")) != NULL) atomic_fetch_add(&g_held, number_before(msg, p));
}

static void unexpected(const char *call, int rc) {
  if (atomic_fetch_add(&g_unexpected, 1) < 5)
    fprintf(stderr, "  %s returned %d (%s)\n", call, rc,
            falco_outputs_result_str((falco_outputs_result)rc));
}

static void *emitter(void *arg) {
  (void)arg;
  falco_field f[] = {{"proc.name", "cat", FALCO_FIELD_STRING},
                     {"proc.pid", "42", FALCO_FIELD_NUMBER}};
  const char *tags[] = {"race"};
  falco_alert a = {.time_ns = UINT64_C(1470327477881781397),
                   .priority = FALCO_PRIORITY_WARNING,
                   .rule = "Race",
                   .message = "close racing emit",
                   .fields = f,
                   .fields_len = 2,
                   .tags = tags,
                   .tags_len = 1};
  for (unsigned long long mine = 0;;) {
    int rc = falco_outputs_emit(g_h, &a);
    if (rc == FALCO_OUTPUTS_OK) {
      atomic_fetch_add(&g_ok, 1);
      /* A few thousand at full speed, then paced: a round stays short, and close meets both
       * a backlog and calls arriving while it runs. */
      if (++mine > 200) usleep(20);
    } else if (rc == FALCO_OUTPUTS_ERR_CLOSED) {
      break;
    } else {
      unexpected("emit", rc);
      break;
    }
  }
  atomic_fetch_add(&g_closed_calls, 1);
  int rc = falco_outputs_emit(g_h, &a);
  if (rc != FALCO_OUTPUTS_ERR_CLOSED) unexpected("emit after ERR_CLOSED", rc);
  return NULL;
}

static void *flusher(void *arg) {
  (void)arg;
  for (;;) {
    int rc = falco_outputs_flush(g_h, 200);
    if (rc == FALCO_OUTPUTS_ERR_CLOSED) break;
    if (rc != FALCO_OUTPUTS_OK && rc != FALCO_OUTPUTS_ERR_TIMEOUT) {
      unexpected("flush", rc);
      break;
    }
  }
  atomic_fetch_add(&g_closed_calls, 1);
  int rc = falco_outputs_flush(g_h, 200);
  if (rc != FALCO_OUTPUTS_ERR_CLOSED) unexpected("flush after ERR_CLOSED", rc);
  return NULL;
}

static void *reopener(void *arg) {
  (void)arg;
  char js[2048];
  for (;;) {
    falco_outputs_reopen(g_h);
    falco_outputs_stats st;
    int rc = falco_outputs_get_stats(g_h, &st);
    if (rc == FALCO_OUTPUTS_ERR_CLOSED) break;
    if (rc != FALCO_OUTPUTS_OK) {
      unexpected("get_stats", rc);
      break;
    }
    size_t n = falco_outputs_stats_json(g_h, js, sizeof js);
    if (n != 0 && strncmp(js, "{\"accepted\":", 12) != 0) unexpected("stats_json", (int)n);
  }
  atomic_fetch_add(&g_closed_calls, 1);
  falco_outputs_reopen(g_h);
  if (falco_outputs_stats_json(g_h, js, sizeof js) != 0) unexpected("stats_json after close", 0);
  return NULL;
}

/* What one round left to check. */
struct round_result {
  char *path;
  unsigned long long ok, discarded, held;
};

#define LAG 3 /* rounds between a round's close and the reading of its file */

static unsigned long long g_total_ok, g_total_lines, g_total_discarded, g_total_held;
static unsigned g_bad_rounds;

static void check_round(unsigned round, struct round_result *r) {
  size_t len;
  char *buf = tu_read_file(r->path, &len);
  unsigned long long lines = 0;
  for (size_t i = 0; i < len; i++) lines += buf != NULL && buf[i] == '\n';
  int torn = len > 0 && buf[len - 1] != '\n';
  if (lines + r->discarded > r->ok || r->ok > lines + r->discarded + r->held || torn) {
    if (g_bad_rounds++ < 5)
      fprintf(stderr,
              "  round %u: emit OK %llu, lines in the file %llu, discarded %llu, held by a "
              "worker left behind %llu%s\n",
              round, r->ok, lines, r->discarded, r->held, torn ? ", last line torn" : "");
  }
  free(buf);
  unlink(r->path);
  free(r->path);
  g_total_ok += r->ok;
  g_total_lines += lines;
  g_total_discarded += r->discarded;
  g_total_held += r->held;
}

int main(int argc, char **argv) {
  unsigned rounds = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 1000;
  char *dir = tu_tmpdir("close-race");
  struct round_result results[LAG] = {{0}};
  unsigned long long timeouts = 0;
  srand(12345);
  for (unsigned round = 0; round < rounds + LAG; round++) {
    struct round_result *slot = &results[round % LAG];
    if (round >= LAG) check_round(round - LAG, slot);
    if (round >= rounds) continue;
    char name[32];
    snprintf(name, sizeof name, "round-%u.json", round);
    slot->path = tu_path(dir, name);
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "json_output: true\nstdout_output: {enabled: false}\n"
             "file_output: {enabled: true, keep_alive: true, filename: \"%s\"}\n",
             slot->path);
    atomic_store(&g_ok, 0);
    atomic_store(&g_discarded, 0);
    atomic_store(&g_held, 0);
    atomic_store(&g_closed_calls, 0);
    falco_outputs_options opts = {.config_yaml = yaml, .hostname = "race", .log_fn = log_fn};
    char err[256] = "";
    g_h = NULL;
    int rc = falco_outputs_init(&opts, &g_h, err, sizeof err);
    if (rc != FALCO_OUTPUTS_OK) FATAL("init: %s", err);

    pthread_t t[4];
    void *(*roles[4])(void *) = {emitter, emitter, flusher, reopener};
    for (int i = 0; i < 4; i++)
      if (pthread_create(&t[i], NULL, roles[i], NULL) != 0) FATAL("pthread_create");
    /* Close at a varying point: after 0..70 accepted alerts, then 0..499 µs. */
    unsigned long long want = (round % 8) * 10;
    while (atomic_load(&g_ok) < want) sched_yield();
    struct timespec pause = {0, (long)(rand() % 500) * 1000};
    nanosleep(&pause, NULL);
    uint32_t timeout_ms = round % 4 == 3 ? 1 : 0;
    rc = falco_outputs_close(g_h, timeout_ms);
    if (rc == FALCO_OUTPUTS_ERR_TIMEOUT) timeouts++;
    else if (rc != FALCO_OUTPUTS_OK) unexpected("close", rc);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);

    /* The closed handle keeps answering. */
    falco_outputs_stats st;
    CHECK_RC(falco_outputs_get_stats(g_h, &st), FALCO_OUTPUTS_ERR_CLOSED);
    CHECK_RC(falco_outputs_flush(g_h, 10), FALCO_OUTPUTS_ERR_CLOSED);
    CHECK_RC(falco_outputs_close(g_h, 10), FALCO_OUTPUTS_ERR_CLOSED);
    CHECK(atomic_load(&g_closed_calls) == 4);
    slot->ok = atomic_load(&g_ok);
    slot->discarded = atomic_load(&g_discarded);
    slot->held = atomic_load(&g_held);
  }
  fprintf(stderr,
          "test_close_race: %u rounds: emit OK %llu; lines %llu + discarded %llu (held by "
          "workers left behind: %llu); close deadline passed in %llu rounds\n",
          rounds, g_total_ok, g_total_lines, g_total_discarded, g_total_held, timeouts);
  CHECK_MSG(g_bad_rounds == 0, "%u rounds lost or invented alerts", g_bad_rounds);
  CHECK_MSG(atomic_load(&g_unexpected) == 0, "%llu unexpected results",
            (unsigned long long)atomic_load(&g_unexpected));
  tu_rmdir(dir);
  free(dir);
  return tu_finish("test_close_race");
}
